"""alpaca_eval annotations imported as rows: win rate and standard error as alpaca_eval computes them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from alignbench.cli import main


def _alpaca_annotations(path, seed=0, n=137):
    rng = np.random.default_rng(seed)
    prefs = rng.choice([1.0, 2.0, 0.0, 1.5], size=n, p=[0.35, 0.45, 0.05, 0.15]).tolist()
    prefs += list(rng.uniform(1, 2, 20))  # weighted-alpaca-eval style fractional preferences
    prefs[3] = None
    path.write_text(json.dumps([{"instruction": f"q{i}", "generator_1": "gpt4_turbo", "generator_2": "mine", "preference": p}
                                for i, p in enumerate(prefs)]))
    return prefs


def test_alpaca_eval_win_rate_and_se_reproduce_to_1e9_from_the_written_csv(tmp_path):
    """Broken variant caught: the old `%.4g` CSV (win rate 58.39 instead of 58.3941605839…)."""
    prefs = _alpaca_annotations(tmp_path / "annotations.json")
    assert main(["leaderboard", "--alpaca-eval", str(tmp_path / "annotations.json"), "--out", str(tmp_path / "lb.csv"),
                 "--quiet"]) == 0
    # alpaca_eval's describe_head2head: draws 0 → 1.5, keep [1, 2], (preference − 1)·100, pandas sem.
    s = pd.Series([1.5 if p == 0 else p for p in prefs], dtype=float)
    s = (s[(s >= 1) & (s <= 2)] - 1) * 100
    df = pd.read_csv(tmp_path / "lb.csv")
    (row,) = df.to_dict("records")
    assert abs(row["win_rate"] - s.mean()) < 1e-9 and abs(row["std_error"] - s.sem()) < 1e-9
    assert abs(float(f"{s.mean():.4g}") - s.mean()) > 1e-9  # the old format could not have passed
