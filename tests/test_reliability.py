"""Reliability of the evaluation path: injected judge faults, kill -9 and resume, bad input, secrets."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from alignbench.cli import main
from alignbench.evaluation import llm_judge
from alignbench.evaluation.judge_config import load_judge
from alignbench.evaluation.llm_judge import judge_pairs
from alignbench.evaluation.local_server import FaultPlan, JudgeServer, ScriptedJudge, prefer_longer
from alignbench.evaluation.outputs import OutputRecord, align_outputs, write_outputs
from alignbench.evaluation.store import JudgmentStore

REPO = Path(__file__).resolve().parents[1]


def make_pairs(n, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 40, size=n)
    m = [OutputRecord(str(i), f"prompt {i}", "m" * int(lengths[i]), "method") for i in range(n)]
    r = [OutputRecord(str(i), f"prompt {i}", "r" * 20, "reference") for i in range(n)]
    return m, r


def judge_yaml(tmp_path, base_url, **over) -> Path:
    cfg = yaml.safe_load((REPO / "judges" / "local-scripted.yaml").read_text())
    cfg.update({"base_url": base_url, "template": str(REPO / "judges" / "templates" / "pairwise.txt"), **over})
    path = tmp_path / f"judge-{abs(hash(base_url)) % 10**6}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(llm_judge, "BACKOFF_BASE", 0.01)
    monkeypatch.setattr(llm_judge, "BACKOFF_MAX", 0.2)


def test_thirty_percent_faults_record_every_judgment_once(tmp_path, fast_backoff):
    n = 500
    m, r = make_pairs(n)
    pairs = align_outputs(m, r)
    plan = FaultPlan(rate_limit=0.06, rate_limit_no_header=0.04, server_error=0.06, hang=0.03, drop=0.04, malformed=0.03,
                     no_verdict=0.02, truncated=0.02, hang_s=1.0, retry_after_s=0.01, seed=3)
    assert plan.total == pytest.approx(0.30)
    with JudgeServer(ScriptedJudge(prefer_longer), faults=plan, latency_jitter_s=0.01, deadline_s=300) as srv:
        judge = load_judge(str(judge_yaml(tmp_path, srv.base_url, timeout=0.5, max_retries=8, max_concurrency=32)))
        store = JudgmentStore(tmp_path / "faulty.jsonl")
        first, second, info, reqs = judge_pairs(pairs, judge, store, "method", "reference")
        faults = dict(srv.fault_counts)
    with JudgeServer(ScriptedJudge(prefer_longer)) as clean_srv:
        clean = load_judge(str(judge_yaml(tmp_path, clean_srv.base_url)))
        f0, s0, info0, _ = judge_pairs(pairs, clean, JudgmentStore(tmp_path / "clean.jsonl"), "method", "reference")

    lines = [json.loads(x) for x in (tmp_path / "faulty.jsonl").read_text().splitlines()]
    keys = [x["key"] for x in lines]
    expected = len({q.key for q in reqs})
    unparsed = sum(1 for x in lines if x["verdict"] is None)
    print(f"faults injected {sum(faults.values())} {faults}; judgments expected {expected}, recorded {len(keys)}, "
          f"duplicated {len(keys) - len(set(keys))}, permanent transport failures {len(info.failures)}, unparsed verdicts {unparsed}")
    assert len(keys) == len(set(keys))  # nothing judged twice
    assert len(keys) + len(info.failures) == expected  # nothing lost: recorded or reported
    assert sum(faults.values()) > 0.2 * srv.requests
    assert unparsed == faults.get("no_verdict", 0) + faults.get("truncated", 0)  # counted, never coerced
    same = ~np.isnan(first) & ~np.isnan(f0)
    assert np.array_equal(first[same], f0[same]) and np.array_equal(second[~np.isnan(second)], s0[~np.isnan(second)])
    # The leaderboard of the faulty run equals the clean one's once the unparsed prompts are left out of both.
    from alignbench.stats import combine_orders

    a, b = combine_orders(first, second), combine_orders(f0, s0)
    ok = ~np.isnan(first) & ~np.isnan(second)
    assert np.array_equal(a[ok], b[ok])


def _judge_cmd(tmp_path, judge_file):
    return [sys.executable, "-m", "alignbench", "judge", "--outputs", str(tmp_path / "m.jsonl"), "--reference",
            str(tmp_path / "r.jsonl"), "--judge", str(judge_file), "--out", str(tmp_path / "out"), "--quiet", "--bootstrap", "200"]


def test_kill_minus_nine_during_judging_twenty_times(tmp_path):
    n = 120
    m, r = make_pairs(n, seed=1)
    write_outputs(tmp_path / "m.jsonl", m)
    write_outputs(tmp_path / "r.jsonl", r)
    rng = random.Random(0)
    kills = 0
    # Latency keeps each process judging for seconds: the CLI now starts in well under a second (issue 19).
    with JudgeServer(ScriptedJudge(prefer_longer, position_bias=0.2), latency_s=0.15, deadline_s=300) as srv:
        jf = judge_yaml(tmp_path, srv.base_url, max_concurrency=4)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for _ in range(20):
            proc = subprocess.Popen(_judge_cmd(tmp_path, jf), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            time.sleep(rng.uniform(0.6, 1.6))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait()
        done = subprocess.run(_judge_cmd(tmp_path, jf), capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        served = srv.completions
    lines = [json.loads(x) for x in (tmp_path / "out" / "judgments.jsonl").read_text().splitlines()]
    keys = [x["key"] for x in lines]
    print(f"kills {kills}; judgments recorded {len(keys)} (expected {2 * n}); completions served {served}")
    assert kills >= 10
    assert len(keys) == len(set(keys)) == 2 * n
    # A clean, uninterrupted judging of the same outputs gives the same table.
    with JudgeServer(ScriptedJudge(prefer_longer, position_bias=0.2)) as srv2:
        jf2 = judge_yaml(tmp_path, srv2.base_url)
        cmd = _judge_cmd(tmp_path, jf2)
        cmd[cmd.index("--out") + 1] = str(tmp_path / "clean")
        subprocess.run(cmd, check=True, capture_output=True)
    rows = json.loads((tmp_path / "out" / "rows.json").read_text())
    clean = json.loads((tmp_path / "clean" / "rows.json").read_text())
    for k in ("win_rate", "ci_low", "ci_high", "wins", "ties", "losses", "consistency", "n_parse_failures"):
        assert rows[0][k] == clean[0][k], k


def test_api_key_never_written_and_requests_go_to_base_url(tmp_path, capsys, monkeypatch):
    secret = "sk-test-SECRET-0123456789abcdef"
    monkeypatch.setenv("ALIGNBENCH_TEST_KEY", secret)
    m, r = make_pairs(20)
    write_outputs(tmp_path / "m.jsonl", m)
    write_outputs(tmp_path / "r.jsonl", r)
    with JudgeServer(ScriptedJudge(prefer_longer), require_key=secret) as srv:
        jf = judge_yaml(tmp_path, srv.base_url, api_key_env="ALIGNBENCH_TEST_KEY")
        assert main(["judge", "--outputs", str(tmp_path / "m.jsonl"), "--reference", str(tmp_path / "r.jsonl"), "--judge", str(jf),
                     "--out", str(tmp_path / "out"), "--quiet"]) == 0
        assert main(["leaderboard", str(tmp_path / "out"), "--out", str(tmp_path / "lb" / "t.csv")]) == 0
        assert srv.completions == 40 and all(p == "/v1/chat/completions" for p in srv.seen_paths)
        # A wrong key: the error names the failure, never the key.
        monkeypatch.setenv("ALIGNBENCH_TEST_KEY", secret + "-wrong")
        assert main(["judge", "--outputs", str(tmp_path / "m.jsonl"), "--reference", str(tmp_path / "r.jsonl"), "--judge", str(jf),
                     "--out", str(tmp_path / "out2")]) == 2
    captured = capsys.readouterr()
    assert "every judgment of method failed" in captured.err and "AuthenticationError" in captured.err
    assert secret not in captured.out + captured.err
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".yaml":
            assert secret.encode() not in path.read_bytes(), path
    failures = (tmp_path / "out2" / "judgments.failures.jsonl").read_text()
    assert "AuthenticationError" in failures and "SECRET" not in failures


def test_missing_key_variable_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    m, r = make_pairs(2)
    write_outputs(tmp_path / "m.jsonl", m)
    write_outputs(tmp_path / "r.jsonl", r)
    jf = judge_yaml(tmp_path, "http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY_VAR")
    assert main(["judge", "--outputs", str(tmp_path / "m.jsonl"), "--reference", str(tmp_path / "r.jsonl"), "--judge", str(jf),
                 "--out", str(tmp_path / "out")]) == 2
    assert "environment variable NO_SUCH_KEY_VAR is not set" in capsys.readouterr().err


@pytest.mark.slow
def test_kill_minus_nine_during_run_twenty_times(tmp_path):
    """`alignbench run` killed at random points 20 times, then finished: same table as a clean run."""
    tiny = REPO / "tests" / "data" / "tiny.yaml"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def cmd(d):
        return [sys.executable, "-m", "alignbench", "run", str(tiny), "--run-dir", str(tmp_path / d), "--leaderboard-dir",
                str(tmp_path / f"lb-{d}"), "--quiet"]

    subprocess.run(cmd("clean"), check=True, capture_output=True, env=env)
    rng = random.Random(1)
    kills = 0
    for _ in range(20):
        proc = subprocess.Popen(cmd("killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(rng.uniform(2.0, 7.0))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    subprocess.run(cmd("killed"), check=True, capture_output=True, env=env)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "run_id"} for r in rows]  # noqa: E731
    a = json.loads((tmp_path / "clean" / "rows.json").read_text())
    b = json.loads((tmp_path / "killed" / "rows.json").read_text())
    print(f"run killed {kills} times, then resumed: identical table: {strip(a) == strip(b)}")
    assert kills >= 10
    assert strip(a) == strip(b)


# --- Hardening (issue 19) ---------------------------------------------------------------------------

class DripServer:
    """Answers 200 and its headers at once, then one body byte every ``interval_s`` (at most ``max_bytes``):
    a per-read time-out never fires. Binds 127.0.0.1 only; every loop is bounded."""

    def __init__(self, interval_s: float = 1.0, max_bytes: int = 30):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                owner.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(max_bytes + 10))
                self.end_headers()
                try:
                    for _ in range(max_bytes):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(interval_s)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        import threading

        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_timeout_bounds_the_whole_request_not_each_read(tmp_path):
    """Before: `timeout` was per read, so a server dripping a byte a second held a judgment ~30 s
    (indefinitely with a larger ``max_bytes``); now the attempt ends at ``timeout`` and says so."""
    pairs = align_outputs(*make_pairs(2))
    with DripServer(interval_s=0.5, max_bytes=60) as srv:
        judge = load_judge(str(judge_yaml(tmp_path, srv.base_url, timeout=1.5, max_retries=0)))
        t0 = time.monotonic()
        first, second, info, _ = judge_pairs(pairs, judge, JudgmentStore(tmp_path / "j.jsonl"), "method", "reference")
        elapsed = time.monotonic() - t0
    print(f"dripping server: {len(info.failures)} judgments failed after {elapsed:.1f}s")
    assert elapsed < 6 and len(info.failures) == 4
    assert all("setting 'timeout' bounds the whole request" in f["error"] for f in info.failures)


def test_total_timeout_bounds_a_judgment_with_its_retries(tmp_path, fast_backoff):
    pairs = align_outputs(*make_pairs(1))
    with DripServer(interval_s=0.5, max_bytes=60) as srv:
        judge = load_judge(str(judge_yaml(tmp_path, srv.base_url, timeout=1.0, max_retries=50, total_timeout=2.5)))
        t0 = time.monotonic()
        _, _, info, _ = judge_pairs(pairs, judge, JudgmentStore(tmp_path / "j.jsonl"), "method", "reference")
        elapsed = time.monotonic() - t0
    assert elapsed < 6 and len(info.failures) == 2
    assert all("setting 'total_timeout'" in f["error"] for f in info.failures), info.failures
    # Without total_timeout the budget follows from the other settings, so it is always finite.
    assert load_judge(str(judge_yaml(tmp_path, "http://127.0.0.1:9/v1", timeout=2, max_retries=3))).judgment_budget == 2 * 4 + 30 * 3


def test_an_oversized_completion_is_capped_in_the_store_and_the_directory_resumes(tmp_path):
    """Before: a 20 MB reply was stored whole, and the store could not be opened again (line over the limit)."""
    huge = "x" * (20 * 2**20) + "\nFinal verdict: [[A]]"
    pairs = align_outputs(*make_pairs(1))
    with JudgeServer(lambda prompt: huge) as srv:
        judge = load_judge(str(judge_yaml(tmp_path, srv.base_url, both_orders=False)))
        judge_pairs(pairs, judge, JudgmentStore(tmp_path / "j.jsonl"), "method", "reference")
    store = JudgmentStore(tmp_path / "j.jsonl")  # resumes; before: "line is 20971928 bytes, over the … limit"
    from alignbench.evaluation.store import MAX_STORED_RAW

    (rec,) = store.records.values()
    assert rec["verdict"] == "A"  # parsed from the whole reply
    assert len(rec["raw"]) == MAX_STORED_RAW and rec["raw_truncated_from_chars"] == len(huge)


def _wait_for_lines(path: Path, n: int, deadline_s: float = 30.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s and (not path.exists() or len(path.read_text().splitlines()) < n):
        time.sleep(0.05)


def test_two_judges_on_one_out_directory_do_not_pay_twice(tmp_path):
    """Before: both processes exited 0 and the server answered every judgment twice."""
    n = 30
    m, r = make_pairs(n, seed=2)
    write_outputs(tmp_path / "m.jsonl", m)
    write_outputs(tmp_path / "r.jsonl", r)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # 60 judgments one at a time at 0.2 s each: the first process still judges when the second has started
    # (at 0.05 s, a loaded machine's second start-up could outlast the first's judging).
    with JudgeServer(ScriptedJudge(prefer_longer), latency_s=0.2, deadline_s=120) as srv:
        jf = judge_yaml(tmp_path, srv.base_url, max_concurrency=1)
        first = subprocess.Popen(_judge_cmd(tmp_path, jf), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        _wait_for_lines(tmp_path / "out" / "judgments.jsonl", 1)  # the first one is judging
        second = subprocess.run(_judge_cmd(tmp_path, jf), capture_output=True, text=True, env=env, timeout=120)
        assert first.wait(timeout=120) == 0, first.stderr.read()
        served = srv.completions
    lines = (tmp_path / "out" / "judgments.jsonl").read_text().splitlines()
    print(f"second judge: exit {second.returncode}: {second.stderr.strip()}; completions served {served} for {len(lines)} judgments")
    assert served == len(lines) == 2 * n  # before: 120 completions served for 60 judgments
    assert second.returncode == 2 and f"in use by another alignbench process (PID {first.pid})" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1


def test_a_held_run_directory_is_refused_before_any_work(tmp_path, capsys):
    """Before: a second `alignbench run` on the same run directory trained alongside the first."""
    from alignbench.dirlock import exclusive_dir

    with exclusive_dir(tmp_path / "run", "run directory"):
        code = main(["run", str(REPO / "tests" / "data" / "tiny.yaml"), "--run-dir", str(tmp_path / "run"), "--quiet",
                     "--leaderboard-dir", str(tmp_path / "lb")])
    err = capsys.readouterr().err
    assert code == 2 and f"in use by another alignbench process (PID {os.getpid()})" in err
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".alignbench.lock"]


def test_sigterm_is_handled_like_sigint(tmp_path):
    """Before: SIGTERM killed `judge` silently (exit -15); now the Ctrl-C message, exit 143, and the
    judgments already recorded are kept and not paid for again."""
    n = 40
    m, r = make_pairs(n, seed=3)
    write_outputs(tmp_path / "m.jsonl", m)
    write_outputs(tmp_path / "r.jsonl", r)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with JudgeServer(ScriptedJudge(prefer_longer), latency_s=0.05, deadline_s=120) as srv:
        jf = judge_yaml(tmp_path, srv.base_url, max_concurrency=1)
        proc = subprocess.Popen(_judge_cmd(tmp_path, jf), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        store = tmp_path / "out" / "judgments.jsonl"
        _wait_for_lines(store, 5)
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=30)[1]
        kept = len(store.read_text().splitlines())
        done = subprocess.run(_judge_cmd(tmp_path, jf), capture_output=True, text=True, env=env, timeout=120)
        served = srv.completions
    assert proc.returncode == 143, err
    assert err.strip() == "alignbench: interrupted; finished stages are kept, re-run the same command to resume"
    assert done.returncode == 0 and 5 <= kept < 2 * n
    lines = [json.loads(x)["key"] for x in store.read_text().splitlines()]
    assert len(lines) == len(set(lines)) == 2 * n and served <= 2 * n + 1  # at most the one in flight is paid twice


def test_url_credentials_never_reach_rows_csv_or_screen(tmp_path, capsys):
    """Before: `http://user:pw@host/v1` was written into rows.json and the CSV's judge column."""
    password = "pw-SECRET-987"
    m, r = make_pairs(5)
    write_outputs(tmp_path / "m.jsonl", m)
    write_outputs(tmp_path / "r.jsonl", r)
    with JudgeServer(ScriptedJudge(prefer_longer)) as srv:
        url = srv.base_url.replace("http://", f"http://alice:{password}@")
        jf = judge_yaml(tmp_path, url)
        assert main(["judge", "--outputs", str(tmp_path / "m.jsonl"), "--reference", str(tmp_path / "r.jsonl"), "--judge", str(jf),
                     "--out", str(tmp_path / "out"), "--bootstrap", "200"]) == 0
        assert main(["leaderboard", str(tmp_path / "out"), "--out", str(tmp_path / "lb.csv")]) == 0
    captured = capsys.readouterr()
    assert password not in captured.out + captured.err
    assert "***@127.0.0.1" in json.loads((tmp_path / "out" / "rows.json").read_text())[0]["judge"]
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".yaml":
            assert password.encode() not in path.read_bytes(), path


def test_run_judge_is_checked_with_one_request_before_any_training(tmp_path, capsys, monkeypatch):
    """Before: a judge whose key the endpoint refuses (401) surfaced after all training, as
    "no prompt has a usable verdict"; now one cheap request fails the run before its first step."""
    monkeypatch.setenv("ALIGNBENCH_TEST_KEY", "sk-wrong-key-000")
    with JudgeServer(ScriptedJudge(prefer_longer), require_key="sk-right-key-111") as srv:
        jf = judge_yaml(tmp_path, srv.base_url, api_key_env="ALIGNBENCH_TEST_KEY")
        t0 = time.monotonic()
        code = main(["run", str(REPO / "tests" / "data" / "tiny.yaml"), "--run-dir", str(tmp_path / "run"), "--quiet",
                     "--leaderboard-dir", str(tmp_path / "lb"), "--judge", str(jf)])
        elapsed = time.monotonic() - t0
        requests = srv.requests
    err = capsys.readouterr().err
    assert code == 2 and "AuthenticationError" in err and "401" in err and "before any training" in err, err
    assert "sk-wrong-key-000" not in err
    assert elapsed < 10 and requests == 1 and not (tmp_path / "run").exists()


def _measure(argv: list[str], cwd: Path) -> tuple[int, str, float, float]:
    """Run the CLI under `ulimit -v 4000000`; returns (exit code, stderr, seconds, peak RSS in MB).

    bash sets the limit and execs Python (no preexec_fn: a forked copy of pytest would count its RSS)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(["bash", "-c", 'ulimit -v 4000000 && exec "$0" "$@"', sys.executable, "-m", "alignbench", *argv],
                            cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        err = proc.stderr.read(1 << 20).decode("utf-8", "replace")
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        if proc.poll() is None:
            proc.kill()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err, time.monotonic() - t0, usage.ru_maxrss / 1024


def test_hostile_inputs_are_refused_within_one_gigabyte_and_ten_seconds(tmp_path):
    """Issue 19's bound: under `ulimit -v 4000000`, the YAML alias bomb, 100k-deep nesting and
    `--outputs /dev/zero` are refused (exit 2, one line) before 1 GB or 10 s. Before: the bomb took
    97 s and 2.1 GB, the nesting 3,000 lines of RecursionError, /dev/zero a MemoryError at 2.9 GB."""
    from test_bad_input import alias_bomb, deep_yaml

    (tmp_path / "bomb.yaml").write_text(alias_bomb("policy.lora"))
    (tmp_path / "deep.yaml").write_text(deep_yaml())
    write_outputs(tmp_path / "r.jsonl", make_pairs(1)[1])
    cases = {
        "alias bomb": ["run", str(tmp_path / "bomb.yaml"), "--run-dir", str(tmp_path / "run1")],
        "deep nesting": ["run", str(tmp_path / "deep.yaml"), "--run-dir", str(tmp_path / "run2")],
        "/dev/zero": ["judge", "--outputs", "/dev/zero", "--reference", str(tmp_path / "r.jsonl"), "--judge",
                      str(judge_yaml(tmp_path, "http://127.0.0.1:9/v1")), "--out", str(tmp_path / "out")],
    }
    for name, argv in cases.items():
        code, err, seconds, rss_mb = _measure(argv, tmp_path)
        print(f"{name}: exit {code} in {seconds:.2f}s, peak RSS {rss_mb:.0f} MB: {err.strip()[:120]}")
        assert code == 2 and err.startswith("alignbench: error:") and len(err.strip().splitlines()) == 1, (name, err[:500])
        assert seconds < 10 and rss_mb < 1024, name


@pytest.mark.slow
def test_run_judge_failing_after_the_preflight_names_the_failure(tmp_path, capsys):
    """The endpoint answers the preflight request and then refuses everything (its request budget is
    spent): the run's error names the failure, not "no prompt has a usable verdict" as before."""
    with JudgeServer(ScriptedJudge(prefer_longer), max_requests=1) as srv:
        jf = judge_yaml(tmp_path, srv.base_url, max_retries=0)
        code = main(["run", str(REPO / "tests" / "data" / "tiny.yaml"), "--run-dir", str(tmp_path / "run"), "--quiet",
                     "--leaderboard-dir", str(tmp_path / "lb"), "--judge", str(jf)])
    err = capsys.readouterr().err
    assert code == 2 and "every judgment of" in err and "InternalServerError" in err, err
