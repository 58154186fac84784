"""MT-Bench's own grading protocol, from the user's copy of FastChat's data (alignbench ships none of it).

FastChat (``fastchat/llm_judge``: ``gen_judgment.py --mode single``, ``common.py``) grades every answer turn
with the judge prompts of ``judge_prompts.jsonl``: ``single-v1`` for turn 1 and ``single-v1-multi-turn`` for
turn 2; questions of the categories math, reasoning and coding with ``single-math-v1`` /
``single-math-v1-multi-turn``, which show the reference answer of ``mt_bench/reference_answer/gpt-4.jsonl``.
Each prompt is the entry's ``system_prompt`` as the system message and its ``prompt_template`` filled with
``str.format``; the rating is the first ``[[n]]`` (else ``[n]``) of the reply (parser ``fastchat-rating``).

``--mt-bench-data DIR``: FastChat's ``data`` directory (``judge_prompts.jsonl``, ``mt_bench/question.jsonl``,
``mt_bench/reference_answer/gpt-4.jsonl``), or ``fschat`` for an installed FastChat package whose
``llm_judge/data`` holds them. The judge YAML gives the model and endpoint; its own templates are not used.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import AlignbenchError, where
from ..io import iter_jsonl
from .judge_config import JudgeConfig
from .llm_judge import JudgeRequest
from .grading_item import GradingItem
from .store import judgment_key

NEED_REFERENCE = ("math", "reasoning", "coding")  # FastChat's NEED_REF_CATS (arena-hard-200 is not MT-Bench)
PROMPTS = {(False, 1): "single-v1", (False, 2): "single-v1-multi-turn", (True, 1): "single-math-v1",
           (True, 2): "single-math-v1-multi-turn"}
REFERENCE_MODEL = "gpt-4"


def data_dir(spec: str | Path) -> Path:
    """The FastChat data directory: a path, or ``fschat`` for the installed package's."""
    if str(spec) == "fschat":
        try:
            import fastchat.llm_judge as llm_judge  # optional: only when the user asks for it
        except ImportError:
            raise AlignbenchError("--mt-bench-data fschat: the FastChat package (fschat) is not installed") from None
        return Path(llm_judge.__file__).parent / "data"
    return Path(spec)


def _need(path: Path) -> Path:
    if not path.is_file():
        raise AlignbenchError(f"--mt-bench-data: {path} not found (MT-Bench's protocol reads it from FastChat's data "
                              "directory; alignbench ships no copy)")
    return path


def load_judge_prompts(directory: Path) -> dict[str, dict]:
    """name → {system_prompt, prompt_template, output_format} for the four single-grading prompts."""
    path = _need(directory / "judge_prompts.jsonl")
    prompts = {}
    for lineno, rec in iter_jsonl(path):
        name = rec.get("name")
        if name in PROMPTS.values():
            for key in ("system_prompt", "prompt_template", "output_format"):
                if not isinstance(rec.get(key), str):
                    raise AlignbenchError(f"{where(path, lineno)}: {name}: missing or non-string '{key}'")
            if rec["output_format"] != "[[rating]]":
                raise AlignbenchError(f"{where(path, lineno)}: {name}: output_format "
                                      f"{rec['output_format']!r}, expected '[[rating]]'")
            prompts[name] = rec
    missing = [n for n in PROMPTS.values() if n not in prompts]
    if missing:
        raise AlignbenchError(f"{path}: no judge prompt named {', '.join(missing)}")
    return prompts


def load_references(directory: Path) -> dict[str, list[str]]:
    """question_id → GPT-4's reference answer turns."""
    path = _need(directory / "mt_bench" / "reference_answer" / f"{REFERENCE_MODEL}.jsonl")
    out = {}
    for lineno, rec in iter_jsonl(path):
        choices = rec.get("choices")
        turns = (
            choices[0].get("turns") if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
        )
        if "question_id" not in rec or not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
            raise AlignbenchError(f"{where(path, lineno)}: expected {{question_id, choices: [{{turns: "
                                  "[...]}]} (FastChat reference answer)")
        out[str(rec["question_id"])] = turns
    return out


def question_file(directory: Path) -> Path:
    return _need(directory / "mt_bench" / "question.jsonl")


def protocol_judge(judge: JudgeConfig, prompts: dict[str, dict]) -> JudgeConfig:
    """The judge with MT-Bench's rating parser, its identity tied to the prompts used (template_sha)."""
    text = json.dumps([prompts[n] for n in PROMPTS.values()], sort_keys=True, ensure_ascii=False)
    return judge.model_copy(update={"mode": "single", "parser": "fastchat-rating", "template_text": text,
                                    "multi_turn_text": "", "name": f"{judge.name}-mt-bench"})


def protocol_requests(items: list[GradingItem], judge: JudgeConfig, prompts: dict[str, dict],
                      references: dict[str, list[str]]) -> list[JudgeRequest]:
    """One request per item and turn, as FastChat's ``run_judge_single`` builds it."""
    reqs = []
    for it in items:
        needs_ref = it.category in NEED_REFERENCE
        if needs_ref and it.item_id not in references:
            raise AlignbenchError(f"question {it.item_id} ({it.category}) has no reference answer in "
                                  f"{REFERENCE_MODEL}.jsonl (MT-Bench grades {', '.join(NEED_REFERENCE)} against it)")
        for t in range(1, len(it.questions) + 1):
            entry = prompts[PROMPTS[(needs_ref, t)]]
            values = ({"question": it.questions[0], "answer": it.answers[0]} if t == 1 else
                      {"question_1": it.questions[0], "question_2": it.questions[1], "answer_1": it.answers[0],
                       "answer_2": it.answers[1]})
            if needs_ref:
                values["ref_answer_1"] = references[it.item_id][0]
                if t == 2:
                    values["ref_answer_2"] = references[it.item_id][1]
            try:
                text = entry["prompt_template"].format(**values)
            except (KeyError, IndexError, ValueError) as e:
                raise AlignbenchError(f"judge prompt {entry['name']}: cannot fill its "
                                      f"template ({type(e).__name__}: {e})") from None
            key = judgment_key(judge.model,
                               hashlib.sha256((entry["system_prompt"] + "\x00" + text).encode()).hexdigest()[:16],
                               judge.temperature, judge.seed, judge.max_tokens,
                               json.dumps(it.questions[:t], ensure_ascii=False),
                               json.dumps(it.answers[:t], ensure_ascii=False), f"mt-bench:{entry['name']}")
            reqs.append(JudgeRequest(key, it.item_id, f"turn-{t}", it.questions[t - 1], it.answers[t - 1], "",
                                     it.model, "", it.model, "", text=text, system=entry["system_prompt"]))
    return reqs
