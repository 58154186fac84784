"""alpaca_eval 2.0's length-controlled win rate (GLM ``length_controlled_v1``), computed as alpaca_eval computes it.

alpaca_eval (``src/alpaca_eval/metrics/glm_winrate.py``) fits, for one model against its baseline, a logistic
regression of the soft preference y = preference − 1 (draws 0 → ½) on three features, no intercept:

    tanh(std_delta_len),  instruction_difficulty,  not_gamed_baseline (1.0)

``std_delta_len`` = (len(baseline output) − len(model output)) / sd of that difference (characters, ddof 1).
The training rows are the model's annotations (weight 1) after the rows of ``df_gamed.csv`` (annotations of the
baseline's own verbose and concise variants, ``not_gamed_baseline`` 0, weight 0.2 / 2). Soft labels are
fitted by duplicating each row (label 1 weighted y, label 0 weighted 1 − y); an L1 penalty (liblinear,
random state 123) with C chosen among 10 values by 5-fold GroupKFold cross-validation (a row's two copies
stay together) scored by the weighted soft log-loss. LC = mean predicted preference with
``std_delta_len`` = 0, × 100; alpaca_eval's ``lc_standard_error`` is the sem of those predictions × 100.

``instruction_difficulty`` comes from ``df_gamed.csv``: its first row for each ``index``, looked up by the
annotation's position in the model's list (alpaca_eval's own lookup), or from an estimate
(:mod:`alignbench.evaluation.difficulty`) where the user has no ``df_gamed.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AlignbenchError

GAMED_FILE = "df_gamed.csv"
GAMED_COLUMNS = ("index", "preference", "std_delta_len", "instruction_difficulty", "not_gamed_baseline")
GAMED_WEIGHT = 0.2 / 2  # regularize_to_baseline_lambda, shared by the two gamed baselines
N_SPLITS = 5
RANDOM_STATE = 123


@dataclass
class GamedRows:
    """``df_gamed.csv``: the regularising rows and the difficulty table alpaca_eval reads from it."""

    features: np.ndarray  # [n, 3] in the GLM's column order
    preference: np.ndarray  # soft preference in [0, 1]
    weight: np.ndarray  # 0.2 / 2 for a gamed row (1 for any row marked not gamed)
    difficulty: pd.Series  # label (the row of the first occurrence of each index) → difficulty
    path: Path

    def difficulty_at(self, n: int, source: str) -> np.ndarray:
        """Difficulty of annotations 0 … n − 1, by position, as alpaca_eval looks it up."""
        missing = [i for i in range(n) if i not in self.difficulty.index]
        if missing:
            raise AlignbenchError(f"{source}: annotation {missing[0]} has no instruction difficulty in {self.path} "
                                  "(alpaca_eval looks it up by the annotation's position; the table "
                                  f"covers {len(self.difficulty)})")
        return self.difficulty.loc[list(range(n))].to_numpy(float)


def load_gamed(directory: str | Path) -> GamedRows:
    """``DIR/df_gamed.csv`` (alpaca_eval downloads it from its Hugging Face dataset ``tatsu-lab/alpaca_eval``)."""
    directory = Path(directory)
    path = directory / GAMED_FILE if directory.is_dir() else directory
    if not path.is_file():
        raise AlignbenchError(f"--lc-weights {directory}: no {GAMED_FILE} there (alpaca_eval's GLM inputs, from the "
                              "Hugging Face dataset tatsu-lab/alpaca_eval)")
    try:
        df = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as e:
        raise AlignbenchError(f"{path}: not a CSV file ({' '.join(str(e).split())[:120]})") from None
    missing = [c for c in GAMED_COLUMNS if c not in df.columns]
    if missing:
        raise AlignbenchError(f"{path}: missing column(s) {', '.join(missing)} (alpaca_eval's df_gamed.csv "
                              f"has {', '.join(GAMED_COLUMNS)})")
    for col in ("preference", "std_delta_len", "instruction_difficulty"):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna() if col == "preference" else values.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise AlignbenchError(f"{path}: row {row + 2}: column {col} is not a number ({df[col].iloc[row]!r})")
        df[col] = values
    flag = df["not_gamed_baseline"].map({True: 1.0, False: 0.0, "True": 1.0, "False": 0.0})
    if flag.isna().any():
        row = int(np.flatnonzero(flag.isna().to_numpy())[0])
        raise AlignbenchError(f"{path}: row {row + 2}: column not_gamed_baseline must be True or False")
    flag = flag.to_numpy(float)
    features = np.column_stack([np.tanh(df["std_delta_len"].to_numpy(float)),
                                df["instruction_difficulty"].to_numpy(float), flag])
    preference = df["preference"].to_numpy(float)  # already the soft preference in [0, 1]: used as it is
    weight = flag + GAMED_WEIGHT * (1 - flag)
    return GamedRows(features, preference, weight, df.drop_duplicates("index")["instruction_difficulty"].astype(float),
                     path)


def glm_features(model_length: np.ndarray, baseline_length: np.ndarray, difficulty: np.ndarray | None) -> np.ndarray:
    """The model's rows: tanh(std_delta_len), difficulty, not_gamed_baseline = 1. Without a difficulty, no
    such column: alpaca_eval's ``length_controlled_minimal`` GLM (liblinear's path changes with a zero column)."""
    delta = pd.Series(np.asarray(baseline_length, float) - np.asarray(model_length, float))
    std_delta = delta / delta.std()
    middle = [] if difficulty is None else [np.asarray(difficulty, float)]
    return np.column_stack([np.tanh(std_delta.to_numpy()), *middle, np.ones(len(delta))])


def soft_preference(preferences) -> np.ndarray:
    """alpaca_eval's y for the GLM: ``preference.replace({0: 1.5}) − 1``, NaN kept (those rows are not fitted)."""
    return pd.Series(preferences, dtype=float).replace({0.0: 1.5}).to_numpy() - 1


def _soft_log_loss(y_true, y_pred, true_prob, true_sample_weight=None):
    """The CV score: weighted soft log-loss over both copies of each row (alpaca_eval's ``logloss_continuous``)."""
    target = np.where(y_true == 1, true_prob, 1 - true_prob)
    p = np.clip(y_pred, 1e-15, 1 - 1e-15)
    loss = target * np.log(p) + (1 - target) * np.log(1 - p)
    if true_sample_weight is not None:
        loss = loss * true_sample_weight
    return -np.mean(loss)


def _duplicated(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None):
    """Soft labels as two weighted copies: label 1 then label 0, rows in order, groups = the row."""
    n = len(y)
    true_prob = np.concatenate([y, 1 - y])
    true_weight = None if weight is None else np.concatenate([weight, weight])
    fit_weight = true_prob if true_weight is None else true_prob * true_weight
    return (np.vstack([x, x]), np.concatenate([np.ones(n), np.zeros(n)]).astype(int), fit_weight, true_prob,
            true_weight, np.concatenate([np.arange(n), np.arange(n)]))


def _l1(cls, cv: bool) -> dict:
    """The L1 penalty in the spelling the installed sklearn takes (1.8 deprecated ``penalty`` for ``l1_ratio(s)``)."""
    if getattr(cls(), "penalty", None) != "deprecated":
        return {"penalty": "l1"}
    return {"l1_ratios": (1.0,), "use_legacy_attributes": False} if cv else {"l1_ratio": 1.0}


def _l1_model(cv: bool, C: float = 1.0):
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV  # lazy: a second's import for one command

    kwargs = dict(random_state=RANDOM_STATE, dual=False, solver="liblinear", fit_intercept=False)
    if not cv:
        return LogisticRegression(C=C, **kwargs, **_l1(LogisticRegression, False))
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GroupKFold

    scorer = make_scorer(_soft_log_loss, response_method="predict_proba", greater_is_better=False)
    scorer = scorer.set_score_request(true_sample_weight=True, true_prob=True)
    return LogisticRegressionCV(cv=GroupKFold(n_splits=N_SPLITS), scoring=scorer, **kwargs,
                                **_l1(LogisticRegressionCV, True))


def fit_glm(x: np.ndarray, y: np.ndarray, gamed: GamedRows | None, C: float | None = None):
    """Fit on the gamed rows (if any) then the model's rows; rows with NaN y are left out. ``C``: fixed
    (a bootstrap refit), else chosen by cross-validation. Returns the fitted sklearn model."""
    import sklearn

    weight = None
    if gamed is not None:
        x = np.vstack([gamed.features, x])
        weight = np.concatenate([gamed.weight, np.ones(len(y))])
        y = np.concatenate([gamed.preference, y])
    keep = ~np.isnan(y)
    x, y = x[keep], y[keep]
    weight = None if weight is None else weight[keep]
    X, labels, fit_weight, true_prob, true_weight, groups = _duplicated(x, y, weight)
    with sklearn.config_context(enable_metadata_routing=True):
        model = _l1_model(C is None, C if C is not None else 1.0)
        model.set_fit_request(sample_weight=True)
        if C is None:
            model.fit(X, labels, sample_weight=fit_weight, groups=groups, true_sample_weight=true_weight,
                      true_prob=true_prob)
        else:
            model.fit(X, labels, sample_weight=fit_weight)
    return model


def predicted_preferences(model, x: np.ndarray) -> np.ndarray:
    """Per-prompt preference predicted at zero length difference (``x``: the prompts' features)."""
    return model.predict_proba(np.column_stack([np.zeros(len(x)), x[:, 1:]]))[:, 1]


def alpaca_eval_lc(preferences, model_length, baseline_length, difficulty: np.ndarray | None, gamed: GamedRows | None,
                   n_boot: int = 200, seed: int = 0, ci: float = 0.95) -> dict:
    """``{lc_win_rate, lc_std_error, lc_ci_low, lc_ci_high, length_coef}`` (percent) of one model;
    ``difficulty`` None: the length-only GLM (``length_controlled_minimal``, no gamed rows).

    The point value and ``lc_std_error`` are alpaca_eval's ``length_controlled_winrate`` and
    ``lc_standard_error``. The interval is alignbench's: a percentile bootstrap over prompts, each resample
    refitted at the C chosen on all prompts (the difficulty and the gamed rows held fixed)."""
    y = soft_preference(preferences)
    x = glm_features(model_length, baseline_length, difficulty)
    model = fit_glm(x, y, gamed)
    pred = predicted_preferences(model, x)
    C = float(np.ravel(model.C_)[0])
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if np.isnan(y[idx]).all():
            continue
        boot.append(predicted_preferences(fit_glm(x[idx], y[idx], gamed, C=C), x[idx]).mean())
    alpha = (1 - ci) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha]) if boot else (np.nan, np.nan)
    return {"lc_win_rate": float(100 * pred.mean()), "lc_std_error": float(100 * pd.Series(pred).sem()),
            "lc_ci_low": float(100 * lo), "lc_ci_high": float(100 * hi), "length_coef": float(model.coef_[0][0])}
