"""`alignbench audit-judge`: which judge should I trust? (alpaca_eval's evaluator analysis, with intervals)

The judge sees human-labelled pairs (default: the shipped HH-RLHF harmless pairs, chosen vs
rejected) in both orders, through the same client, template, parser, retries and store as any
judging run. Figures, each with a percentile bootstrap interval over pairs:

* agreement with the human label: the both-order score of the human-chosen response
  (1 both orders agree with the human, ½ split or tie, 0 both disagree);
* position consistency: share of pairs, usable in both orders, given the same verdict on content;
* first-position rate: share of decisive verdicts that chose whichever response was shown first;
* length bias: on pairs where the human chose the *shorter* response, the both-order score of the
  longer one (a judge that always prefers length scores 100 %);
* unparseable rate: share of judgments with no usable verdict;
* judgments per second (those judged in this invocation, not cached), tokens used, and a price
  when the judge YAML states one.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..dirlock import exclusive_dir
from ..errors import AlignbenchError
from ..io import atomic_write_json, iter_jsonl
from ..stats import combine_orders, percentile_interval
from ..tasks.base import Pair
from ..tasks.hh import load_hh_harmless
from ..tasks.jsonl import read_pairs
from ..tasks.oracle import OracleSpec, load_oracle
from .judge_config import load_judge
from .llm_judge import judge_pairs
from .outputs import OutputRecord
from .simulated_judge import SimulatedJudgeSettings, simulated_judge_if_configured
from .store import JudgmentStore

CHOSEN, REJECTED = "human-chosen", "human-rejected"
SIMULATED = "simulated"  # --judge simulated: the simulated annotator on the oracle task's labelled pairs


def load_labelled_pairs(path: str | Path | None = None, limit: int | None = None):
    """Human-labelled pairs: the shipped HH-RLHF file (default), any file in HH's {chosen, rejected}
    conversation format, or alignbench's {prompt, chosen, rejected} JSONL."""
    if limit is not None and limit < 1:
        raise AlignbenchError(f"--limit must be at least 1, got {limit}")
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise AlignbenchError(f"{path}: file not found")
        _, first = next(iter_jsonl(path))
        if "prompt" in first:
            pairs = read_pairs(path)
            return pairs[:limit] if limit else pairs
    data = load_hh_harmless(str(path) if path else None, n_test=10**9, max_pairs=limit)
    return sorted(data.train_pairs + data.test_pairs, key=lambda p: p.prompt_id)


def ratio_with_interval(per_pair_num: np.ndarray, per_pair_den: np.ndarray, n_boot: int, seed: int, ci: float = 0.95,
                        scale: float = 100.0):
    """A ratio Σnum/Σden over pairs (×scale), with a percentile interval from resampling pairs (or any cluster)."""
    num, den = np.asarray(per_pair_num, float), np.asarray(per_pair_den, float)
    total = den.sum()
    if total == 0:
        return float("nan"), float("nan"), float("nan"), 0
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(num), size=(n_boot, len(num)))
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    lo, hi = percentile_interval(boot[~np.isnan(boot)], ci)
    return float(scale * num.sum() / total), scale * lo, scale * hi, int(total)


def audit_figures(first: np.ndarray, second: np.ndarray, chosen_is_shorter: np.ndarray, n_boot: int = 2000,
                  seed: int = 0, ci: float = 0.95) -> dict[str, tuple]:
    """Each figure as (percent, ci_low, ci_high, n it is computed over); outcomes from the chosen side."""
    first, second = np.asarray(first, float), np.asarray(second, float)
    combined = combine_orders(first, second)
    usable = ~np.isnan(combined)
    both = ~np.isnan(first) & ~np.isnan(second)
    chose_first = (first == 1).astype(float) + (second == 0).astype(float)
    decisive = np.isin(first, (0.0, 1.0)).astype(float) + np.isin(second, (0.0, 1.0)).astype(float)
    longer_wins = usable & chosen_is_shorter
    unparsed = np.isnan(first).astype(float) + np.isnan(second).astype(float)
    return {
        "agreement_with_human": ratio_with_interval(np.where(usable, combined, 0.0), usable, n_boot, seed, ci),
        "position_consistency": ratio_with_interval(both & (first == second), both, n_boot, seed + 1, ci),
        "first_position_rate": ratio_with_interval(chose_first, decisive, n_boot, seed + 2, ci),
        "length_bias": ratio_with_interval(np.where(longer_wins, 1 - np.nan_to_num(combined), 0.0), longer_wins, n_boot,
                                           seed + 3, ci),
        "unparseable_rate": ratio_with_interval(unparsed, np.full(len(first), 2.0), n_boot, seed + 4, ci),
    }


def audit_judge(judge: str, pairs_path: str | Path | None = None, limit: int | None = None,
                out_dir: str | Path | None = None,
                n_boot: int = 2000, seed: int = 0, base_url: str | None = None, progress=None) -> dict:
    """Judge the labelled pairs in both orders and return the audit (also written to ``out_dir/audit.json``).

    ``judge == "simulated"`` audits the simulated annotator (quickstart knobs) offline on the oracle task's
    test pairs, whose labels were drawn by Bradley–Terry on r* (``pairs_path`` must then be None)."""
    if judge == SIMULATED:
        return _audit_simulated(limit, out_dir, n_boot, seed, progress, pairs_path)
    return _audit(load_judge(judge, base_url), load_labelled_pairs(pairs_path, limit), out_dir, n_boot, seed, progress)


def _audit_simulated(limit, out_dir, n_boot, seed, progress, pairs_path) -> dict:
    if pairs_path is not None:
        raise AlignbenchError("audit-judge --judge simulated judges the oracle task's own "
                              "labelled pairs; leave out --pairs")
    if limit is not None and limit < 1:
        raise AlignbenchError(f"--limit must be at least 1, got {limit}")
    task = load_oracle(OracleSpec())
    pairs = [Pair(f"{p.prompt_id}-{i}", p.prompt, p.chosen, p.rejected) for i, p in enumerate(task.test_pairs)][:limit]
    with simulated_judge_if_configured(SimulatedJudgeSettings(), task) as (path,):
        return _audit(load_judge(path), pairs, out_dir, n_boot, seed, progress)


def _audit(cfg, pairs, out_dir, n_boot, seed, progress) -> dict:
    if cfg.mode != "pairwise":
        raise AlignbenchError(f"{cfg.source}: setting 'mode': audit-judge needs a pairwise judge, got {cfg.mode!r}")
    cfg = cfg.model_copy(update={"both_orders": True})
    if not pairs:
        raise AlignbenchError("audit-judge: no labelled pairs to judge")
    aligned = [(OutputRecord(p.prompt_id, p.prompt, p.chosen, CHOSEN),
                OutputRecord(p.prompt_id, p.prompt, p.rejected, REJECTED))
               for p in pairs]
    out_dir = Path(out_dir) if out_dir else Path("runs") / f"audit-{cfg.name}"
    with exclusive_dir(out_dir, "--out directory"):  # two audits on one directory would both pay
        return _audit_in(cfg, pairs, aligned, out_dir, n_boot, seed, progress)


def _audit_in(cfg, pairs, aligned, out_dir: Path, n_boot, seed, progress) -> dict:
    store = JudgmentStore(out_dir / "judgments.jsonl")
    t0 = time.time()
    first, second, info, requests = judge_pairs(aligned, cfg, store, CHOSEN, REJECTED, progress)
    seconds = time.time() - t0
    if info.failures and len(info.failures) == len(requests) - info.cached:
        raise AlignbenchError(f"judge {cfg.name}: every judgment failed ({len(info.failures)} failures, first: "
                              f"{info.failures[0]['error']}); see {store.path.stem}.failures.jsonl")
    chosen_is_shorter = np.array([len(p.chosen) < len(p.rejected) for p in pairs])
    figures = audit_figures(first, second, chosen_is_shorter, n_boot, seed)
    records = [store.get(r.key) or {} for r in {r.key: r for r in requests}.values()]
    prompt_tokens = sum(int(r.get("prompt_tokens") or 0) for r in records)
    completion_tokens = sum(int(r.get("completion_tokens") or 0) for r in records)
    result = {
        "judge": cfg.name, "identity": cfg.identity(), "template_sha": cfg.template_sha, "n_pairs": len(pairs),
        "n_judgments": len(requests), "n_cached": info.cached, "n_judged_now": info.judged,
        "n_request_failures": len(info.failures), "chosen_is_shorter": int(chosen_is_shorter.sum()),
        "figures": {k: {"percent": v[0], "ci_low": v[1], "ci_high": v[2], "n": v[3]} for k, v in figures.items()},
        "seconds": seconds, "judgments_per_second": info.judged / seconds if info.judged and seconds > 0 else None,
        "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        "price": cfg.price(prompt_tokens, completion_tokens), "seed": seed, "n_bootstrap": n_boot,
    }
    atomic_write_json(out_dir / "audit.json", result)
    return result


LABELS = {
    "agreement_with_human": "agreement with human label (both orders)",
    "position_consistency": "position consistency",
    "first_position_rate": "first-position rate (of decisive verdicts)",
    "length_bias": "longer wins when human chose shorter",
    "unparseable_rate": "unparseable verdicts",
}


def audit_table_lines(result: dict) -> list[str]:
    """The audit as plain text lines (the CLI prints them; the closing note quotes them)."""
    lines = [f"judge {result['judge']} ({result['identity']}, template {result['template_sha']}): "
             f"{result['n_pairs']} human-labelled pairs, {result['n_judgments']} judgments "
             f"({result['n_cached']} cached, {result['n_request_failures']} failed after retries)",
             f"{'figure':<44} {'%':>6}  {'95% interval':>15}  {'over':>6}"]
    for key, label in LABELS.items():
        f = result["figures"][key]
        cell = (
            f"{'–':>6}{'':18}"
            if f["percent"] != f["percent"]
            else f"{f['percent']:6.1f}  [{f['ci_low']:5.1f}, {f['ci_high']:5.1f}]"
        )
        lines.append(f"{label:<44} {cell:>24}  {f['n']:>6}")
    jps = result["judgments_per_second"]
    lines.append(f"{'judgments per second (judged now)':<44} {('%.1f' % jps) if jps else '– (all cached)':>6}")
    price = result["price"]
    lines.append(f"{'tokens used (prompt + completion)':<44} {result['prompt_tokens']} + {result['completion_tokens']}"
                 + (f"  price {price:.4f}" if price is not None else "  (no price in the judge YAML)"))
    return lines
