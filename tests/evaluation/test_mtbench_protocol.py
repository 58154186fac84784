"""`alignbench grade --mt-bench-data DIR`: MT-Bench's own protocol read from the user's FastChat data
(stand-in files here, our own wording): its prompts per category and turn, reference answers for math,
reasoning and coding, its system prompt, and its rating parser."""

from __future__ import annotations

import json
import re

import pytest

from alignbench.cli import main
from alignbench.evaluation.judge_config import load_judge
from alignbench.evaluation.local_server import JudgeServer
from alignbench.evaluation.mtbench import read_answers, read_questions
from alignbench.evaluation.mtbench_protocol import (
    load_judge_prompts,
    load_references,
    protocol_judge,
    protocol_requests,
)
from alignbench.evaluation.verdicts import parse_fastchat_rating

JUDGE = "judges/local-scripted-single.yaml"
STAND_IN_PROMPTS = {  # name → (system, template): not FastChat's text, only its placeholders
    "single-v1": ("SYSTEM general", "GENERAL\nQ: {question}\nANSWER: {answer}\nEND"),
    "single-math-v1": ("SYSTEM math", "MATH\nQ: {question}\nREF: {ref_answer_1}\nANSWER: {answer}\nEND"),
    "single-v1-multi-turn": ("SYSTEM general 2",
                             "GENERAL-2\nQ1: {question_1}\nA1: {answer_1}\nQ2: {question_2}\nANSWER: {answer_2}\nEND"),
    "single-math-v1-multi-turn": ("SYSTEM math 2", "MATH-2\nQ1: {question_1}\nREF1: {ref_answer_1}\nA1: {answer_1}\n"
                                                   "Q2: {question_2}\nREF2: {ref_answer_2}\nANSWER: {answer_2}\nEND"),
}
_ANSWER = re.compile(r"ANSWER: (.*?)\nEND", re.S)


def _jsonl(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _data(tmp_path):
    data = tmp_path / "fastchat_data"
    _jsonl(data / "judge_prompts.jsonl",
           [{"name": "pair-v2", "type": "pairwise", "system_prompt": "x", "prompt_template": "{question}",
                                           "output_format": "[[A]]"}] +
           [{"name": n, "type": "single", "system_prompt": s, "prompt_template": t, "output_format": "[[rating]]"}
            for n, (s, t) in STAND_IN_PROMPTS.items()])
    _jsonl(data / "mt_bench" / "question.jsonl", [
        {"question_id": 81, "category": "writing", "turns": ["Write a poem.", "Now shorten it."]},
        {"question_id": 111, "category": "math", "turns": ["What is 2+2?", "And times 3?"]},
        {"question_id": 121, "category": "coding", "turns": ["Sort a list.", "In place?"]}])
    _jsonl(
        data / "mt_bench" / "reference_answer" / "gpt-4.jsonl",
        [
            {
                "question_id": q,
                "model_id": "gpt-4",
                "choices": [{"index": 0, "turns": [f"ref {q} one", f"ref {q} two"]}],
            }
            for q in (111, 121)
        ],
    )
    # each answer says what the judge replies: FastChat reads the FIRST [[n]], else the first [n]
    replies = {81: ["[[7]] then [[2]]", "[6]"], 111: ["[[3]]", "no rating"], 121: ["[[9]]", "[[4]]"]}
    _jsonl(tmp_path / "model_answer" / "m.jsonl",
           [{"question_id": q, "model_id": "m", "choices": [{"index": 0, "turns": r}]}
                                                    for q, r in replies.items()])
    return data


def test_grade_follows_the_mt_bench_protocol(tmp_path):
    """Broken variants this catches: alignbench's own parser (last [[n]]: 2 instead of 7, no [n] fallback:
    6 unparsed); the general prompt for math/coding (no REF in the prompt); the wrong turn-2 template."""
    data = _data(tmp_path)
    seen = []

    def judge(prompt: str) -> str:
        seen.append(prompt)
        return f"Reasoning about it. {_ANSWER.search(prompt).group(1)}"

    with JudgeServer(judge) as srv:
        assert main(["grade", "--mt-bench-data", str(data), "--answers", str(tmp_path / "model_answer" / "m.jsonl"),
                     "--judge", JUDGE, "--base-url", srv.base_url, "--out", str(tmp_path / "out"), "--quiet",
                     "--bootstrap", "200"]) == 0
        assert sorted(set(srv.system_messages)) == sorted(s for s, _ in STAND_IN_PROMPTS.values())
    row = json.loads((tmp_path / "out" / "rows.json").read_text())[0]
    assert row["mean_score"] == pytest.approx((7 + 6 + 3 + 9 + 4) / 5) and row["n_parse_failures"] == 1
    assert row["mean_score_turn_1"] == pytest.approx((7 + 3 + 9) / 3) and row["mean_score_turn_2"] == pytest.approx(5.0)
    heads = sorted(p.split("\n")[0] for p in seen)
    assert heads == ["GENERAL", "GENERAL-2", "MATH", "MATH", "MATH-2", "MATH-2"]
    math2 = next(p for p in seen if p.startswith("MATH-2") and "2+2" in p)
    assert "REF1: ref 111 one" in math2 and "REF2: ref 111 two" in math2 and "A1: [[3]]" in math2


def test_fastchat_rating_parser():
    assert parse_fastchat_rating("Rating: [[7]] … [[2]]") == 7.0 and parse_fastchat_rating("[6.5]") == 6.5
    assert parse_fastchat_rating("no rating") is None and parse_fastchat_rating("[[11]]") == 11.0  # FastChat keeps it


def test_system_prompt_and_missing_files(tmp_path):
    data = _data(tmp_path)
    prompts, refs = load_judge_prompts(data), load_references(data)
    judge = protocol_judge(load_judge(JUDGE), prompts)
    items = read_answers(tmp_path / "model_answer" / "m.jsonl", read_questions(data / "mt_bench" / "question.jsonl"))
    reqs = protocol_requests(items, judge, prompts, refs)
    assert [r.system for r in reqs[:2]] == ["SYSTEM general", "SYSTEM general 2"] and judge.parser == "fastchat-rating"
    (data / "mt_bench" / "reference_answer" / "gpt-4.jsonl").unlink()
    assert main(["grade", "--mt-bench-data", str(data), "--answers", str(tmp_path / "model_answer" / "m.jsonl"),
                 "--judge", JUDGE, "--out", str(tmp_path / "o2")]) == 2
    with pytest.raises(Exception, match=r"reference_answer/gpt-4.jsonl not found"):
        load_references(data)
