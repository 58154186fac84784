"""The one evaluation flow: outputs × baselines × evaluators → per-prompt comparisons → statistics → rows.

A full run, judge-only re-evaluation, the alpaca_eval import and a grid's seed summaries all end here:
:func:`compare` makes the per-prompt :class:`~alignbench.evaluation.evaluators.Comparison` s and
:func:`rows_from_comparisons` turns them into :class:`~alignbench.evaluation.schema.LeaderboardRow` s,
combining seeds one way (the prompt-level bootstrap of the per-prompt mean over seeds, at the configured level).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import AlignbenchError
from ..io import atomic_write_jsonl, iter_jsonl
from ..length_control import length_controlled_win_rate
from ..stats import across_seeds, combine_orders, consistency_rate, first_position_rate
from .comparison import Comparison
from .evaluators import Evaluator
from .outputs import OutputRecord, align_outputs
from .schema import LeaderboardRow, make_row

LC_MAX_BOOTSTRAP = 200  # the length-control GLM is refitted per resample: 200 is alpaca_eval's own count


@dataclass
class StatisticsSettings:
    n_bootstrap: int = 2000
    seed: int = 0
    ci: float = 0.95
    # The length-controlled columns of one method × baseline × evaluator from its comparisons; default: the
    # length-only GLM where lengths vary. The alpaca_eval import passes alpaca_eval's own GLM.
    length_control: Callable[[list[Comparison], "StatisticsSettings"], dict] | None = None


@dataclass
class RowContext:
    """The columns a row takes from where it was made rather than from its comparisons."""

    task: str
    run_id: str
    seeds: str  # the 'seed' column
    method_columns: Callable[[str], dict] = field(default=lambda method: {})  # e.g. a method's KL and exact metrics


def compare(outputs: dict[str, dict[int, list[OutputRecord]]], baselines: dict[str, dict[int, list[OutputRecord]]],
            evaluators: list[Evaluator], progress=None, names: dict[str, str] | None = None) -> list[Comparison]:
    """Every method × baseline × evaluator × seed, in that nesting order (a method is never compared with itself).

    ``outputs[method][seed]`` and ``baselines[baseline][seed]`` are output records; ``names`` gives a file
    name for each generator, used in alignment errors."""
    names = names or {}
    seen = [e.name for e in evaluators]
    twice = next((n for n in seen if seen.count(n) > 1), None)
    if twice:
        raise AlignbenchError(f"two evaluators are named {twice}: their rows would be mixed "
                              "(give one judge YAML another name)")
    jobs = []  # (evaluator, pairs, method, baseline, seed): every output is aligned before anything is judged
    for method, by_seed in outputs.items():
        for baseline, base_by_seed in baselines.items():
            if baseline == method:
                continue
            for evaluator in evaluators:
                for seed, records in by_seed.items():
                    if seed not in base_by_seed:
                        raise AlignbenchError(f"{baseline} has no outputs for seed {seed} (needed to judge {method})")
                    pairs = align_outputs(records, base_by_seed[seed], names.get(method, f"{method} outputs"),
                                          names.get(baseline, f"{baseline} outputs"))
                    jobs.append((evaluator, pairs, method, baseline, seed))
    for evaluator in evaluators:
        started = time.perf_counter()
        evaluator.prepare([job[1:] for job in jobs if job[0] is evaluator], progress)
        evaluator.seconds = time.perf_counter() - started
    comparisons = []
    for evaluator, pairs, method, baseline, seed in jobs:
        started = time.perf_counter()
        comparisons.append(evaluator.compare(pairs, method, baseline, seed, progress))
        evaluator.seconds += time.perf_counter() - started
    return comparisons


def judged_statistics(first: np.ndarray, second: np.ndarray | None, settings: StatisticsSettings | None = None) -> dict:
    """The statistic columns of one judged comparison from its two orders' per-prompt outcomes."""
    comp = Comparison("method", "baseline", "llm", "", 0, [str(i) for i in range(len(first))],
                      combine_orders(first, second),
                      first=np.asarray(first, float), second=None if second is None else np.asarray(second, float))
    return statistics([comp], settings or StatisticsSettings())


def rows_from_comparisons(
    comparisons: list[Comparison], settings: StatisticsSettings, context: RowContext
) -> list[LeaderboardRow]:
    """One row per method × baseline × evaluator (first-seen order), its seeds combined."""
    groups: dict[tuple, list[Comparison]] = {}
    for c in comparisons:
        groups.setdefault((c.method, c.baseline, c.evaluator), []).append(c)
    rows = []
    for (method, baseline, evaluator), comps in groups.items():
        values = {"task": context.task, "method": method, "evaluator": evaluator, "baseline": baseline,
                  "judge": comps[0].judge, "template_sha": comps[0].template_sha, "seed": context.seeds,
                  "run_id": context.run_id, **context.method_columns(method), **statistics(comps, settings)}
        rows.append(make_row(f"{method} vs {baseline} ({evaluator})", **values))
    return rows


def statistics(comps: list[Comparison], settings: StatisticsSettings) -> dict:
    """The statistic columns of one method × baseline × evaluator from its per-seed comparisons."""
    out = across_seeds([c.outcome for c in comps], settings.n_bootstrap, settings.seed, settings.ci,
                       graded=comps[0].graded)
    if all(c.method_reward is not None for c in comps):
        # a rating judge may leave gaps
        out["mean_reward"] = float(np.mean([np.nanmean(c.method_reward) for c in comps]))
    cuts = [c.n_truncated for c in comps]
    out["n_truncated"] = None if None in cuts else sum(cuts)
    if comps[0].first is not None:
        out.update(_order_diagnostics(comps))
    if settings.length_control is not None:
        out.update(settings.length_control(comps, settings))
    elif all(c.method_length is not None and c.baseline_length is not None for c in comps):
        out.update(_length_controlled(comps, settings))
    return out


def _order_diagnostics(comps: list[Comparison]) -> dict:
    """LLM judges: agreement across the two orders, the first-position rate and the one-order win rate."""
    first = np.concatenate([c.first for c in comps])
    both = all(c.second is not None for c in comps)
    second = np.concatenate([c.second if c.second is not None else np.full_like(c.first, np.nan) for c in comps])
    usable = first[~np.isnan(first)]
    return {
        "consistency": consistency_rate(first, second) if both else None,
        "first_position_rate": first_position_rate(first, second) if both else None,
        "one_order_win_rate": float(100 * usable.mean()) if len(usable) else float("nan"),
        "n_unparsed_verdicts": int(np.isnan(first).sum() + (np.isnan(second).sum() if both else 0)),
        "n_request_failures": sum(c.n_request_failures or 0 for c in comps),
    }


def _length_controlled(comps: list[Comparison], settings: StatisticsSettings) -> dict:
    """alpaca_eval 2.0's length-controlled win rate, where the length difference varies at all (on the oracle
    every response has the same length and there is nothing to control for)."""
    scores = np.concatenate([c.outcome for c in comps])
    mine = np.concatenate([c.method_length for c in comps])
    theirs = np.concatenate([c.baseline_length for c in comps])
    diff = mine - theirs
    if np.all(diff == diff[0]) or np.isnan(scores).all():
        return {}
    lc = length_controlled_win_rate(scores, mine, theirs, n_boot=min(settings.n_bootstrap, LC_MAX_BOOTSTRAP),
                                    seed=settings.seed, ci=settings.ci)
    return {**{k: lc[k] for k in ("lc_win_rate", "lc_ci_low", "lc_ci_high")}, "lc_method": "length-only"}


def evaluate(outputs, baselines, evaluators: list[Evaluator], settings: StatisticsSettings, context: RowContext,
             progress=None, names: dict[str, str] | None = None) -> tuple[list[LeaderboardRow], list[Comparison]]:
    """Judge, then summarise: the rows and the per-prompt comparisons behind them."""
    comparisons = compare(outputs, baselines, evaluators, progress, names)
    return rows_from_comparisons(comparisons, settings, context), comparisons


def save_comparisons(path: Path, comparisons: list[Comparison]) -> None:
    """``comparisons.jsonl`` beside ``rows.json``: what rankings and seed summaries are rebuilt from."""
    atomic_write_jsonl(path, (c.to_json() for c in comparisons))


def load_comparisons(path: Path) -> list[Comparison]:
    if not Path(path).exists():
        raise AlignbenchError(f"{Path(path).parent}: no comparisons.jsonl (made by a version before "
                              "per-prompt results were kept; re-run it to aggregate its seeds)")
    return [Comparison.from_json(rec) for _, rec in iter_jsonl(path)]
