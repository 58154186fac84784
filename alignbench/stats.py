"""Win rates and their uncertainty (numpy/scipy only: never torch or openai).

Outcomes are from the method's side: 1 = method preferred, 0 = baseline preferred, 0.5 = tie,
NaN = no usable verdict. Rates are reported in percent.
"""

from __future__ import annotations

import numpy as np

from .errors import AlignbenchError

MAX_SEED = 2**32 - 1  # numpy's limit on a seed; torch's is larger


def combine_orders(first: np.ndarray, second: np.ndarray | None = None) -> np.ndarray:
    """Per-prompt score from both presentation orders.

    Win in both = 1, loss in both = 0, disagreement or an explicit tie = ½. A prompt with one
    usable order uses it; with none it is NaN (excluded and counted as a parse failure).
    """
    first = np.asarray(first, dtype=float)
    if second is None:
        return first.copy()
    second = np.asarray(second, dtype=float)
    out = np.full(first.shape, 0.5)
    both = ~np.isnan(first) & ~np.isnan(second)
    out[both & (first == 1) & (second == 1)] = 1.0
    out[both & (first == 0) & (second == 0)] = 0.0
    only1 = ~np.isnan(first) & np.isnan(second)
    only2 = np.isnan(first) & ~np.isnan(second)
    out[only1] = first[only1]
    out[only2] = second[only2]
    out[np.isnan(first) & np.isnan(second)] = np.nan
    return out


def consistency_rate(first: np.ndarray, second: np.ndarray) -> float:
    """Percent of prompts, usable in both orders, where the judge gave the same verdict on content."""
    first, second = np.asarray(first, float), np.asarray(second, float)
    both = ~np.isnan(first) & ~np.isnan(second)
    if not both.any():
        return float("nan")
    return float(100.0 * np.mean(first[both] == second[both]))


def first_position_rate(first: np.ndarray, second: np.ndarray) -> float:
    """Percent of decisive verdicts that chose whichever response was shown first.

    In the first order the method is shown first (outcome 1 = first chosen); in the second the
    baseline is (outcome 0 = first chosen)."""
    first, second = np.asarray(first, float), np.asarray(second, float)
    chose_first = np.concatenate([first[first == 1], 1 - second[second == 0]])
    decisive = np.sum((first == 1) | (first == 0)) + np.sum((second == 1) | (second == 0))
    return float(100.0 * len(chose_first) / decisive) if decisive else float("nan")


def bootstrap_means(scores: np.ndarray, n_boot: int = 2000, seed: int = 0, chunk_elems: int = 20_000_000,
                    by_counts: bool = True) -> np.ndarray:
    """Means of ``n_boot`` resamples of ``scores`` over prompts (vectorised, memory-bounded).

    ``by_counts=False`` forces the index-resampling path (the benchmark reports both)."""
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    rng = np.random.default_rng(seed)
    if by_counts:
        values, counts = np.unique(scores, return_counts=True)
        if len(values) <= 64:
            # Scores take few values (1, ½, 0, or seed averages of them): a resample's mean depends
            # only on how many of each value it drew, which is multinomial — O(B·K), not O(B·n).
            draws = rng.multinomial(n, counts / n, size=n_boot)
            return draws @ values / n
    out = np.empty(n_boot)
    per = max(1, chunk_elems // max(n, 1))
    for s in range(0, n_boot, per):
        b = min(per, n_boot - s)
        idx = rng.integers(0, n, size=(b, n))
        out[s : s + b] = scores[idx].mean(axis=1)
    return out


def percentile_interval(samples: np.ndarray, ci: float = 0.95) -> tuple[float, float]:
    alpha = (1 - ci) / 2
    lo, hi = np.quantile(samples, [alpha, 1 - alpha])
    return float(lo), float(hi)


def summarize(scores: np.ndarray, n_boot: int = 2000, seed: int = 0, ci: float = 0.95, graded: bool = False) -> dict:
    """Win rate (ties ½), win/tie/loss counts, SE and a seeded percentile bootstrap interval, in percent.

    Wins are scores of 1, losses 0 and ties anything between; with ``graded`` (alpaca_eval's graded
    preferences) wins are scores above ½, losses below and ties exactly ½."""
    scores = np.asarray(scores, dtype=float)
    valid = scores[~np.isnan(scores)]
    n = len(valid)
    if n == 0:
        raise AlignbenchError("no prompt has a usable verdict: nothing to summarise")
    boot = bootstrap_means(valid, n_boot, seed)
    lo, hi = percentile_interval(boot, ci)
    return {
        "n_prompts": int(n),
        "win_rate": float(100 * valid.mean()),
        "ci_low": 100 * lo,
        "ci_high": 100 * hi,
        "std_error": float(100 * valid.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan"),
        "wins": int(np.sum(valid > 0.5 if graded else valid == 1)),
        "ties": int(np.sum(valid == 0.5 if graded else (valid > 0) & (valid < 1))),
        "losses": int(np.sum(valid < 0.5 if graded else valid == 0)),
        "n_parse_failures": int(np.sum(np.isnan(scores))),
    }


def paired_difference(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0, ci: float = 0.95) -> dict:
    """Win-rate difference a − b on the same prompts, resampling the same prompt indices for both."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        raise AlignbenchError("paired comparison needs scores on the same prompts")
    ok = ~np.isnan(a) & ~np.isnan(b)
    d = a[ok] - b[ok]
    boot = bootstrap_means(d, n_boot, seed)
    lo, hi = percentile_interval(boot, ci)
    return {"n_prompts": int(ok.sum()), "difference": float(100 * d.mean()), "ci_low": 100 * lo, "ci_high": 100 * hi,
            "p_value_two_sided": float(2 * min(np.mean(boot <= 0), np.mean(boot >= 0)))}


def across_seeds(
    per_seed: list[np.ndarray], n_boot: int = 2000, seed: int = 0, ci: float = 0.95, graded: bool = False
) -> dict:
    """Several seeds on the same prompts: bootstrap the per-prompt mean over seeds, and report
    the spread (standard deviation) of the per-seed win rates beside it."""
    stack = np.vstack([np.asarray(s, float) for s in per_seed])
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(stack, axis=0) if len(per_seed) > 1 else stack[0]
    row = summarize(mean, n_boot, seed, ci, graded)
    rates = [100 * np.nanmean(s) for s in stack]
    row["n_seeds"] = len(per_seed)
    row["seed_spread"] = float(np.std(rates, ddof=1)) if len(rates) > 1 else 0.0
    return row
