"""alpaca_eval interop: read ``annotations.json`` and compute win rates exactly as alpaca_eval does.

alpaca_eval (src/alpaca_eval/metrics/helpers.py, ``BaseScoringRule.describe_head2head``): draws
encoded as 0 become 1.5; values outside [1, 2] (and missing ones) are dropped; the win rate is
mean(preference − 1)·100 and the standard error is pandas' ``sem`` (ddof = 1) of that, ·100.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import AlignbenchError
from ..safe_yaml import load_json_file
from .evaluate import RowContext, StatisticsSettings, rows_from_comparisons
from .evaluators import Comparison


def load_annotations(path: str | Path) -> list[dict]:
    path = Path(path)
    data = load_json_file(path, "annotations file")
    if not isinstance(data, list) or not data:
        raise AlignbenchError(f"{path}: expected a non-empty JSON list of annotations")
    for i, a in enumerate(data):
        if not isinstance(a, dict):
            raise AlignbenchError(f"{path}: annotation {i} is not an object")
        for k in ("generator_1", "generator_2"):
            if not isinstance(a.get(k), str):
                raise AlignbenchError(f"{path}: annotation {i}: missing or non-string field '{k}'")
        pref = a.get("preference")
        if pref is not None and (isinstance(pref, bool) or not isinstance(pref, (int, float))):
            raise AlignbenchError(f"{path}: annotation {i}: 'preference' must be a number or null, got {type(pref).__name__}")
    return data


def preference_scores(annotations: list[dict]) -> np.ndarray:
    """preference − 1 in [0, 1] (draws 0 → ½); NaN where alpaca_eval would drop the annotation."""
    out = []
    for a in annotations:
        p = a.get("preference")
        if p is None or (isinstance(p, float) and math.isnan(p)):
            out.append(np.nan)
            continue
        p = 1.5 if p == 0 else float(p)
        out.append(p - 1 if 1 <= p <= 2 else np.nan)
    return np.array(out, dtype=float)


def comparisons_from_annotations(annotations: list[dict], path: str | Path) -> list[Comparison]:
    """One comparison per (generator_1 = baseline, generator_2 = method), in sorted order; lengths in
    characters where every annotation carries both outputs (for the length-controlled win rate)."""
    rows = []
    for baseline, method in sorted({(a["generator_1"], a["generator_2"]) for a in annotations}):
        sub = [a for a in annotations if (a["generator_1"], a["generator_2"]) == (baseline, method)]
        scores = preference_scores(sub)
        if np.isnan(scores).all():
            raise AlignbenchError(f"{path}: {method} vs {baseline}: no annotation has a usable preference")
        with_outputs = all(isinstance(a.get("output_1"), str) and isinstance(a.get("output_2"), str) for a in sub)
        rows.append(Comparison(
            method, baseline, "alpaca_eval", "alpaca_eval annotations", 0,
            [str(a.get("instruction", i)) for i, a in enumerate(sub)], scores, graded=True,
            method_length=np.array([len(a["output_2"]) for a in sub], float) if with_outputs else None,
            baseline_length=np.array([len(a["output_1"]) for a in sub], float) if with_outputs else None,
        ))
    return rows


def rows_from_annotations(path: str | Path, seed: int = 0, n_bootstrap: int = 2000) -> list[dict]:
    """Leaderboard rows of an alpaca_eval ``annotations.json``: alpaca_eval's win rate and standard error,
    a prompt-bootstrap interval and the length-controlled win rate, through the one evaluation flow."""
    comparisons = comparisons_from_annotations(load_annotations(path), path)
    context = RowContext(task=Path(path).stem, run_id=str(path), seeds=str(seed))
    return [r.as_dict() for r in rows_from_comparisons(comparisons, StatisticsSettings(n_bootstrap, seed), context)]
