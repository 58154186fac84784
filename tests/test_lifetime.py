"""Signals and child processes: SIGTERM handled like Ctrl-C, grid cells die with the grid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from judge_fixtures import judge_cmd, judge_yaml, make_pairs, wait_for_lines
from repo_fixtures import REPO

from alignbench.evaluation.local_server import JudgeServer, ScriptedJudge, prefer_longer
from alignbench.evaluation.outputs import write_outputs


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
        proc = subprocess.Popen(judge_cmd(tmp_path, jf), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env=env)
        store = tmp_path / "out" / "judgments.jsonl"
        wait_for_lines(store, 5)
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=30)[1]
        kept = len(store.read_text().splitlines())
        done = subprocess.run(judge_cmd(tmp_path, jf), capture_output=True, text=True, env=env, timeout=120)
        served = srv.completions
    assert proc.returncode == 143, err
    assert err.strip() == "alignbench: interrupted; finished stages are kept, re-run the same command to resume"
    assert done.returncode == 0 and 5 <= kept < 2 * n
    lines = [json.loads(x)["key"] for x in store.read_text().splitlines()]
    assert len(lines) == len(set(lines)) == 2 * n and served <= 2 * n + 1  # at most the one in flight is paid twice


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


IGNORE_SIGINT_THEN_EXEC = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                           "os.execv(sys.executable, [sys.executable, '-m', 'alignbench', *sys.argv[1:]])")


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_grid_cells_die_with_the_grid(tmp_path, how):
    import os
    import signal
    import subprocess

    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"base": "quickstart", "grid": {"methods": ["dpo"], "seeds": [0]},
                                    "set": {"sft.steps": 100000}}))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", IGNORE_SIGINT_THEN_EXEC, "grid", str(grid), "--out",
                             str(tmp_path / "g"),
                             "--workers", "1", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    cells = []
    try:
        deadline = time.monotonic() + 60
        while not cells and time.monotonic() < deadline:
            time.sleep(0.2)
            cells = _children(proc.pid)
        assert cells, "no cell process started"
        time.sleep(2.0)  # the cell is importing or training
        proc.send_signal(getattr(signal, how))
        proc.wait(timeout=20)
        assert all(_wait_gone(c, 15) for c in cells), "a cell outlived its grid"
    finally:
        proc.kill()
        proc.wait()
        for c in cells:
            if _alive(c):
                os.kill(c, signal.SIGKILL)
