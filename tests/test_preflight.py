"""Checks of a whole run before its first training step."""

from __future__ import annotations

import time

import pytest
from judge_fixtures import judge_yaml
from repo_fixtures import REPO

from alignbench.cli import main
from alignbench.evaluation.local_server import JudgeServer, ScriptedJudge, prefer_longer


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


def test_a_missing_saved_reward_model_is_refused_before_training(tmp_path, capsys, no_training):
    argv = ["run", "--run-dir", str(tmp_path / "run"), "--leaderboard-dir", str(tmp_path / "lb"), "--quiet",
            "--set", "evaluation.evaluators=[gold-reward, 'rm:/nonexistent']"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "rm:/nonexistent" in err and "not a saved reward model" in err and not (tmp_path / "run").exists()
