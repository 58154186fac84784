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
    with JudgeServer(ScriptedJudge(prefer_longer, position_bias=0.2), latency_s=0.02, deadline_s=300) as srv:
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
