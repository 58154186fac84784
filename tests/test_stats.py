"""Win-rate statistics: bootstrap intervals and the two judging orders combined, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alignbench.stats import bootstrap_means, combine_orders, percentile_interval, summarize


def test_bootstrap_interval_covers_true_rate_at_nominal_rate():
    rng = np.random.default_rng(1)
    true_p, n, trials, covered = 0.3, 200, 400, 0
    for t in range(trials):
        data = (rng.random(n) < true_p).astype(float)
        lo, hi = percentile_interval(bootstrap_means(data, 1000, seed=t))
        covered += lo <= true_p <= hi
    coverage = covered / trials
    print(f"95% percentile bootstrap coverage over {trials} data sets: {coverage:.3f}")
    assert 0.92 <= coverage <= 0.98


def test_combine_orders_and_summary_by_hand():
    first = np.array([1, 1, 0, 0.5, np.nan, np.nan])
    second = np.array([1, 0, 0, 1, 0, np.nan])
    s = combine_orders(first, second)
    assert s[:5].tolist() == [1.0, 0.5, 0.0, 0.5, 0.0] and math.isnan(s[5])
    row = summarize(s, 500, 0)
    assert row["n_prompts"] == 5 and row["n_parse_failures"] == 1
    assert row["win_rate"] == pytest.approx(100 * 2 / 5)
    assert (row["wins"], row["ties"], row["losses"]) == (1, 2, 2)
