"""`alignbench serve-judge`: the local OpenAI-compatible judge server's port, limits and signals."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from judge_fixtures import alpaca_and_jsonl, free_port
from repo_fixtures import ENV, REPO

import alignbench
from alignbench.evaluation.local_server import JudgeServer, ScriptedJudge, prefer_longer

JUDGE = str(REPO / "judges" / "local-scripted.yaml")


def test_serve_judge_serves_on_the_yaml_port_by_default_and_stops_on_ctrl_c(tmp_path):
    """The YAML's base_url port is serve-judge's default; the server answers a real judge run and
    stops on SIGINT (Ctrl-C) with exit code 0."""
    import yaml

    from alignbench.cli import _parser

    yaml_port = int(re.search(r":(\d+)/", yaml.safe_load(Path(JUDGE).read_text())["base_url"]).group(1))
    serve_parser = _parser()._subparsers._group_actions[0].choices["serve-judge"]
    assert serve_parser.get_default("port") == yaml_port == 8765

    port = free_port()  # not 8765: tests run beside other sessions
    proc = subprocess.Popen([sys.executable, "-m", "alignbench", "serve-judge", "--port", str(port), "--time-limit",
                             "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=tmp_path)
    try:
        url = proc.stdout.readline().strip()
        assert url == f"http://127.0.0.1:{port}/v1"
        alpaca_and_jsonl(tmp_path, n=6)
        rows = alignbench.judge(tmp_path / "m.jsonl", tmp_path / "r.jsonl", JUDGE, tmp_path / "out", base_url=url)
        assert rows[0]["n_prompts"] == 6
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)  # 10 s was not enough twice on a 2-core machine at load 5
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"serve-judge still running 30 s after SIGINT; its stderr: {proc.stderr.read()[-2000:]}")
        assert code == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "stopped" in proc.stderr.read()


@pytest.mark.parametrize("entry", [["alignbench", "serve-judge"], ["alignbench.evaluation.local_server"]])
def test_serve_judge_stops_at_its_time_limit(tmp_path, entry):
    """Both entry points serve (the module used to exit doing nothing) and stop by themselves."""
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", *entry, "--port", str(free_port()), "--time-limit", "1"],
                         capture_output=True, text=True, env=ENV, timeout=30)
    assert res.returncode == 0 and res.stdout.startswith("http://127.0.0.1:")
    assert time.monotonic() - t0 < 25


IGNORE_SIGINT_THEN_EXEC = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                           "os.execv(sys.executable, [sys.executable, '-m', 'alignbench', *sys.argv[1:]])")


def test_sigterm_stops_serve_judge_started_with_sigint_ignored(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", IGNORE_SIGINT_THEN_EXEC, "serve-judge", "--port", "0",
                             "--time-limit", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().startswith("http://127.0.0.1:")  # serving, SIGINT ignored (as `cmd &` leaves it)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) is not None
    finally:
        proc.kill()
        proc.wait()


def _raw(srv, data: bytes, read=True) -> bytes:

    host, port = srv._server.server_address[:2]
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(data)
        if not read:
            return b""
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not c:
                break
            chunks.append(c)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


def test_serve_judge_answers_bad_requests_and_bounds_bodies_threads_and_idle_connections(tmp_path, capfd):

    with JudgeServer(ScriptedJudge(prefer_longer), max_body_bytes=1000, idle_timeout_s=0.5, max_connections=4) as srv:
        post = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        assert _raw(srv, post + b"Content-Length: 9\r\n\r\n{not json").split(b" ")[1] == b"400"
        assert _raw(srv, post + b"Content-Length: banana\r\n\r\n").split(b" ")[1] == b"400"
        assert _raw(srv, post + b"Content-Length: 600000000\r\n\r\n").split(b" ")[1] == b"413"  # never read
        assert _raw(srv, post + b"Content-Length: 2\r\n\r\n[]").split(b" ")[1] == b"400"
        # Half-open connections: each is closed after the idle time-out; beyond max_connections, 503 at once.
        idle = [socket.create_connection(srv._server.server_address[:2]) for _ in range(4)]
        time.sleep(0.1)
        assert _raw(srv, post + b"Content-Length: 2\r\n\r\n{}").split(b" ")[1] == b"503"
        time.sleep(1.5)
        assert all(s.recv(10) == b"" for s in idle)  # closed by the server
        for s in idle:
            s.close()
        assert _raw(srv, post + b"Content-Length: 2\r\n\r\n{}").split(b" ")[1] == b"400"  # slots are free again
    assert "Traceback" not in capfd.readouterr().err


def test_injected_latency_runs_from_arrival_and_covers_the_servers_own_work():
    """``latency_s`` is the time from a request's arrival to its answer, as a remote judge's latency is: the
    server's own work (here a script that takes 0.2 s) happens inside it, not after it. Before, it was added:
    0.4 s of latency answered after ≥ 0.6 s. Never earlier than the latency."""
    import json
    import urllib.request

    def slow_script(prompt: str) -> str:
        time.sleep(0.2)
        return "[[A]]"

    with JudgeServer(slow_script, latency_s=0.4, deadline_s=60) as srv:
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]}).encode()
        times = []
        for _ in range(3):
            req = urllib.request.Request(f"{srv.base_url}/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
            t0 = time.monotonic()
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert json.loads(resp.read())["choices"][0]["message"]["content"] == "[[A]]"
            times.append(time.monotonic() - t0)
    print(f"answered after {', '.join(f'{t:.3f}' for t in times)} s")
    assert min(times) >= 0.4
    assert min(times) < 0.58
