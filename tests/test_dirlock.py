"""One process per output directory: a held directory is refused before any work."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml
from judge_fixtures import judge_cmd, judge_yaml, make_pairs, wait_for_lines
from repo_fixtures import REPO

from alignbench.cli import main
from alignbench.evaluation.local_server import JudgeServer, ScriptedJudge, prefer_longer
from alignbench.evaluation.outputs import write_outputs


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
        first = subprocess.Popen(judge_cmd(tmp_path, jf), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        wait_for_lines(tmp_path / "out" / "judgments.jsonl", 1)  # the first one is judging
        second = subprocess.run(judge_cmd(tmp_path, jf), capture_output=True, text=True, env=env, timeout=120)
        assert first.wait(timeout=120) == 0, first.stderr.read()
        served = srv.completions
    lines = (tmp_path / "out" / "judgments.jsonl").read_text().splitlines()
    print(f"second judge: exit {second.returncode}: {second.stderr.strip()}; completions served "
          f"{served} for {len(lines)} judgments")
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


def test_grade_and_audit_judge_hold_their_out_directory(tmp_path, capsys):
    from alignbench.dirlock import exclusive_dir

    (tmp_path / "question.jsonl").write_text(
        json.dumps({"question_id": 1, "category": "writing", "turns": ["Write."]}) + "\n"
    )
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"question_id": 1, "model_id": "a", "choices": [{"turns": ["ok"]}]}) + "\n"
    )
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"prompt": "p", "chosen": "good", "rejected": "bad"}) + "\n")
    with JudgeServer(lambda prompt: "Rating: [[5]] [[A]]") as srv:
        cfg = yaml.safe_load((REPO / "judges" / "local-scripted-single.yaml").read_text())
        cfg.update(base_url=srv.base_url, template=str(REPO / "judges" / "templates" / Path(cfg["template"]).name))
        if cfg.get("template_multi_turn"):
            cfg["template_multi_turn"] = str(REPO / "judges" / "templates" / Path(cfg["template_multi_turn"]).name)
        (tmp_path / "single.yaml").write_text(yaml.safe_dump(cfg))
        pairwise = judge_yaml(tmp_path, srv.base_url)
        with exclusive_dir(tmp_path / "out", "--out directory"):  # another process is writing judgments here
            assert main(["grade", "--questions", str(tmp_path / "question.jsonl"), "--answers",
                         str(tmp_path / "a.jsonl"),
                         "--judge", str(tmp_path / "single.yaml"), "--out", str(tmp_path / "out"), "--quiet"]) == 2
            assert main(["audit-judge", "--judge", str(pairwise), "--pairs", str(tmp_path / "pairs.jsonl"),
                         "--out", str(tmp_path / "out"), "--quiet", "--bootstrap", "200"]) == 2
        served = srv.completions
    err = capsys.readouterr().err.strip().splitlines()
    assert served == 0 and len(err) == 2 and all("in use by another alignbench process" in line for line in err), err
