"""alpaca_eval interop: read ``annotations.json`` and compute win rates exactly as alpaca_eval does.

alpaca_eval (src/alpaca_eval/metrics/helpers.py, ``BaseScoringRule.describe_head2head``): draws
encoded as 0 become 1.5; values outside [1, 2] (and missing ones) are dropped; the win rate is
mean(preference − 1)·100 and the standard error is pandas' ``sem`` (ddof = 1) of that, ·100.

The length-controlled win rate is alpaca_eval's GLM (:mod:`.alpaca_eval_lc`), its instruction difficulty
from one of three places, named in the ``lc_method`` column: alpaca_eval's own ``df_gamed.csv``
(``alpaca_eval``: exact), a joint fit over every model imported together against the same baseline
(``estimated``), or none (``length-only``: one model alone).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import AlignbenchError
from ..safe_yaml import load_json_file
from ..length_control import estimate_prompt_difficulty, preference_scores
from .alpaca_eval_lc import alpaca_eval_lc, glm_features, load_gamed, soft_preference
from .evaluate import LC_MAX_BOOTSTRAP, RowContext, StatisticsSettings, rows_from_comparisons
from .comparison import Comparison


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
            raise AlignbenchError(f"{path}: annotation {i}: 'preference' must be a number or "
                                  f"null, got {type(pref).__name__}")
    return data


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


def _groups(annotations: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """(baseline = generator_1, method = generator_2) → its annotations, in file order (alpaca_eval's positions)."""
    out: dict[tuple[str, str], list[dict]] = {}
    for a in annotations:
        out.setdefault((a["generator_1"], a["generator_2"]), []).append(a)
    return out


def _has_outputs(recs: list[dict]) -> bool:
    return all(isinstance(a.get("output_1"), str) and isinstance(a.get("output_2"), str) for a in recs)


def _lengths_vary(recs: list[dict]) -> bool:
    """The GLM standardises the length difference: with one value throughout there is nothing to control for."""
    _, mine, theirs = _lc_inputs(recs)
    return len(recs) > 1 and np.ptp(mine - theirs) > 0


def _lc_inputs(recs: list[dict]):
    return ([a.get("preference") for a in recs], np.array([len(a["output_2"]) for a in recs], float),
            np.array([len(a["output_1"]) for a in recs], float))


def _estimated_difficulty(groups: list[list[dict]]) -> list[np.ndarray]:
    """Instruction difficulty fitted jointly over the models' annotations (one baseline), joined on the
    instruction text; per group, the difficulty of each of its annotations."""
    keys: dict[str, int] = {}
    for recs in groups:
        for a in recs:
            keys.setdefault(str(a.get("instruction")), len(keys))
    y = np.full((len(groups), len(keys)), np.nan)
    x = np.zeros_like(y)
    for k, recs in enumerate(groups):
        cols = [keys[str(a.get("instruction"))] for a in recs]
        prefs, mine, theirs = _lc_inputs(recs)
        y[k, cols] = soft_preference(prefs)
        x[k, cols] = glm_features(mine, theirs, None)[:, 0]
    d = estimate_prompt_difficulty(y, x)
    return [d[[keys[str(a.get("instruction"))] for a in recs]] for recs in groups]


def length_controlled_columns(files: dict[str, list[dict]], lc_weights: str | Path | None = None, n_boot: int = 200,
                              seed: int = 0) -> dict[tuple[str, str, str], dict]:
    """(file, baseline, method) → the LC columns of every annotation group that carries both outputs.

    With ``lc_weights`` (a directory holding alpaca_eval's ``df_gamed.csv``): alpaca_eval's exact
    ``length_controlled_v1``. Otherwise, where two or more models against one baseline are imported together,
    their instruction difficulty is estimated jointly; a model alone gets the length-only GLM."""
    gamed = load_gamed(lc_weights) if lc_weights is not None else None
    todo = {(f, b, m): recs for f, annotations in files.items() for (b, m), recs in _groups(annotations).items()
            if _has_outputs(recs) and (b == m or _lengths_vary(recs))}
    difficulty, method = {}, {}
    for key, recs in todo.items():
        if gamed is not None:
            difficulty[key], method[key] = (
                gamed.difficulty_at(len(recs), f"{key[0]}: {key[2]} vs {key[1]}"),
                "alpaca_eval",
            )
    for baseline in {b for _, b, _ in todo}:
        keys = [k for k in todo if k[1] == baseline and k[2] != baseline and k not in difficulty]
        if len(keys) >= 2:
            for k, d in zip(keys, _estimated_difficulty([todo[k] for k in keys])):
                difficulty[k], method[k] = d, "estimated"
    out = {}
    for key, recs in todo.items():
        if key[2] == key[1]:  # the baseline against itself: 50 by construction, as in alpaca_eval
            peers = {method.get(k, "length-only") for k in todo if k[1] == key[1] and k[2] != key[1]}
            out[key] = {"lc_win_rate": 50.0, "lc_std_error": 0.0, "lc_ci_low": 50.0, "lc_ci_high": 50.0,
                        "lc_method": method.get(key) or (peers.pop() if len(peers) == 1 else "length-only")}
            continue
        prefs, mine, theirs = _lc_inputs(recs)
        if np.isnan(soft_preference(prefs)).all():
            continue
        lc = alpaca_eval_lc(prefs, mine, theirs, difficulty.get(key), gamed,
                            n_boot=n_boot, seed=seed)
        out[key] = {**{k: lc[k] for k in ("lc_win_rate", "lc_std_error", "lc_ci_low", "lc_ci_high")},
                    "lc_method": method.get(key, "length-only")}
    return out


def rows_from_annotation_files(paths: list[str | Path], seed: int = 0, n_bootstrap: int = 2000,
                               lc_weights: str | Path | None = None, comparisons: list | None = None) -> list[dict]:
    """Leaderboard rows of alpaca_eval ``annotations.json`` files imported together: alpaca_eval's win rate and
    standard error, a prompt-bootstrap interval and the length-controlled win rate, through the one evaluation flow.
    ``comparisons``: a list the per-prompt comparisons behind the rows are appended to."""
    files = {str(p): load_annotations(p) for p in paths}
    lc = length_controlled_columns(files, lc_weights, min(n_bootstrap, LC_MAX_BOOTSTRAP), seed)
    rows = []
    for path, records in files.items():
        columns = lambda comps, _settings, path=path: lc.get((path, comps[0].baseline, comps[0].method), {})  # noqa: E731
        settings = StatisticsSettings(n_bootstrap, seed, length_control=columns)
        context = RowContext(task=Path(path).stem, run_id=path, seeds=str(seed))
        comps = comparisons_from_annotations(records, path)
        if comparisons is not None:
            comparisons.extend(comps)
        rows.extend(r.as_dict() for r in rows_from_comparisons(comps, settings, context))
    return rows


def rows_from_annotations(path: str | Path, seed: int = 0, n_bootstrap: int = 2000,
                          lc_weights: str | Path | None = None) -> list[dict]:
    """Rows of one ``annotations.json`` (see :func:`rows_from_annotation_files`)."""
    return rows_from_annotation_files([path], seed, n_bootstrap, lc_weights)
