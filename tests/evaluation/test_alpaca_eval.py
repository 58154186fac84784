"""alpaca_eval annotations imported as rows: win rate and standard error as alpaca_eval computes them."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from judge_fixtures import alpaca_annotations

from alignbench.cli import main


def test_alpaca_eval_win_rate_and_se_reproduce_to_1e9_from_the_written_csv(tmp_path):
    """Broken variant caught: the old `%.4g` CSV (win rate 58.39 instead of 58.3941605839…)."""
    prefs = alpaca_annotations(tmp_path / "annotations.json")
    assert main(["leaderboard", "--alpaca-eval", str(tmp_path / "annotations.json"), "--out", str(tmp_path / "lb.csv"),
                 "--quiet"]) == 0
    # alpaca_eval's describe_head2head: draws 0 → 1.5, keep [1, 2], (preference − 1)·100, pandas sem.
    s = pd.Series([1.5 if p == 0 else p for p in prefs], dtype=float)
    s = (s[(s >= 1) & (s <= 2)] - 1) * 100
    df = pd.read_csv(tmp_path / "lb.csv")
    (row,) = df.to_dict("records")
    assert abs(row["win_rate"] - s.mean()) < 1e-9 and abs(row["std_error"] - s.sem()) < 1e-9
    assert abs(float(f"{s.mean():.4g}") - s.mean()) > 1e-9  # the old format could not have passed


def test_alpaca_eval_numbers_by_hand(tmp_path):
    from alignbench.leaderboard import build_leaderboard

    prefs = [2, 1, 0, 1.5, 1.75, None, 2]
    ann = [{"instruction": f"q{i}", "output_1": "a", "output_2": "b", "generator_1": "gpt4_ref", "generator_2": "mine",
            "preference": p} for i, p in enumerate(prefs)]
    f = tmp_path / "annotations.json"
    f.write_text(json.dumps(ann))
    rows = build_leaderboard([], [f], tmp_path / "lb.csv", seed=0, n_bootstrap=500)
    # kept (preference − 1, draws 0 → 1.5): 1, 0, .5, .5, .75, 1 → mean 3.75/6
    kept = [1, 0, 0.5, 0.5, 0.75, 1]
    mean = sum(kept) / 6
    sem = math.sqrt(sum((k - mean) ** 2 for k in kept) / 5) / math.sqrt(6)
    (row,) = rows
    assert row["method"] == "mine" and row["baseline"] == "gpt4_ref"
    assert row["win_rate"] == pytest.approx(100 * mean)
    assert row["std_error"] == pytest.approx(100 * sem)
    assert row["n_prompts"] == 6 and row["n_parse_failures"] == 1
    assert row["ci_low"] <= row["win_rate"] <= row["ci_high"]
