"""Arena-Hard-Auto interop: its judgment files as existing verdicts, and its score computed as its
``show_result.py`` (v0.1, Bradley–Terry) computes it.

A judgment file (``data/<bench>/model_judgment/<judge>/<model>.jsonl``) holds one record per question:
``{question_id | uid, model, judge, games: [game 1, game 2]}``; game 1 shows the baseline as A and the model
as B, game 2 the other way round; each game's ``score`` is one of ``A>>B, A>B, A=B, B>A, B>>A`` (null: the
judge's reply had no verdict; arena-hard drops that game, so does this).

Score (arena-hard ``show_result.py`` with ``utils_math.compute_mle_elo``): every game is a battle between
the baseline and the model, a strong verdict counted ``multiplier`` (3) times, a tie one win for each side;
Bradley–Terry by unpenalised logistic regression (sklearn, tol 1e-8) on the battles duplicated, ratings
400 · coef + 1000 anchored at the baseline = 1000; the score is the predicted win rate against the baseline
(× 100), its 95% interval the 2.5–97.5 percentiles over ``num_rounds`` (100) resamples of the battles. The
bootstrap is seeded here (arena-hard's is not), so the interval matches arena-hard's in distribution, not
digit for digit; arena-hard also rounds the score to 2 decimals when printing.

The per-question outcomes also go through alignbench's flow (``win_rate``, its prompt-bootstrap interval and
``consistency`` across the two games), strong and weak verdicts alike counting as a win there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AlignbenchError, where
from ..io import iter_jsonl
from ..stats import combine_orders
from .comparison import Comparison
from .evaluate import RowContext, StatisticsSettings, rows_from_comparisons

LABELS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
DEFAULT_BASELINE = "gpt-4-0314"  # arena-hard v0.1's
SCALE, BASE, INIT_RATING = 400, 10, 1000


@dataclass
class Judgments:
    """One judgment file: the model, and per question its two games' labels (None: no verdict)."""

    path: Path
    model: str
    judge: str
    baseline: str
    question_ids: list[str]
    games: list[tuple[str | None, str | None]]


def _label(game, path, lineno, k) -> str | None:
    if not isinstance(game, dict) or "score" not in game:
        raise AlignbenchError(f"{where(path, lineno)}: game {k + 1} has no 'score' (an Arena-Hard judgment game is "
                              "{user_prompt, judgment, score})")
    label = game["score"]
    if label is None:
        return None
    if label not in LABELS:
        raise AlignbenchError(f"{where(path, lineno)}: game {k + 1}: verdict {label!r} is "
                              f"not one of {', '.join(LABELS)}")
    return label


def read_judgments(path: str | Path, baseline: str | None = None) -> Judgments:
    """An Arena-Hard judgment file; another benchmark's file, a truncated line or an unknown label is an error
    naming the file and line."""
    path = Path(path)
    model = judge = None
    bases: set[str] = set()
    ids, games, seen = [], [], set()
    for lineno, rec in iter_jsonl(path):
        if "games" not in rec:
            hint = (" (a FastChat "
                    "MT-Bench judgment: use --mt-bench)" if "g1_winner" in rec or "score" in rec and "turn" in rec
                    else "")
            raise AlignbenchError(f"{where(path, lineno)}: no 'games': not an Arena-Hard judgment record{hint}")
        qid = rec.get("question_id", rec.get("uid"))
        if isinstance(qid, bool) or not isinstance(qid, (str, int)) or str(qid) == "":
            raise AlignbenchError(f"{where(path, lineno)}: missing or invalid 'question_id' / 'uid'")
        if str(qid) in seen:
            raise AlignbenchError(f"{where(path, lineno)}: question {qid} judged twice")
        seen.add(str(qid))
        m = rec.get("model")
        if not isinstance(m, str) or not m:
            raise AlignbenchError(f"{where(path, lineno)}: missing or invalid 'model'")
        if model is not None and m != model:
            raise AlignbenchError(f"{where(path, lineno)}: model {m!r}, but earlier lines judge "
                                  f"{model!r} (one model per file)")
        model, judge = m, str(rec.get("judge", judge or ""))
        if isinstance(rec.get("baseline"), str):
            bases.add(rec["baseline"])
        g = rec["games"]
        if not isinstance(g, list) or len(g) != 2:
            raise AlignbenchError(f"{where(path, lineno)}: 'games' must hold two games (the "
                                  "second with the order swapped)")
        ids.append(str(qid))
        games.append((_label(g[0], path, lineno, 0), _label(g[1], path, lineno, 1)))
    if not ids:
        raise AlignbenchError(f"{path}: no judgments")
    if len(bases) > 1:
        raise AlignbenchError(f"{path}: judged against several baselines ({', '.join(sorted(bases))})")
    base = baseline or (bases.pop() if bases else DEFAULT_BASELINE)
    return Judgments(path, model.split("/")[-1], judge, base, ids, games)


def battles(j: Judgments, multiplier: int = 3) -> list[tuple[str, str, str]]:
    """(model_a, model_b, winner ∈ model_a / model_b / tie) with model_a = the baseline, as arena-hard's
    ``get_battles_from_row``: game 1 read as shown, game 2 with A and B swapped; strong verdicts repeated."""
    out = []
    for g1, g2 in j.games:
        for label, swapped in ((g1, False), (g2, True)):
            if label is None:
                continue
            if label == "A=B":
                winner = "tie"
            else:
                a_wins = label.startswith("A")
                winner = "model_a" if a_wins != swapped else "model_b"
            out += [(j.baseline, j.model, winner)] * (multiplier if ">>" in label else 1)
    return out


def bradley_terry(battle_list: list[tuple[str, str, str]], baseline: str) -> dict[str, float]:
    """Ratings as arena-hard's ``compute_mle_elo``: battles duplicated, a tie = one win for each side,
    unpenalised logistic regression, 400 · coef + 1000, shifted so the baseline is 1000."""
    from sklearn.linear_model import LogisticRegression  # lazy: only this command needs it

    names = list(dict.fromkeys([a for a, _, _ in battle_list] + [b for _, b, _ in battle_list]))
    index = {m: i for i, m in enumerate(names)}
    rows = battle_list + battle_list
    n = len(rows)
    X = np.zeros((n, len(names)))
    X[np.arange(n), [index[a] for a, _, _ in rows]] = math.log(BASE)
    X[np.arange(n), [index[b] for _, b, _ in rows]] = -math.log(BASE)
    Y = np.array([1.0 if w == "model_a" else 0.0 for _, _, w in rows])
    Y[: n // 2][np.array([w == "tie" for _, _, w in battle_list], bool)] = 1.0  # first copy of a tie: A wins
    if len(set(Y)) < 2:  # one-sided: the MLE is infinite; logistic regression needs both classes
        sign = 1.0 if Y[0] == 1 else -1.0
        return {m: (INIT_RATING if m == baseline else INIT_RATING - sign * math.inf) for m in names}
    lr = LogisticRegression(fit_intercept=False, C=math.inf, tol=1e-8) if _penalty_deprecated() else \
        LogisticRegression(fit_intercept=False, penalty=None, tol=1e-8)
    lr.fit(X, Y)
    ratings = SCALE * lr.coef_[0] + INIT_RATING
    if baseline in index:
        ratings += INIT_RATING - ratings[index[baseline]]
    return dict(zip(names, ratings))


def _penalty_deprecated() -> bool:
    from sklearn.linear_model import LogisticRegression

    return getattr(LogisticRegression(), "penalty", None) == "deprecated"


def win_rate_vs(rating: float, baseline_rating: float) -> float:
    """arena-hard's ``predict_win_rate``: 1 / (1 + 10^((r_baseline − r) / 400))."""
    return 1 / (1 + BASE ** ((baseline_rating - rating) / SCALE))


def arena_hard_scores(
    files: list[Judgments], multiplier: int = 3, num_rounds: int = 100, seed: int = 0
) -> dict[str, dict]:
    """model → {arena_hard_score, arena_hard_ci_low, arena_hard_ci_high} (percent), all files' battles in one
    fit as arena-hard pools a judge directory."""
    baselines = {j.baseline for j in files}
    if len(baselines) > 1:
        raise AlignbenchError(f"--arena-hard files judged against different baselines ({', '.join(sorted(baselines))})")
    baseline = baselines.pop()
    all_battles = [b for j in files for b in battles(j, multiplier)]
    if not all_battles:
        raise AlignbenchError(f"{files[0].path}: no game has a verdict")
    point = bradley_terry(all_battles, baseline)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(num_rounds):
        sample = [all_battles[i] for i in rng.integers(0, len(all_battles), len(all_battles))]
        boot.append(bradley_terry(sample, baseline))
    out = {}
    for j in files:
        ratings = [b.get(j.model, math.nan) for b in boot]
        lo, hi = np.nanpercentile(ratings, [2.5, 97.5]) if num_rounds else (math.nan, math.nan)
        out[j.model] = {"arena_hard_score": 100 * win_rate_vs(point[j.model], point[baseline]),
                        "arena_hard_ci_low": 100 * win_rate_vs(lo, INIT_RATING),
                        "arena_hard_ci_high": 100 * win_rate_vs(hi, INIT_RATING)}
    return out


def _outcome(label: str | None, model_is_a: bool) -> float:
    """The model's outcome in one game: 1 win, ½ tie, 0 loss, NaN no verdict."""
    if label is None:
        return math.nan
    if label == "A=B":
        return 0.5
    return 1.0 if label.startswith("A") == model_is_a else 0.0


def comparison(j: Judgments) -> Comparison:
    """The file's verdicts as alignbench's per-question comparison: ``first`` = the model shown first (game 2)."""
    first = np.array([_outcome(g2, True) for _, g2 in j.games])
    second = np.array([_outcome(g1, False) for g1, _ in j.games])
    return Comparison(j.model, j.baseline, f"arena-hard:{j.judge}", f"{j.judge} (arena-hard judgments)", 0,
                      j.question_ids, combine_orders(first, second), first=first, second=second)


def rows_from_arena_hard(paths: list[str | Path], seed: int = 0, n_bootstrap: int = 2000, baseline: str | None = None,
                         num_rounds: int = 100, comparisons: list | None = None) -> list[dict]:
    """Leaderboard rows of Arena-Hard judgment files read together (one row per model): arena-hard's score and
    interval beside alignbench's per-question win rate, its interval and the two games' consistency."""
    files = [read_judgments(p, baseline) for p in paths]
    models = [j.model for j in files]
    twice = next((m for m in models if models.count(m) > 1), None)
    if twice:
        raise AlignbenchError(f"--arena-hard: two files judge model {twice!r} "
                              f"({', '.join(str(j.path) for j in files if j.model == twice)})")
    scores = arena_hard_scores(files, num_rounds=num_rounds, seed=seed)
    context = RowContext(task="arena-hard", run_id=str(Path(paths[0]).parent), seeds=str(seed),
                         method_columns=lambda m: scores[m])
    comps = [comparison(j) for j in files]
    if comparisons is not None:
        comparisons.extend(comps)
    return [r.as_dict() for r in rows_from_comparisons(comps, StatisticsSettings(n_bootstrap, seed), context)]
