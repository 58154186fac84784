"""FastChat MT-Bench judgment files as existing verdicts, summarised as FastChat's ``show_result.py`` does.

* Single-answer grading (``model_judgment/gpt-4_single.jsonl``: ``{question_id, model, judge, score, turn}``):
  per model the mean score over every judged turn and the mean of each turn, ratings of −1 (the judge gave
  no ``[[rating]]``) left out — and counted here, in ``n_parse_failures``.
* Pairwise (``gpt-4_pair.jsonl``: ``{question_id, model_1, model_2, g1_winner, g2_winner, turn}``): rows with
  an ``error`` in either game dropped (counted); a row is a tie where game 1 says tie or the two games
  disagree, else a win for the winner; against a baseline (FastChat's default gpt-3.5-turbo) only the rows
  with it count; ``win_rate`` = (wins + ½ ties) / rows × 100 = FastChat's ``win_rate_adjusted``.

Both go through alignbench's rows: single grading through :func:`.mtbench.score_row` (the same summary as
``alignbench grade``), pairwise through the one evaluation flow (an outcome per question × turn, both games
as the two orders).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import AlignbenchError, where
from ..io import iter_jsonl
from .comparison import Comparison
from .evaluate import RowContext, StatisticsSettings, rows_from_comparisons
from .mtbench import score_row
from .schema import make_row

WINNERS = ("model_1", "model_2", "tie", "error")


def _qid(rec, path, lineno) -> str:
    qid = rec.get("question_id")
    if isinstance(qid, bool) or not isinstance(qid, (str, int)) or str(qid) == "":
        raise AlignbenchError(f"{where(path, lineno)}: missing or invalid 'question_id'")
    return str(qid)


def _turn(rec, path, lineno) -> int:
    turn = rec.get("turn", 1)
    if isinstance(turn, bool) or turn not in (1, 2):
        raise AlignbenchError(f"{where(path, lineno)}: 'turn' must be 1 or 2, got {turn!r}")
    return int(turn)


def _name(rec, key, path, lineno) -> str:
    v = rec.get(key)
    if not isinstance(v, str) or not v:
        raise AlignbenchError(f"{where(path, lineno)}: missing or invalid '{key}'")
    return v


def _kind(rec, path, lineno) -> str:
    if "g1_winner" in rec:
        return "pair"
    if "score" in rec and "model" in rec:
        return "single"
    hint = " (an Arena-Hard judgment: use --arena-hard)" if "games" in rec else \
        " (alpaca_eval annotations: use --alpaca-eval)" if "generator_2" in rec else ""
    raise AlignbenchError(f"{where(path, lineno)}: not a FastChat MT-Bench judgment record "
                          f"(no 'score' or 'g1_winner'){hint}")


def read_single(path, lines) -> dict[str, dict[tuple[str, str], float]]:
    """model → {(question_id, "turn-t"): rating (NaN for FastChat's −1)}."""
    out: dict[str, dict[tuple[str, str], float]] = {}
    for lineno, rec in lines:
        if _kind(rec, path, lineno) != "single":
            raise AlignbenchError(f"{where(path, lineno)}: a pairwise record in a single-grading file")
        model, qid, turn = _name(rec, "model", path, lineno), _qid(rec, path, lineno), _turn(rec, path, lineno)
        score = rec["score"]
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not (score == -1 or 0 <= score <= 10):
            raise AlignbenchError(f"{where(path, lineno)}: 'score' must be a rating 0–10 "
                                  f"or −1 (no rating), got {score!r}")
        key = (qid, f"turn-{turn}")
        if key in out.setdefault(model, {}):
            raise AlignbenchError(f"{where(path, lineno)}: {model}: question {qid} turn {turn} graded twice")
        out[model][key] = math.nan if score == -1 else float(score)
    return out


def read_pairs(path, lines) -> list[tuple[str, str, str, str, str]]:
    """(model_1, model_2, "qid-turn", g1_winner, g2_winner) per record."""
    out, seen = [], set()
    for lineno, rec in lines:
        if _kind(rec, path, lineno) != "pair":
            raise AlignbenchError(f"{where(path, lineno)}: a single-grading record in a pairwise file")
        m1, m2, qid, turn = (_name(rec, "model_1", path, lineno), _name(rec, "model_2", path, lineno),
                             _qid(rec, path, lineno), _turn(rec, path, lineno))
        for k in ("g1_winner", "g2_winner"):
            if rec.get(k) not in WINNERS:
                raise AlignbenchError(f"{where(path, lineno)}: '{k}' must be one of "
                                      f"{', '.join(WINNERS)}, got {rec.get(k)!r}")
        key = (m1, m2, qid, turn)
        if key in seen:
            raise AlignbenchError(f"{where(path, lineno)}: {m1} vs {m2}, question {qid} turn {turn} judged twice")
        seen.add(key)
        out.append((m1, m2, f"{qid}-turn-{turn}", rec["g1_winner"], rec["g2_winner"]))
    return out


def _judge_name(path: Path) -> str:
    return path.stem.removesuffix("_single").removesuffix("_pair")


def _single_rows(path: Path, lines, seed: int, n_bootstrap: int) -> list[dict]:
    rows = []
    for model, scores in read_single(path, lines).items():
        row = score_row(scores, n_bootstrap, seed)
        rows.append(make_row(f"{path}: {model}", task="mt-bench", method=model,
                             evaluator=f"mt-bench-single:{_judge_name(path)}",
                             **row, judge=f"{_judge_name(path)} (FastChat judgments)", seed=str(seed),
                             run_id=str(path)).as_dict())
    return rows


def _side(winner: str, me: str) -> float:
    """A game's outcome for the model in slot ``me`` (model_1 / model_2): NaN for an error."""
    if winner == "error":
        return math.nan
    return 0.5 if winner == "tie" else float(winner == me)


def pair_comparisons(path: Path, pairs, baseline: str | None) -> list[Comparison]:
    """Per model (against ``baseline``, or every opponent when None) the FastChat outcome of each row:
    ``first`` = game 1 (model_1 shown first), ``second`` = game 2, from the model's side."""
    by_model: dict[str, tuple[list, list, list]] = {}
    for m1, m2, pid, g1, g2 in pairs:
        if baseline is not None and baseline not in (m1, m2):
            continue
        for model, slot, other in ((m1, "model_1", m2), (m2, "model_2", m1)):
            if model == baseline:
                continue
            ids, firsts, seconds = by_model.setdefault(model, ([], [], []))
            ids.append(pid if baseline is not None else f"{pid} vs {other}")
            firsts.append(_side(g1, slot))
            seconds.append(_side(g2, slot))
    comps = []
    for model, (ids, firsts, seconds) in by_model.items():
        first, second = np.array(firsts), np.array(seconds)
        error = np.isnan(first) | np.isnan(second)  # FastChat drops a row with an error in either game
        first[error], second[error] = np.nan, np.nan
        # FastChat: a tie where game 1 is a tie or the games disagree — on a 1/½/0 scale, ½ unless both agree.
        outcome = np.where(error, np.nan, np.where((first == second) & (first != 0.5), first, 0.5))
        comps.append(Comparison(model, baseline or "every other model", f"mt-bench-pair:{_judge_name(path)}",
                                f"{_judge_name(path)} (FastChat judgments)", 0, ids, outcome, first=first,
                                second=second))
    if not comps:
        raise AlignbenchError(f"{path}: no pairwise judgment involves the baseline {baseline!r} (--mt-bench-baseline)")
    return comps


def rows_from_mt_bench(paths: list[str | Path], seed: int = 0, n_bootstrap: int = 2000,
                       baseline: str | None = "gpt-3.5-turbo", comparisons: list | None = None) -> list[dict]:
    """Rows of FastChat MT-Bench judgment files, single or pairwise (told apart by their records); the pairwise
    files' per-question comparisons are appended to ``comparisons`` when given."""
    rows = []
    for path in map(Path, paths):
        lines = list(iter_jsonl(path))
        if not lines:
            raise AlignbenchError(f"{path}: no judgments")
        if _kind(lines[0][1], path, lines[0][0]) == "single":
            rows.extend(_single_rows(path, lines, seed, n_bootstrap))
        else:
            comps = pair_comparisons(path, read_pairs(path, lines), baseline)
            if comparisons is not None:
                comparisons.extend(comps)
            context = RowContext(task="mt-bench", run_id=str(path), seeds=str(seed))
            rows.extend(r.as_dict() for r in rows_from_comparisons(comps, StatisticsSettings(n_bootstrap, seed),
                                                                   context))
    return rows
