"""Length-controlled win rate (alpaca_eval 2.0, Dubois et al. 2024, "Length-Controlled AlpacaEval").

alpaca_eval (src/alpaca_eval/metrics/glm_winrate.py, GLM "length_controlled_v1") fits, per model, a
logistic GLM of the judge's preference p ∈ [0, 1] (soft labels: ties ½) on

    tanh(std_delta_len) + instruction_difficulty + not_gamed_baseline − 1

with ``std_delta_len = (len(baseline output) − len(model output)) / std(that difference)`` in characters,
and reports the mean predicted preference with ``std_delta_len`` set to 0, ×100. Imported alpaca_eval
annotations get exactly that GLM (:mod:`alignbench.evaluation.alpaca_eval_lc`); this module holds

* the length-only GLM of judged runs: for each method, logit p = θ + γ · tanh(δ_i / sd) (a weak L2
  penalty, 1e-3, fitted with scipy's L-BFGS), predicted at δ = 0 and averaged over prompts; with several
  methods on shared prompts (:func:`length_controlled_win_rates`), a per-prompt term d_i fitted jointly
  (a N(0, 1) prior, in logits);
* :func:`estimate_prompt_difficulty`: alpaca_eval's instruction-difficulty table re-estimated the way it was
  first made, jointly across models (logit p_mi = θ_m + γ_m · tanh(δ_mi / sd_m) + d_i), for users without
  alpaca_eval's ``df_gamed.csv``.

Intervals: percentile bootstrap over prompts, refitting the GLM on each resample.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from .errors import AlignbenchError

COEF_PENALTY = 1e-3
PROMPT_PENALTY = 1.0
# Difficulty estimated for alpaca_eval's GLM: alpaca_eval fitted its table with per-instruction terms under an L1
# penalty whose C cross-validation chose (weak); a N(0, 10) prior is as weak. On 55 alpaca_eval models the LC
# values barely move between priors 0.01 and 0.3 (median |Δ| to the published LC 0.56 both ends; 0.69 at 1).
DIFFICULTY_PENALTY = 0.1


def _features(model_lengths: np.ndarray, baseline_lengths: np.ndarray) -> np.ndarray:
    delta = np.asarray(baseline_lengths, float) - np.asarray(model_lengths, float)
    sd = delta.std(ddof=1) if len(delta) > 1 else 0.0
    return np.tanh(delta / sd) if sd > 0 else np.zeros_like(delta)


def _fit(y: np.ndarray, x: np.ndarray, weight: np.ndarray, prompt_term: bool, start: np.ndarray | None = None,
         prompt_penalty: float = PROMPT_PENALTY) -> np.ndarray:
    """MAP fit. ``y, x, weight``: ``[K, n]`` soft preferences, tanh features, per-cell weights (0 = missing).
    Parameters packed as θ (K), γ (K), d (n if ``prompt_term``)."""
    K, n = y.shape

    def loss(params):
        theta, gamma = params[:K], params[K:2 * K]
        d = params[2 * K:] if prompt_term else np.zeros(n)
        z = theta[:, None] + gamma[:, None] * x + d[None, :]
        nll = -np.sum(weight * (y * log_expit(z) + (1 - y) * log_expit(-z)))
        resid = weight * (expit(z) - y)  # d nll / d z
        grad = np.concatenate([resid.sum(1), (resid * x).sum(1)] + ([resid.sum(0)] if prompt_term else []))
        pen = COEF_PENALTY * np.concatenate([np.ones(2 * K), np.full(n, prompt_penalty / COEF_PENALTY)] if prompt_term
                                            else [np.ones(2 * K)])
        return nll + 0.5 * np.sum(pen * params ** 2), grad + pen * params

    size = 2 * K + (n if prompt_term else 0)
    x0 = np.zeros(size) if start is None else start
    res = minimize(loss, x0, jac=True, method="L-BFGS-B", options={"maxiter": 500, "gtol": 1e-8})
    return res.x


def estimate_prompt_difficulty(scores: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Per-prompt difficulty d_i (logits) fitted jointly over models: ``scores[m, i]`` soft preferences (NaN:
    not judged), ``features[m, i]`` tanh of the standardised length difference. Every prompt needs a verdict."""
    scores = np.asarray(scores, float)
    weight = (~np.isnan(scores)).astype(float)
    K = scores.shape[0]
    params = _fit(np.where(weight > 0, scores, 0.5), np.asarray(features, float), weight, True,
                  prompt_penalty=DIFFICULTY_PENALTY)
    return params[2 * K:]


def _predict(params: np.ndarray, K: int, n: int, prompt_term: bool, weight: np.ndarray) -> np.ndarray:
    """Mean predicted preference at zero length difference, per method, over the prompts it was judged on."""
    theta = params[:K]
    d = params[2 * K:] if prompt_term else np.zeros(n)
    p = expit(theta[:, None] + d[None, :])
    present = weight > 0
    return (p * present).sum(1) / present.sum(1)


def length_controlled_win_rates(scores: dict[str, np.ndarray], model_lengths: dict[str, np.ndarray],
                                baseline_lengths: np.ndarray | dict[str, np.ndarray], n_boot: int = 200, seed: int = 0,
                                ci: float = 0.95, prompt_term: bool | None = None) -> dict[str, dict]:
    """``{method: {lc_win_rate, lc_ci_low, lc_ci_high, win_rate, length_coef, n_prompts}}`` in percent.

    ``scores[m][i]``: the method's outcome against the baseline on prompt i (1 / ½ / 0 / NaN), all methods
    on the same prompts in the same order; lengths in characters (alpaca_eval's unit) or tokens.
    ``baseline_lengths``: one array, or one per method when the baseline outputs differ by method.
    ``prompt_term``: the shared per-prompt term; by default on when two or more methods are given."""
    names = list(scores)
    if not names:
        raise AlignbenchError("length control: no methods given")
    y = np.vstack([np.asarray(scores[m], float) for m in names])
    K, n = y.shape
    for m in names:
        if m not in model_lengths or len(model_lengths[m]) != n:
            raise AlignbenchError(f"length control: method {m!r} needs one output length per prompt ({n})")
    base = {m: baseline_lengths[m] if isinstance(baseline_lengths, dict) else baseline_lengths for m in names}
    if any(len(base[m]) != n for m in names):
        raise AlignbenchError(f"length control: baseline lengths must cover the same {n} prompts")
    valid = ~np.isnan(y)
    if not valid.any(axis=1).all():
        raise AlignbenchError("length control: a method has no usable verdict")
    prompt_term = K > 1 if prompt_term is None else prompt_term
    x = np.vstack([_features(model_lengths[m], base[m]) for m in names])
    y_filled = np.where(valid, y, 0.5)
    weight = valid.astype(float)
    point = _fit(y_filled, x, weight, prompt_term)
    lc = _predict(point, K, n, prompt_term, weight)
    boot = np.empty((n_boot, K))
    rng = np.random.default_rng(seed)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        while not weight[:, idx].any(axis=1).all():  # redraw a resample that lost a method's every verdict
            idx = rng.integers(0, n, size=n)
        w_b = weight[:, idx]
        params = _fit(y_filled[:, idx], x[:, idx], w_b, prompt_term,
                      start=np.concatenate([point[:2 * K], point[2 * K:][idx]]) if prompt_term else point[:2 * K])
        boot[b] = _predict(params, K, n, prompt_term, w_b)
    alpha = (1 - ci) / 2
    out = {}
    for k, m in enumerate(names):
        lo, hi = (np.quantile(boot[:, k], [alpha, 1 - alpha]) if n_boot else (lc[k], lc[k]))
        out[m] = {"lc_win_rate": float(100 * lc[k]), "lc_ci_low": float(100 * lo), "lc_ci_high": float(100 * hi),
                  "win_rate": float(100 * np.nanmean(y[k])), "length_coef": float(point[K + k]),
                  "n_prompts": int(valid[k].sum())}
    return out


def length_controlled_win_rate(scores: np.ndarray, model_lengths: np.ndarray, baseline_lengths: np.ndarray,
                               n_boot: int = 200, seed: int = 0, ci: float = 0.95) -> dict:
    """One method against its baseline: alpaca_eval's per-model GLM without the instruction-difficulty term."""
    return length_controlled_win_rates({"method": scores}, {"method": model_lengths}, baseline_lengths,
                                       n_boot=n_boot, seed=seed, ci=ci)["method"]


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


def lc_from_annotations(annotations: list[dict], n_boot: int = 200, seed: int = 0) -> dict[str, dict]:
    """LC win rate per ``generator_2`` of alpaca_eval ``annotations.json`` records (``output_1`` = baseline,
    ``output_2`` = model, lengths in characters), one GLM per model as alpaca_eval does."""
    by_model: dict[str, list[dict]] = {}
    for i, a in enumerate(annotations):
        for k in ("output_1", "output_2"):
            if not isinstance(a.get(k), str):
                raise AlignbenchError(f"annotation {i}: length control needs the string field '{k}'")
        by_model.setdefault(a["generator_2"], []).append(a)
    out = {}
    for model, recs in by_model.items():
        scores = preference_scores(recs)
        out[model] = length_controlled_win_rate(scores, np.array([len(a["output_2"]) for a in recs]),
                                                np.array([len(a["output_1"]) for a in recs]), n_boot=n_boot, seed=seed)
    return out
