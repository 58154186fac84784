"""alignbench writes only files that are its own: foreign files are refused before any work."""

from __future__ import annotations

import json

import pytest
from judge_fixtures import write
from repo_fixtures import REPO

from alignbench.cli import main

ALPACA = [{"generator_1": "a", "generator_2": "b", "preference": 2},
          {"generator_1": "a", "generator_2": "b", "preference": 1}]


@pytest.mark.parametrize("victim", ["outputs.jsonl", "rows.json", "README.md", "notes.csv"])
def test_leaderboard_out_does_not_overwrite_foreign_files(victim, tmp_path, capsys):
    """Before: `leaderboard --out` replaced whatever it was given (an outputs JSONL, rows.json, README.md)."""
    ann = write(tmp_path, "a.json", json.dumps(ALPACA))
    target = write(tmp_path, victim, "precious\n")
    out = target if victim != "README.md" else tmp_path / "README.csv"  # README.md is the .md written beside README.csv
    assert main(["leaderboard", "--alpaca-eval", str(ann), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "not a leaderboard alignbench wrote" in err and "--force" in err and "\n" not in err.strip()
    assert target.read_text() == "precious\n"
    # A leaderboard it wrote itself is replaced without --force; anything else with --force.
    assert main(["leaderboard", "--alpaca-eval", str(ann), "--out", str(tmp_path / "lb.csv")]) == 0
    assert main(["leaderboard", "--alpaca-eval", str(ann), "--out", str(tmp_path / "lb.csv")]) == 0
    assert main(["leaderboard", "--alpaca-eval", str(ann), "--out", str(out), "--force"]) == 0
    assert target.read_text() != "precious\n"


ROW = {"task": "t", "method": "m", "evaluator": "e", "baseline": "b", "n_prompts": 3, "win_rate": 50.0, "ci_low": 20.0,
       "ci_high": 80.0, "std_error": 10.0, "wins": 1, "ties": 1, "losses": 1}


def test_report_never_writes_where_a_rows_task_points(tmp_path, capsys):
    victim = tmp_path / "victim"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "rows.json").write_text(json.dumps([{**ROW, "task": str(victim)}]))
    assert main(["report", str(tmp_path / "d")]) == 2
    assert "give --out" in capsys.readouterr().err and not victim.with_suffix(".html").exists()


def test_report_does_not_overwrite_a_hand_written_page(tmp_path, capsys):
    from alignbench.leaderboard import write_leaderboard

    paths = write_leaderboard([ROW], tmp_path / "x.csv")
    assert main(["report", str(paths["csv"])]) == 0  # its own page: replaced
    paths["html"].write_text("<html>my notes</html>")
    assert main(["report", str(paths["csv"])]) == 2
    assert "x.html: exists and is not a leaderboard alignbench wrote" in capsys.readouterr().err
    assert paths["html"].read_text() == "<html>my notes</html>"


@pytest.mark.parametrize("name",
                         ["oracle-ranking.csv", "oracle-ranking.md", "oracle-frontier.png", "oracle.md", "oracle.html"])
def test_run_refuses_every_foreign_file_it_would_write_before_training(tmp_path, capsys, name, no_training):
    lb = tmp_path / "lb"
    lb.mkdir()
    (lb / name).write_text("the user's own file")
    assert main(["run", "--run-dir", str(tmp_path / "run"), "--leaderboard-dir", str(lb), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{name}: exists and is not a leaderboard alignbench wrote" in err and "--leaderboard-dir" in err
    assert not (tmp_path / "run").exists() and (lb / name).read_text() == "the user's own file"


def test_a_leaderboard_dir_that_is_a_file_is_refused_before_training(tmp_path, capsys, no_training):
    (tmp_path / "lb").write_text("x")
    assert main(["run", "--run-dir", str(tmp_path / "run"), "--leaderboard-dir", str(tmp_path / "lb"), "--quiet"]) == 2
    assert "lb is a file, not a directory" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_the_shipped_leaderboards_are_recognised_as_alignbench_s_own():
    from alignbench.owned import run_files, written_by_alignbench

    for task in ("oracle", "hh-harmless"):
        assert all(written_by_alignbench(p) for p in run_files(REPO / "leaderboards", task))
