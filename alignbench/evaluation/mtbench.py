"""Single-answer grading (judge YAML ``mode: single``): MT-Bench-style 1–10 ratings.

Reads FastChat MT-Bench files: questions ``{question_id, category, turns: [q1, q2]}`` and answers
``{question_id, model_id, choices: [{turns: [a1, a2]}]}`` (the first choice is graded). Every turn
is graded: turn 1 with the judge's ``template`` (question, answer), turn 2 with its
``template_multi_turn`` (the whole conversation, the second reply graded). The requests go through
the same client, retries and judgment store as pairwise judging. A reply without a readable
``[[rating]]`` in 1–10 is excluded from the mean and counted, never coerced.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..dirlock import exclusive_dir
from ..errors import AlignbenchError, where
from ..io import atomic_write_json, iter_jsonl
from .audit import ratio_with_interval
from .grading_item import GradingItem
from .judge_config import JudgeConfig, load_judge
from . import mtbench_protocol as mp
from .llm_judge import JudgeRequest, judge_requests
from .schema import make_row
from .store import JudgmentStore, judgment_key

SCORES = range(1, 11)


def _turns(rec: dict, key: str, path, lineno) -> list[str]:
    turns = rec.get(key)
    if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
        raise AlignbenchError(f"{where(path, lineno)}: field '{key}' must be a non-empty list of strings")
    if len(turns) > 2:
        raise AlignbenchError(f"{where(path, lineno)}: {len(turns)} turns; single-answer grading handles one or two")
    return turns


def _question_id(rec: dict, path, lineno) -> str:
    qid = rec.get("question_id")
    if isinstance(qid, bool) or not isinstance(qid, (str, int)) or str(qid) == "":
        raise AlignbenchError(f"{where(path, lineno)}: missing or invalid field 'question_id'")
    return str(qid)


def read_questions(path: str | Path) -> dict[str, dict]:
    """question_id → {"turns", "category"} from a FastChat ``question.jsonl``."""
    out: dict[str, dict] = {}
    for lineno, rec in iter_jsonl(path):
        qid = _question_id(rec, path, lineno)
        if qid in out:
            raise AlignbenchError(f"{where(path, lineno)}: duplicate question_id {qid!r}")
        out[qid] = {"turns": _turns(rec, "turns", path, lineno), "category": str(rec.get("category", ""))}
    return out


def read_answers(path: str | Path, questions: dict[str, dict]) -> list[GradingItem]:
    """Grading items from a FastChat ``model_answer/MODEL.jsonl``, matched to the questions by question_id."""
    items, seen = [], set()
    for lineno, rec in iter_jsonl(path):
        qid = _question_id(rec, path, lineno)
        if qid in seen:
            raise AlignbenchError(f"{where(path, lineno)}: duplicate question_id {qid!r}")
        seen.add(qid)
        if qid not in questions:
            raise AlignbenchError(f"{where(path, lineno)}: question_id {qid!r} is not in the question file")
        choices = rec.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise AlignbenchError(f"{where(path, lineno)}: field 'choices' must be a "
                                  "non-empty list of {turns: [...]}")
        answers = _turns(choices[0], "turns", path, lineno)
        q = questions[qid]
        if len(answers) != len(q["turns"]):
            raise AlignbenchError(f"{where(path, lineno)}: {len(answers)} answer turn(s) for a "
                                  f"{len(q['turns'])}-turn question")
        model = rec.get("model_id") if isinstance(rec.get("model_id"), str) and rec.get("model_id") else Path(path).stem
        items.append(GradingItem(qid, q["turns"], answers, model, q["category"]))
    if not items:
        raise AlignbenchError(f"{path}: no answers")
    models = {i.model for i in items}
    if len(models) != 1:
        raise AlignbenchError(f"{path}: expected one model_id per answer file, found {', '.join(sorted(models))}")
    return items


def grading_requests(items: list[GradingItem], judge: JudgeConfig) -> list[JudgeRequest]:
    """One request per item and turn; turn t shows the conversation up to t and grades its last reply."""
    if judge.mode != "single":
        raise AlignbenchError(f"{judge.source}: setting 'mode': grading needs a judge with "
                              f"mode single, got {judge.mode!r}")
    reqs = []
    for it in items:
        for t in range(1, len(it.questions) + 1):
            if t == 2 and not judge.multi_turn_text:
                raise AlignbenchError(f"{judge.source}: setting 'template_multi_turn' is "
                                      f"needed to grade two-turn questions (question {it.item_id})")
            text = judge.render_single(it.questions[:t], it.answers[:t])
            key = judgment_key(judge.model, judge.template_sha, judge.temperature, judge.seed, judge.max_tokens,
                               json.dumps(it.questions[:t], ensure_ascii=False),
                               json.dumps(it.answers[:t], ensure_ascii=False), f"single:turn-{t}")
            reqs.append(JudgeRequest(key, it.item_id, f"turn-{t}", it.questions[t - 1], it.answers[t - 1], "",
                                     it.model, "", it.model, "", text=text))
    return reqs


def ratings(requests: list[JudgeRequest], store: JudgmentStore) -> dict[tuple[str, str], float]:
    """(item_id, turn) → rating; NaN where the judge gave no usable rating (or the request failed)."""
    out = {}
    for r in requests:
        rec = store.get(r.key)
        value = rec.get("verdict") if rec else None
        out[(r.prompt_id, r.order)] = (
            float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan
        )
    return out


def score_row(scores: dict[tuple[str, str], float], n_boot: int = 2000, seed: int = 0, ci: float = 0.95) -> dict:
    """Mean rating over every graded turn, with an interval from resampling questions (their turns together),
    the distribution of ratings, per-turn means, and the count of unparsed ratings."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for (i, _), v in scores.items():  # one pass: linear in the number of graded turns
        usable = v == v
        sums[i] = sums.get(i, 0.0) + (v if usable else 0.0)
        counts[i] = counts.get(i, 0) + usable
    items = sorted(sums)
    per_item_sum = np.array([sums[it] for it in items])
    per_item_n = np.array([counts[it] for it in items])
    if per_item_n.sum() == 0:
        raise AlignbenchError("no graded turn has a usable rating: nothing to summarise")
    mean, lo, hi, n = ratio_with_interval(per_item_sum, per_item_n, n_boot, seed, ci, scale=1.0)
    values = np.array([v for v in scores.values() if v == v])
    distribution = {str(s): int(np.sum(np.round(values) == s)) for s in SCORES}
    row = {"n_prompts": len(items), "n_ratings": n, "mean_score": mean, "score_ci_low": lo, "score_ci_high": hi,
           "score_std_error": float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan"),
           "score_distribution": " ".join(f"{k}:{v}" for k, v in distribution.items()),
           "n_parse_failures": int(sum(1 for v in scores.values() if v != v))}
    by_turn: dict[str, list[float]] = {}
    for (_, t), v in scores.items():
        by_turn.setdefault(t, [])
        if v == v:
            by_turn[t].append(v)
    for turn in sorted(by_turn):
        vals = by_turn[turn]
        row[f"mean_score_{turn.replace('-', '_')}"] = float(np.mean(vals)) if vals else float("nan")
    return row


def grade_items(items: list[GradingItem], judge: JudgeConfig, store: JudgmentStore, n_boot: int = 2000, seed: int = 0,
                progress=None, requests: list[JudgeRequest] | None = None) -> tuple[dict, object]:
    requests = requests if requests is not None else grading_requests(items, judge)
    info = judge_requests(requests, judge, store, progress)
    return score_row(ratings(requests, store), n_boot, seed), info


def grade_mtbench(question_file: str | Path | None, answer_files: list[str | Path], judge: str, out_dir: str | Path,
                  n_boot: int = 2000, seed: int = 0, base_url: str | None = None, progress=None, task: str = "mt-bench",
                  mt_bench_data: str | Path | None = None) -> list[dict]:
    """Grade each answer file's model on every turn; rows (one per model) go to ``out_dir/rows.json``.
    ``mt_bench_data``: FastChat's data directory (or ``fschat``): MT-Bench's own prompts, reference answers
    and rating parser (:mod:`.mtbench_protocol`); the questions default to its ``mt_bench/question.jsonl``."""
    cfg = load_judge(judge, base_url)
    protocol = None
    if mt_bench_data is not None:
        data = mp.data_dir(mt_bench_data)
        prompts, references = mp.load_judge_prompts(data), mp.load_references(data)
        question_file = question_file or mp.question_file(data)
        cfg = mp.protocol_judge(cfg, prompts)
        protocol = lambda items: mp.protocol_requests(items, cfg, prompts, references)  # noqa: E731
    if question_file is None:
        raise AlignbenchError("grade: give --questions FILE (or --mt-bench-data DIR, whose "
                              "mt_bench/question.jsonl is used)")
    questions = read_questions(question_file)
    loaded = [read_answers(path, questions) for path in answer_files]
    out_dir = Path(out_dir)
    with exclusive_dir(out_dir, "--out directory"):  # two graders on one directory would both pay
        store = JudgmentStore(out_dir / "judgments.jsonl")
        rows = []
        for items in loaded:
            row, info = grade_items(items, cfg, store, n_boot, seed, progress, protocol(items) if protocol else None)
            rows.append(make_row(f"grading of {items[0].model}", task=task, method=items[0].model,
                                 evaluator=f"llm-single:{cfg.name}",
                                 **row, judge=cfg.identity(), template_sha=cfg.template_sha, seed=str(seed),
                                 run_id=str(out_dir), n_request_failures=len(info.failures)).as_dict())
        atomic_write_json(out_dir / "rows.json", rows)
        return rows


def grade_table_lines(rows: list[dict]) -> list[str]:
    lines = [f"{'model':<24} {'mean':>5}  {'95% interval':>14}  {'turn 1':>6} {'turn 2':>6}  {'rated':>5} "
             f"{'unparsed':>8}  distribution (score:count)"]
    for r in rows:
        t2 = r.get("mean_score_turn_2")
        lines.append(f"{r['method']:<24} {r['mean_score']:5.2f}  "
                     f"[{r['score_ci_low']:5.2f}, {r['score_ci_high']:5.2f}]  "
                     f"{r.get('mean_score_turn_1', float('nan')):6.2f} "
                     f"{('%6.2f' % t2) if t2 is not None else '     –'}  {r['n_ratings']:>5} "
                     f"{r['n_parse_failures']:>8}  {r['score_distribution']}")
    return lines
