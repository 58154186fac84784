"""`alignbench run` end to end: files, leaderboard, and kill -9 then resume giving the same table."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from repo_fixtures import REPO
from judge_fixtures import judge_yaml

from alignbench.cli import main
from alignbench.evaluation.local_server import JudgeServer, ScriptedJudge, prefer_longer
from alignbench.leaderboard import COLUMNS
from alignbench.methods.registry import all_methods

TINY = Path(__file__).parent / "data" / "tiny.yaml"


def run_cli(*args, cwd=None, check=True):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "alignbench", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          check=check)


def comparable(rows):
    return [{k: v for k, v in r.items() if k != "run_id"} for r in rows]


def check_leaderboard(lb_dir: Path, task="oracle"):
    df = pd.read_csv(lb_dir / f"{task}.csv")
    assert list(df.columns[: len(COLUMNS)]) == COLUMNS
    assert ((df.win_rate >= df.ci_low - 1e-9) & (df.win_rate <= df.ci_high + 1e-9)).all()
    assert df.n_prompts.gt(0).all() and df.judge.notna().all()
    for suffix in (".md", ".png"):
        assert (lb_dir / f"{task}{suffix}").stat().st_size > 0
    assert (lb_dir / f"{task}-frontier.png").read_bytes()[:4] == b"\x89PNG"
    return df


def test_killed_run_resumes_to_the_same_table(tmp_path):
    straight = run_cli("run", str(TINY), "--run-dir", str(tmp_path / "a"), "--leaderboard-dir", str(tmp_path / "lb_a"),
                       "--quiet")
    assert "dpo" in straight.stdout
    df = check_leaderboard(tmp_path / "lb_a")
    assert set(df.method) == {"sft", "dpo", "best-of-n", "arm", "exo", "ppo"}
    assert set(df.evaluator) == {"reward-model", "gold-reward"}

    # Kill -9 once the DPO stage has checkpointed but before the run finishes, then resume.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "alignbench", "run", str(TINY), "--run-dir", str(tmp_path / "b"),
           "--leaderboard-dir", str(tmp_path / "lb_b"), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    marker = tmp_path / "b" / "methods" / "dpo" / "seed-0" / "checkpoint" / "trainer_state.pt"
    deadline = time.time() + 120
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "b" / "rows.json").exists()
    run_cli("run", str(TINY), "--run-dir", str(tmp_path / "b"), "--leaderboard-dir", str(tmp_path / "lb_b"), "--quiet")
    a = json.loads((tmp_path / "a" / "rows.json").read_text())
    b = json.loads((tmp_path / "b" / "rows.json").read_text())
    assert comparable(a) == comparable(b)
    # A finished run re-run is all skips and the same table again.
    run_cli("run", str(TINY), "--run-dir", str(tmp_path / "b"), "--leaderboard-dir", str(tmp_path / "lb_b"), "--quiet")
    assert comparable(json.loads((tmp_path / "b" / "rows.json").read_text())) == comparable(a)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert {"sft", "reward_model", "methods/dpo/seed-0"} <= set(manifest["stages"])
    assert manifest["versions"]["torch"]


def test_run_dir_of_another_config_is_refused(tmp_path):
    run_cli("run", str(TINY), "--run-dir", str(tmp_path / "a"), "--leaderboard-dir", str(tmp_path / "lb"), "--quiet",
            "--set", "methods={sft: {}}")
    res = run_cli("run", str(TINY), "--run-dir", str(tmp_path / "a"), "--leaderboard-dir", str(tmp_path / "lb"),
                  "--quiet", check=False)
    assert res.returncode == 2
    assert "holds a run of a different config" in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_reduced_quickstart_end_to_end(tmp_path):
    """Every registered method on the oracle task, fewer steps than the built-in quickstart."""
    overrides = []
    for m, key in [("dpo", "steps"), ("dpo-sft", "steps"), ("expert-iteration", "steps"), ("arm", "steps"),
                   ("arm-pl", "steps"), ("exo", "steps"), ("exo-pref", "steps"), ("dpo-rw", "steps")]:
        overrides += ["--set", f"methods.{m}.{key}=40"]
    overrides += ["--set", "methods.brain.rounds=2", "--set", "methods.ppo.iterations=10", "--set",
                  "task.options.n_test_prompts=32"]
    res = run_cli("run", "quickstart", "--run-dir", str(tmp_path / "qs"), "--leaderboard-dir", str(tmp_path / "lb"),
                  *overrides)
    df = check_leaderboard(tmp_path / "lb")
    assert set(df.method) == set(all_methods())  # the quickstart runs every registered method
    assert df.exact_reward.notna().all()
    assert "leaderboard" in res.stdout


@pytest.mark.slow
def test_kill_minus_nine_during_run_twenty_times(tmp_path):
    """`alignbench run` killed at random points 20 times, then finished: same table as a clean run."""
    tiny = REPO / "tests" / "data" / "tiny.yaml"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def cmd(d):
        return [sys.executable, "-m", "alignbench", "run", str(tiny), "--run-dir", str(tmp_path / d),
                "--leaderboard-dir", str(tmp_path / f"lb-{d}"), "--quiet"]

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


@pytest.mark.slow
def test_a_run_whose_judge_leaves_judgments_missing_fails_unless_allowed(tmp_path, capsys):
    # Every 5th request after the preflight's is answered 503, with no retries: some judgments stay missing.
    with JudgeServer(ScriptedJudge(prefer_longer),
                     fault_for=lambda n, prompt: "server_error" if n > 1 and n % 5 == 0 else None) as srv:
        jf = judge_yaml(tmp_path, srv.base_url, max_retries=0)
        argv = ["run", str(REPO / "tests" / "data" / "tiny.yaml"), "--run-dir", str(tmp_path / "run"), "--quiet",
                "--leaderboard-dir", str(tmp_path / "lb"), "--judge", str(jf)]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert "judgment(s) missing after retries" in err[-1] and "--allow-missing" in err[-1]
        assert (tmp_path / "run" / "rows.json").exists()  # the finished work is kept
        assert main(argv + ["--allow-missing", "1000"]) == 0  # resumed: only the missing ones are asked again
