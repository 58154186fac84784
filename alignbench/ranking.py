"""Bradley–Terry ranking on the Elo scale with prompt-level bootstrap intervals (arena-hard's convention).

Input: per-prompt outcomes of pairs of methods, ``{(a, b): scores}`` where ``scores[i]`` is from a's side
(1 = a preferred, 0 = b preferred, ½ = tie, NaN = no usable verdict) and every array is over the same
prompts in the same order. By default the pairs are each method against the baseline; round-robin pairs
between methods may be added. A tie as ½ and a tie split into half a win each way give the same likelihood.

Scores: ``P(a beats b) = 1 / (1 + 10^((s_b − s_a)/400))``, the baseline fixed at 1000. A weak Gaussian
prior on the natural-log strengths (``prior``, default 1e-3 per nat²) keeps a method that wins every
battle finite and otherwise moves scores by far less than their intervals.
Intervals: percentile bootstrap that resamples prompts (every pair of a replicate sees the same prompts).
Rank: 1 + the number of methods whose interval lies entirely above this one's.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import AlignbenchError
from .io import atomic_write_text
from .names import csv_cell, md_cell
from .stats import paired_difference

ELO_SCALE = 400.0 / math.log(10.0)  # Elo points per nat of strength
ELO_ANCHOR = 1000.0
RANKING_COLUMNS = ["task", "method", "evaluator", "baseline", "bt_score", "ci_low", "ci_high", "rank", "n_prompts",
                   "n_battles"]


def _check_outcomes(outcomes: dict, baseline: str) -> tuple[list[str], list[tuple[int, int]], np.ndarray]:
    """Players (baseline first), pairs as index tuples, and scores stacked ``[n_prompts, n_pairs]``."""
    if not outcomes:
        raise AlignbenchError("ranking: no pairwise outcomes to fit")
    lengths = {len(np.asarray(v)) for v in outcomes.values()}
    if len(lengths) != 1:
        raise AlignbenchError("ranking: outcome arrays cover different numbers of prompts "
                              f"({sorted(lengths)}); align them first")
    players = [baseline] + sorted({p for pair in outcomes for p in pair} - {baseline})
    index = {p: i for i, p in enumerate(players)}
    pairs, columns = [], []
    for (a, b), scores in outcomes.items():
        if a == b:
            raise AlignbenchError(f"ranking: pair ({a}, {b}) compares a method with itself")
        scores = np.asarray(scores, dtype=float)
        bad = ~np.isnan(scores) & ((scores < 0) | (scores > 1))
        if bad.any():
            raise AlignbenchError(f"ranking: pair ({a}, {b}) has outcomes outside [0, 1] (e.g. {scores[bad][0]})")
        pairs.append((index[a], index[b]))
        columns.append(scores)
    return players, pairs, np.column_stack(columns)


def _fit_batch(wins: np.ndarray, totals: np.ndarray, pairs: list[tuple[int, int]], n_players: int,
               prior: float, iters: int = 100) -> np.ndarray:
    """Maximum a-posteriori strengths (nats, baseline = 0) for many replicates at once by Newton's method.

    ``wins``/``totals``: ``[B, n_pairs]`` — summed scores of the pair's first player, and battles counted."""
    B = wins.shape[0]
    k = n_players - 1  # the baseline (player 0) is fixed at 0
    theta = np.zeros((B, n_players))
    a_idx = np.array([a for a, _ in pairs])
    b_idx = np.array([b for _, b in pairs])
    design = np.zeros((len(pairs), n_players))
    design[np.arange(len(pairs)), a_idx] += 1.0
    design[np.arange(len(pairs)), b_idx] -= 1.0
    design = design[:, 1:]  # [n_pairs, k]
    for _ in range(iters):
        delta = theta[:, a_idx] - theta[:, b_idx]  # [B, n_pairs]
        p = 1.0 / (1.0 + np.exp(-delta))
        grad = (wins - totals * p) @ design - prior * theta[:, 1:]  # gradient of the log-posterior
        w = totals * p * (1 - p)
        hess = (design.T * w[:, None, :]) @ design + prior * np.eye(k)  # Σ_p w_bp x_p x_pᵀ as one batched matmul
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        # Damping: far from the optimum (near-separated data) a full Newton step can overshoot.
        step = np.clip(step, -2.0, 2.0)
        theta[:, 1:] += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return theta


def _aggregate(scores: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair summed scores and battle counts, optionally with per-prompt bootstrap counts ``[B, n]``."""
    valid = ~np.isnan(scores)
    filled = np.where(valid, scores, 0.0)
    if weights is None:
        return filled.sum(0)[None], valid.sum(0)[None].astype(float)
    return weights @ filled, weights @ valid.astype(float)


def fit_bradley_terry(outcomes: dict, baseline: str, n_boot: int = 1000, seed: int = 0, ci: float = 0.95,
                      prior: float = 1e-3) -> dict[str, dict]:
    """``{method: {bt_score, ci_low, ci_high, rank, n_battles}}`` on the Elo scale, baseline = 1000."""
    players, pairs, scores = _check_outcomes(outcomes, baseline)
    n = scores.shape[0]
    wins, totals = _aggregate(scores)
    if np.any(totals == 0):
        empty = [f"{players[a]} vs {players[b]}" for (a, b), t in zip(pairs, totals[0]) if t == 0]
        raise AlignbenchError(f"ranking: no usable outcome for {empty[0]}")
    point = _fit_batch(wins, totals, pairs, len(players), prior)[0]
    rng = np.random.default_rng(seed)
    boot = np.empty((0, len(players)))
    if n_boot:
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)  # prompt resamples
        bw, bt = _aggregate(scores, counts)
        boot = _fit_batch(bw, bt, pairs, len(players), prior)
    alpha = (1 - ci) / 2
    elo = ELO_ANCHOR + ELO_SCALE * point
    lo = ELO_ANCHOR + ELO_SCALE * np.quantile(boot, alpha, axis=0) if n_boot else elo
    hi = ELO_ANCHOR + ELO_SCALE * np.quantile(boot, 1 - alpha, axis=0) if n_boot else elo
    battles = np.zeros(len(players))
    for (a, b), t in zip(pairs, totals[0]):
        battles[a] += t
        battles[b] += t
    out = {p: {"bt_score": float(elo[i]), "ci_low": float(lo[i]), "ci_high": float(hi[i]), "n_battles": int(battles[i]),
               "n_prompts": int(n)} for i, p in enumerate(players)}
    for p, r in zip(players, ranks_from_intervals([(out[p]["ci_low"], out[p]["ci_high"]) for p in players])):
        out[p]["rank"] = r
    return out


def ranks_from_intervals(intervals: list[tuple[float, float]]) -> list[int]:
    """arena-hard / Chatbot Arena rank: 1 + how many others' lower bound exceeds this one's upper bound."""
    return [
        1 + sum(lo_j > hi_i for j, (lo_j, _) in enumerate(intervals) if j != i) for i, (_, hi_i) in enumerate(intervals)
    ]


def ranking_rows(outcomes_by_evaluator: dict[str, dict], baseline: str, task: str = "", n_boot: int = 1000,
                 seed: int = 0, ci: float = 0.95) -> list[dict]:
    """Rows ``task, method, evaluator, baseline, bt_score, ci_low, ci_high, rank, n_prompts, n_battles``,
    one fit per evaluator, best score first within each evaluator.

    What a pipeline must pass: ``{evaluator: {(method, baseline): per_prompt_scores, ...}}`` with the
    scores from the method's side (as ``rm_judge.reward_outcomes`` returns them; several seeds averaged
    per prompt), over the test prompts in one fixed order. Round-robin pairs ``(method_a, method_b)``
    on the same prompts may be added to any evaluator's dict."""
    rows = []
    for evaluator, outcomes in outcomes_by_evaluator.items():
        fit = fit_bradley_terry(outcomes, baseline, n_boot=n_boot, seed=seed, ci=ci)
        for method, r in sorted(fit.items(), key=lambda kv: -kv[1]["bt_score"]):
            rows.append({"task": task, "method": method, "evaluator": evaluator, "baseline": baseline, **r})
    return rows


def round_robin_outcomes(per_prompt_scores: dict[str, np.ndarray], higher_is_better: bool = True) -> dict:
    """Every pair of methods compared prompt by prompt on a pointwise score (reward model, gold reward):
    1 if the first scores higher, ½ on equal scores, NaN where either is missing."""
    names = sorted(per_prompt_scores)
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            x, y = np.asarray(per_prompt_scores[a], float), np.asarray(per_prompt_scores[b], float)
            if x.shape != y.shape:
                raise AlignbenchError(f"round robin: {a} and {b} are scored on different numbers of prompts")
            s = np.where(x > y, 1.0, np.where(x < y, 0.0, 0.5))
            out[(a, b)] = np.where(np.isnan(x) | np.isnan(y), np.nan, s if higher_is_better else 1 - s)
    return out


def pairwise_difference_matrix(scores_vs_baseline: dict[str, np.ndarray], n_boot: int = 2000, seed: int = 0,
                               ci: float = 0.95) -> list[dict]:
    """Win-rate differences (percentage points) between every ordered pair of methods judged against the
    same baseline on the same prompts: ``stats.paired_difference`` (one shared prompt resample per pair)."""
    names = list(scores_vs_baseline)
    rows = []
    for a in names:
        for b in names:
            if a == b:
                continue
            d = paired_difference(scores_vs_baseline[a], scores_vs_baseline[b], n_boot=n_boot, seed=seed, ci=ci)
            rows.append({"method_a": a, "method_b": b, **d})
    return rows


def _csv(rows: list[dict], columns: list[str]) -> str:
    df = pd.DataFrame(rows)
    for c in columns:
        if c not in df.columns:
            df[c] = None
    return (
        df[columns + [c for c in df.columns if c not in columns]].map(csv_cell).to_csv(index=False, float_format="%.6g")
    )


def ranking_markdown(rows: list[dict]) -> str:
    lines = ["| rank | method | evaluator | Bradley–Terry (Elo) | 95% CI |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['rank']} | {md_cell(r['method'])} | {md_cell(r['evaluator'])} | {r['bt_score']:.0f} | "
                     f"{r['ci_low']:.0f}–{r['ci_high']:.0f} |")
    base = rows[0]["baseline"] if rows else ""
    return (f"# Ranking\n\nBradley–Terry scores on the Elo scale ({base} = 1000), 95% "
            "bootstrap intervals over prompts. Rank = 1 + the number of methods whose "
            "interval lies entirely above.\n\n" + "\n".join(lines) + "\n")


def write_ranking(rows_or_outcomes, path: str | Path, baseline: str | None = None, task: str = "",
                  n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Write ``<task>-ranking.csv`` (and a Markdown table beside it) atomically; returns the rows.

    ``rows_or_outcomes``: rows from :func:`ranking_rows`, or the ``{evaluator: {(a, b): scores}}`` mapping
    it takes (then ``baseline`` is required)."""
    path = Path(path)
    if isinstance(rows_or_outcomes, dict):
        if baseline is None:
            raise AlignbenchError(f"{path}: ranking from outcomes needs the baseline's name")
        rows = ranking_rows(rows_or_outcomes, baseline, task=task, n_boot=n_boot, seed=seed)
    else:
        rows = list(rows_or_outcomes)
    if not rows:
        raise AlignbenchError(f"{path}: no ranking rows to write")
    atomic_write_text(path, _csv(rows, RANKING_COLUMNS))
    atomic_write_text(path.with_suffix(".md"), ranking_markdown(rows))
    return rows


def publish_ranking(vs_baseline: dict[str, dict[str, np.ndarray]], baseline: str, task: str, out_dir: str | Path,
                    run_dir: str | Path | None = None, pointwise: dict[str, dict[str, np.ndarray]] | None = None,
                    n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> list[dict]:
    """Write ``out_dir/<task>-ranking.csv`` (+ .md) and, with ``run_dir``, one pairwise-difference matrix per
    evaluator (``run_dir/pairwise-<evaluator>-vs-<baseline>.csv``). Returns the ranking rows.

    What the pipeline must pass (it computes all of it in ``evaluate_run`` and keeps none of it today):

    * ``vs_baseline``: ``{evaluator: {method_label: scores}}`` — for one ``baseline`` ("sft" or "dataset"),
      the per-prompt outcome of each method against it (``rm_judge.reward_outcomes``' first value, or a
      judge's order-combined score), averaged over seeds per prompt, over the test prompts in one order.
      The baseline itself is not a key.
    * ``pointwise`` (optional): ``{evaluator: {name: per-prompt reward of that method's outputs}}`` for
      evaluators that score outputs one at a time (reward model, gold reward), including the baseline
      under its own name (the reference outputs' rewards for "dataset"). When given for an evaluator, the
      fit uses the full round robin between every pair of methods instead of method-vs-baseline only."""
    outcomes = {}
    for evaluator, scores in vs_baseline.items():
        if pointwise and evaluator in pointwise:
            if baseline not in pointwise[evaluator]:
                raise AlignbenchError(f"ranking: pointwise scores for {evaluator} lack the baseline {baseline!r}")
            outcomes[evaluator] = round_robin_outcomes(pointwise[evaluator])
        else:
            outcomes[evaluator] = {(m, baseline): s for m, s in scores.items() if m != baseline}
    rows = ranking_rows(outcomes, baseline, task=task, n_boot=n_boot, seed=seed, ci=ci)
    write_ranking(rows, Path(out_dir) / f"{task}-ranking.csv")
    if run_dir is not None:
        for evaluator, scores in vs_baseline.items():
            matrix = pairwise_difference_matrix({m: s for m, s in scores.items() if m != baseline}, seed=seed, ci=ci)
            if matrix:
                write_pairwise_matrix(matrix, Path(run_dir) / f"pairwise-{evaluator}-vs-{baseline}.csv")
    return rows


def write_pairwise_matrix(rows: list[dict], path: str | Path) -> None:
    """The pairwise-difference rows as CSV (``method_a, method_b, difference, ci_low, ci_high, …``)."""
    atomic_write_text(Path(path), _csv(rows, ["method_a", "method_b", "n_prompts", "difference", "ci_low", "ci_high",
                                              "p_value_two_sided"]))
