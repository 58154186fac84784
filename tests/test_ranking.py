"""Bradley–Terry ranking: recovery of known strengths, interval coverage, the rank convention, files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignbench.errors import AlignbenchError
from alignbench.ranking import (
    ELO_ANCHOR, fit_bradley_terry, pairwise_difference_matrix, publish_ranking, ranks_from_intervals,
    round_robin_outcomes, write_ranking,
)

TRUE_ELO = {"base": 1000.0, "a": 1150.0, "b": 1050.0, "c": 900.0, "d": 1000.0}


def _p_win(ea: float, eb: float) -> float:
    return 1.0 / (1.0 + 10 ** ((eb - ea) / 400.0))


def _battles(rng, n_prompts: int, round_robin: bool, two_orders: bool = False) -> dict:
    """Per-prompt outcomes drawn from the Elo model. ``two_orders``: two independent verdicts per prompt
    combined as the harness does (agree → 1 or 0, disagree → tie ½), which keeps the expected score at p."""
    names = [m for m in TRUE_ELO if m != "base"]
    pairs = [(m, "base") for m in names]
    if round_robin:
        pairs += [(x, y) for i, x in enumerate(names) for y in names[i + 1:]]
    out = {}
    for a, b in pairs:
        p = _p_win(TRUE_ELO[a], TRUE_ELO[b])
        s = (rng.random(n_prompts) < p).astype(float)
        if two_orders:
            s = (s + (rng.random(n_prompts) < p)) / 2
        out[(a, b)] = s
    return out


def test_fitted_scores_recover_known_strengths():
    """Many battles, round robin: every score within 15 Elo of the truth, baseline exactly 1000.

    Catches a wrong scale (natural-log units would be off by 400/ln10 ≈ 174×) or the sign of a pair flipped."""
    rng = np.random.default_rng(1)
    fit = fit_bradley_terry(_battles(rng, 4000, round_robin=True, two_orders=True), "base", n_boot=50)
    assert fit["base"]["bt_score"] == pytest.approx(ELO_ANCHOR)
    errors = {m: abs(fit[m]["bt_score"] - e) for m, e in TRUE_ELO.items()}
    assert max(errors.values()) < 15, errors
    for m in TRUE_ELO:
        assert fit[m]["ci_low"] <= fit[m]["bt_score"] <= fit[m]["ci_high"]


def test_vs_baseline_only_equals_logit_of_win_rate():
    """With only method-vs-baseline battles, BT decouples: score = 1000 + 400·log10(w / (1 − w))."""
    s = np.array([1, 1, 1, 0, 0.5, 1, 0, 1.0])
    fit = fit_bradley_terry({("m", "base"): s}, "base", n_boot=0, prior=0.0)
    w = s.mean()
    assert fit["m"]["bt_score"] == pytest.approx(1000 + 400 * np.log10(w / (1 - w)), abs=1e-6)


def test_interval_coverage_over_repeated_simulations():
    """95% prompt-bootstrap intervals cover the true Elo in 90–99% of 200 simulations × 4 methods.

    Measured: 0.941 (round robin, mean width 63 Elo). An interval from a bootstrap that resamples nothing (or ±0) would
    cover ~0%."""
    rng = np.random.default_rng(7)
    covered, total = 0, 0
    for sim in range(200):
        fit = fit_bradley_terry(_battles(rng, 200, round_robin=True), "base", n_boot=200, seed=sim)
        for m, e in TRUE_ELO.items():
            if m == "base":
                continue
            covered += fit[m]["ci_low"] <= e <= fit[m]["ci_high"]
            total += 1
    assert 0.90 <= covered / total <= 0.99, covered / total


def test_rank_counts_intervals_entirely_above():
    """By hand: A [1100, 1200], B [1050, 1150] overlap → both rank 1; C [900, 1000] lies below both
    (and overlaps nothing above 1000 except at its edge: 1000 < 1050) → rank 3; D [980, 1060] overlaps
    B, lies below A (1060 < 1100) → rank 2. A ≥-instead-of-> test would rank A 2 against a touching B."""
    assert ranks_from_intervals([(1100, 1200), (1050, 1150), (900, 1000), (980, 1060)]) == [1, 1, 3, 2]
    assert ranks_from_intervals([(1100, 1200), (1000, 1100)]) == [1, 1]  # touching intervals do not separate


def test_round_robin_outcomes_from_pointwise_scores():
    rr = round_robin_outcomes({"x": np.array([1.0, 0.0, 2.0, np.nan]), "y": np.array([0.0, 0.0, 3.0, 1.0])})
    np.testing.assert_array_equal(rr[("x", "y")], [1.0, 0.5, 0.0, np.nan])


def test_pairwise_matrix_is_antisymmetric_and_uses_same_prompts():
    rng = np.random.default_rng(0)
    scores = {m: (rng.random(300) < p).astype(float) for m, p in [("a", 0.7), ("b", 0.5)]}
    rows = {(r["method_a"], r["method_b"]): r for r in pairwise_difference_matrix(scores, n_boot=500)}
    assert rows[("a", "b")]["difference"] == pytest.approx(-rows[("b", "a")]["difference"])
    assert rows[("a", "b")]["ci_low"] > 0  # a is truly 20 points better on 300 prompts


def test_write_ranking_csv_and_markdown(tmp_path):
    rng = np.random.default_rng(3)
    out = tmp_path / "oracle-ranking.csv"
    rows = write_ranking({"gold-reward": _battles(rng, 300, round_robin=False)}, out, baseline="base", task="oracle",
                         n_boot=200)
    df = pd.read_csv(out)
    assert {"method", "evaluator", "bt_score", "ci_low", "ci_high", "rank"} <= set(df.columns)
    assert (df["ci_low"] <= df["bt_score"]).all() and (df["bt_score"] <= df["ci_high"]).all()
    assert df["bt_score"].is_monotonic_decreasing and len(rows) == 5
    assert "| rank |" in out.with_suffix(".md").read_text()


def test_bad_outcomes_are_one_line_errors():
    with pytest.raises(AlignbenchError, match="different numbers of prompts"):
        fit_bradley_terry({("a", "base"): np.ones(3), ("b", "base"): np.ones(4)}, "base")
    with pytest.raises(AlignbenchError, match=r"outside \[0, 1\]"):
        fit_bradley_terry({("a", "base"): np.array([2.0])}, "base")
    with pytest.raises(AlignbenchError, match="no usable outcome"):
        fit_bradley_terry({("a", "base"): np.array([np.nan])}, "base")


def test_publish_ranking_round_robin_from_pointwise_rewards(tmp_path):
    """Pointwise rewards → round robin (every pair), ranking CSV in out_dir, pairwise matrix in run_dir.
    Rewards shifted by known amounts order the methods; a fit that ignored ``pointwise`` would only see
    vs-baseline pairs (here deliberately all ties) and rank every method 1."""
    rng = np.random.default_rng(5)
    n = 400
    noise = {m: rng.normal(0, 1, n) for m in ("sft", "good", "mid", "bad")}
    reward = {"sft": noise["sft"], "good": noise["good"] + 1.0, "mid": noise["mid"] + 0.3, "bad": noise["bad"] - 1.0}
    ties = {m: np.full(n, 0.5) for m in ("good", "mid", "bad")}
    rows = publish_ranking({"gold-reward": ties}, "sft", "oracle", tmp_path / "lb", run_dir=tmp_path / "run",
                           pointwise={"gold-reward": reward}, n_boot=200)
    assert [r["method"] for r in rows] == ["good", "mid", "sft", "bad"]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    assert (tmp_path / "lb" / "oracle-ranking.csv").exists()
    assert len(pd.read_csv(tmp_path / "run" / "pairwise-gold-reward-vs-sft.csv")) == 6  # 3 methods, ordered pairs


EVIL = '=HYPERLINK("http://evil.example/","x")'


def test_ranking_csv_is_neutralised_too(tmp_path):
    import numpy as np

    from alignbench.ranking import write_ranking

    rng = np.random.default_rng(0)
    battles = {(EVIL, "base"): rng.random(30), ("ok", "base"): rng.random(30)}
    write_ranking({"e": battles}, tmp_path / "t-ranking.csv", baseline="base", task="t", n_boot=50)
    text = (tmp_path / "t-ranking.csv").read_text()
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
