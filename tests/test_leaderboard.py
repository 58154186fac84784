"""Leaderboard files: row order, columns (each documented), combined runs, and cells that stay plain text."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from repo_fixtures import REPO

import alignbench
from alignbench.cli import main
from alignbench.leaderboard import COLUMNS, to_markdown, win_rate_panels, write_leaderboard


def _row(method, win, evaluator="reward-model", baseline="sft", task="oracle", run_id="qs-1", judge="train RM", **kw):
    return {"task": task, "method": method, "evaluator": evaluator, "baseline": baseline, "n_prompts": 64,
            "win_rate": win,
            "ci_low": win - 5, "ci_high": win + 5, "std_error": 2.5, "wins": 1, "ties": 0, "losses": 1, "judge": judge,
            "run_id": run_id, "mean_reward": 1.0, "kl_to_sft": 0.5, **kw}


def test_rows_sorted_by_win_rate_within_evaluator_and_baseline_and_summary_first(tmp_path):
    rows = [_row("a", 60.0), _row("b", 80.0), _row("c", 70.0), _row("a", 90.0, baseline="dataset"),
            _row("b", 40.0, baseline="dataset")]
    paths = write_leaderboard(rows, tmp_path / "lb.csv")
    df = pd.read_csv(paths["csv"])
    assert df[df.baseline == "sft"].method.tolist() == ["b", "c", "a"]
    assert df[df.baseline == "dataset"].method.tolist() == ["a", "b"]
    md = paths["md"].read_text()
    assert md.index("## Summary") < md.index("## All rows")
    summary = md[md.index("## Summary"):md.index("## All rows")]
    assert "win % reward-model vs sft" in summary and "80.0 [75.0, 85.0]" in summary
    assert summary.index("| b |") < summary.index("| c |") < summary.index("| a |")


def test_combined_runs_keep_task_and_run_and_the_title_names_them(tmp_path):
    for name, task, judge in (("qs", "oracle", "train RM (policy)"), ("hh", "hh-harmless", "train RM (minilm)")):
        d = tmp_path / name
        d.mkdir()
        (d / "rows.json").write_text(json.dumps([_row("dpo", 70.0, task=task, judge=judge, run_id=f"{name}-17"),
                                                 _row("sft", 50.0, task=task, judge=judge, run_id=f"{name}-17")]))
    out = tmp_path / "lb" / "combined.csv"
    assert main(["leaderboard", str(tmp_path / "qs"), str(tmp_path / "hh"), "--out", str(out), "--quiet"]) == 0
    df = pd.read_csv(out)
    assert set(df.task) == {"oracle", "hh-harmless"} and set(df.run) == {"qs", "hh"}
    md = out.with_suffix(".md").read_text()
    assert md.splitlines()[0] == "# Leaderboard: oracle + hh-harmless (combined runs: qs, hh)"
    header = next(line for line in md.split("## All rows")[1].splitlines() if line.startswith("| "))
    assert header.startswith("| task | run | method")
    # Two reward models never share a plot panel, and each panel names its task and reward model.
    panels = win_rate_panels(df.to_dict("records"))
    assert len(panels) == 2 and all(len({r["judge"] for r in rs}) == 1 for rs in panels.values())
    assert any("oracle" in t and "policy" in t for t in panels) and any(
        "hh-harmless" in t and "minilm" in t for t in panels
    )
    assert alignbench.load_leaderboard(out).shape == df.shape
    assert out.with_suffix(".html").exists()


def test_llm_judge_rows_show_consistency_first_position_and_unparseable(capsys):
    rows = [_row("dpo", 62.5, evaluator="llm:gpt-4o", consistency=81.25, first_position_rate=57.5, n_parse_failures=3)]
    md = to_markdown(pd.DataFrame(rows))
    header = next(line for line in md.split("## All rows")[1].splitlines() if line.startswith("| "))
    for col in ("consistency", "first_position_rate", "n_parse_failures"):
        assert col in header
    assert "| 81.2 |" in md and "| 57.5 |" in md and "| 3 |" in md
    from alignbench.cli import _console
    from alignbench.leaderboard import print_table

    print_table(rows, _console(), title="t")
    out = capsys.readouterr().out
    assert "consist. %" in out and "1st-pos %" in out and "unparsed" in out and "81.2" in out and "57.5" in out


def test_every_csv_column_is_documented():
    from alignbench.leaderboard import COLUMNS, EXTRA

    readme = (REPO / "leaderboards" / "README.md").read_text()
    missing = [c for c in COLUMNS + EXTRA if f"`{c}`" not in readme]
    assert not missing, missing


ROW = {"task": "t", "method": "m", "evaluator": "e", "baseline": "b", "n_prompts": 3, "win_rate": 50.0, "ci_low": 20.0,
       "ci_high": 80.0, "std_error": 10.0, "wins": 1, "ties": 1, "losses": 1}


@pytest.mark.parametrize("rows, message", [
    ([1, 2, 3], "row 1: expected a mapping of columns, got int"),
    ([{}], "row 1: column task: Field required"),
    ([{**ROW, "win_rate": "high"}], "row 1: column win_rate: Input should be a valid number"),
])
def test_a_wrong_shaped_rows_json_is_one_line_in_leaderboard_and_report(tmp_path, capsys, rows, message):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "rows.json").write_text(json.dumps(rows))
    assert main(["leaderboard", str(tmp_path / "d"), "--out", str(tmp_path / "lb.csv")]) == 2
    assert main(["report", str(tmp_path / "d" / "rows.json"), "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("rows.json: " + message in line for line in err), err


EVIL = '=HYPERLINK("http://evil.example/","x")'


def test_formula_cells_are_neutralised_in_csv_and_exact_in_json(tmp_path):
    import csv

    from alignbench.leaderboard import (
        load_leaderboard,
        rows_from_frame,
        write_leaderboard,
    )

    names = [EVIL, "+1", "-cmd", "@SUM(A1)", "\tx", "\rx", "plain"]
    paths = write_leaderboard([{**ROW, "method": n} for n in names], tmp_path / "lb.csv")
    with open(paths["csv"], newline="") as f:
        cells = [r["method"] for r in csv.DictReader(f)]
    assert len(cells) == len(names) and all(c == "plain" or c.startswith("'") for c in cells)
    back = rows_from_frame(load_leaderboard(paths["csv"]))
    assert all(r["ci_low"] == 20.0 for r in back)  # numbers untouched
    assert sorted(r["method"] for r in back) == sorted(n.replace("\r", "\n") for n in names)  # read back as written


@pytest.mark.parametrize("name", ["two\nlines", "$\\frac{1}{$"])
def test_names_are_plain_text_in_markdown_and_plots(tmp_path, name):
    from alignbench.leaderboard import frontier_png, write_leaderboard

    rows = [{**ROW, "method": name, "evaluator": f"llm:{name}", "kl_to_sft": 0.1, "mean_reward": 0.2, "judge": name},
            {**ROW, "method": "other", "kl_to_sft": 0.2, "mean_reward": 0.3, "judge": name}]
    paths = write_leaderboard(rows, tmp_path / "lb.csv")  # the win-rate PNG and the page: no mathtext error
    assert frontier_png(rows, "mean_reward")[:4] == b"\x89PNG"
    md = paths["md"].read_text()
    table_lines = [line for line in md.splitlines() if line.startswith("|")]
    assert all(line.endswith("|") for line in table_lines)  # no row split by a line break


def test_leaderboard_files_have_the_schema(tmp_path):
    row = {"task": "t", "method": "m", "evaluator": "e", "baseline": "b", "n_prompts": 3, "win_rate": 50.0,
           "ci_low": 20.0,
           "ci_high": 80.0, "std_error": 10.0, "wins": 1, "ties": 1, "losses": 1, "mean_reward": 0.1, "kl_to_sft": 0.2}
    paths = write_leaderboard([row], tmp_path / "lb.csv")
    df = pd.read_csv(paths["csv"])
    assert list(df.columns[: len(COLUMNS)]) == COLUMNS
    assert paths["md"].read_text().startswith("# Leaderboard")
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*.tmp"))
