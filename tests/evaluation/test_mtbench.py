"""Single-answer grading (mode: single) of FastChat MT-Bench files, end to end over HTTP."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from alignbench.cli import main
from alignbench.errors import AlignbenchError
from alignbench.evaluation.judge_config import load_judge
from alignbench.evaluation.local_server import JudgeServer
from alignbench.evaluation.mtbench import read_answers, read_questions, score_row
from alignbench.evaluation.verdicts import parse_rating

JUDGE = "judges/local-scripted-single.yaml"
_ONE = re.compile(r"\[The Start of Assistant's Answer\]\n(.*?)\n\[The End of Assistant's Answer\]", re.S)
_TWO = re.compile(r"### User:\n(.*?)\n\n### Assistant:\n(.*?)\n\n### User:\n(.*?)\n\n### "
                  r"Assistant:\n(.*?)\n\n<\|The End", re.S)


class GradeFromAnswer:
    """Rates what the graded answer asks for ("score=7" → "Rating: [[7]]"; "score=none" → no rating)."""

    def __init__(self):
        self.seen: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.seen.append(prompt)
        two = _TWO.search(prompt)
        answer = two.group(4) if two else _ONE.search(prompt).group(1)
        wanted = answer.split("score=")[1].split()[0]
        return "I cannot grade this." if wanted == "none" else f"A fair answer overall.\nRating: [[{wanted}]]"


def _write(tmp_path):
    questions = [{"question_id": 81, "category": "writing", "turns": ["Write a poem.", "Now shorten it."]},
                 {"question_id": 82, "category": "math", "turns": ["What is 2+2?", "And times 3?"]},
                 {"question_id": 83, "category": "coding", "turns": ["Sort a list.", "In place?"]},
                 {"question_id": 84, "category": "roleplay", "turns": ["Say hi."]}]
    alpha = {81: ["score=7", "score=9"], 82: ["score=3", "score=none"], 83: ["score=11", "score=5"], 84: ["score=8"]}
    beta = {81: ["score=4", "score=4"], 82: ["score=4", "score=6"], 83: ["score=2", "score=2"], 84: ["score=10"]}
    (tmp_path / "question.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    (tmp_path / "model_answer").mkdir()
    for name, answers in (("alpha", alpha), ("beta", beta)):
        lines = [
            json.dumps(
                {
                    "question_id": qid,
                    "answer_id": f"x{qid}",
                    "model_id": name,
                    "tstamp": 0.0,
                    "choices": [{"index": 0, "turns": [f"My answer, {a} thanks" for a in turns]}],
                }
            )
            for qid, turns in answers.items()
        ]
        (tmp_path / "model_answer" / f"{name}.jsonl").write_text("\n".join(lines) + "\n")


def test_mtbench_files_graded_end_to_end_both_turns(tmp_path, capsys):
    """Broken variants this catches: coercing an out-of-range [[11]] to 10 (alpha's mean would be 7.0 over
    6 ratings); grading only the first turn (5 ratings instead of 7 per model); grading turn 2 without
    the first exchange as context (the two-turn prompt would lack the first answer)."""
    _write(tmp_path)
    script = GradeFromAnswer()
    with JudgeServer(script) as srv:
        args = ["grade", "--questions", str(tmp_path / "question.jsonl"), "--answers",
                str(tmp_path / "model_answer" / "alpha.jsonl"),
                str(tmp_path / "model_answer" / "beta.jsonl"), "--judge", JUDGE, "--base-url", srv.base_url,
                "--out", str(tmp_path / "out"), "--quiet", "--bootstrap", "500"]
        assert main(args) == 0
        assert srv.requests == 2 * 7  # 3 two-turn questions + 1 one-turn question, two models
        assert main(args) == 0 and srv.requests == 14  # graded once: the second run reads the judgment store
    out = capsys.readouterr().out
    rows = {r["method"]: r for r in json.loads((tmp_path / "out" / "rows.json").read_text())}
    alpha, beta = rows["alpha"], rows["beta"]
    # alpha: 7, 9, 3, (none), (11: out of range), 5, 8 → 5 usable ratings, 2 unparsed
    assert alpha["mean_score"] == pytest.approx((7 + 9 + 3 + 5 + 8) / 5)
    assert (alpha["n_ratings"], alpha["n_parse_failures"], alpha["n_prompts"]) == (5, 2, 4)
    assert alpha["mean_score_turn_1"] == pytest.approx((7 + 3 + 8) / 3) and alpha["mean_score_turn_2"] == pytest.approx(
        7.0
    )
    assert alpha["score_distribution"] == "1:0 2:0 3:1 4:0 5:1 6:0 7:1 8:1 9:1 10:0"
    assert alpha["score_ci_low"] <= alpha["mean_score"] <= alpha["score_ci_high"]
    assert beta["mean_score"] == pytest.approx(32 / 7) and beta["n_parse_failures"] == 0
    assert alpha["evaluator"] == "llm-single:local-scripted-single" and alpha["win_rate"] is None
    two_turn = [p for p in script.seen if "<|The Start of the Conversation|>" in p]
    assert len(two_turn) == 6
    assert all(m.group(2).startswith("My answer, score=") for m in map(_TWO.search, two_turn))
    poem = [p for p in two_turn if "Write a poem." in p]
    assert len(poem) == 2 and all("Now shorten it." in p for p in poem)  # question 81's turn 2, both models
    assert "alpha" in out and "distribution" in out


def test_rating_parser_and_bootstrap_by_hand():
    assert parse_rating("Rating: [[7]]") == 7.0
    assert parse_rating("the answer says [[2]]; my rating: [[8.5]]") == 8.5  # the judge's own, last marker
    assert parse_rating("Rating: [[0]]") is None and parse_rating("Rating: [[11]]") is None
    assert parse_rating("Rating: 7") is None and parse_rating(None) is None
    scores = {("a", "turn-1"): 2.0, ("a", "turn-2"): 4.0, ("b", "turn-1"): 9.0, ("b", "turn-2"): np.nan}
    row = score_row(scores, 500, 0)
    assert row["mean_score"] == pytest.approx(5.0) and row["n_parse_failures"] == 1 and row["n_prompts"] == 2
    # Resampling questions: all-a gives 3, all-b gives 9, so the interval stays within [3, 9].
    assert 3.0 <= row["score_ci_low"] < 5.0 < row["score_ci_high"] <= 9.0


def test_single_mode_config_and_file_errors(tmp_path):
    cfg = load_judge(JUDGE)
    assert (
        cfg.mode == "single"
        and cfg.multi_turn_text
        and cfg.template_sha != load_judge("judges/local-scripted.yaml").template_sha
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: m\nbase_url: http://127.0.0.1:1/v1\nmode: single\nparser: brackets\ntemplate: "
                   f"{Path('judges/templates/single.txt').resolve()}\n")
    with pytest.raises(AlignbenchError, match="mode single needs parser 'rating'"):
        load_judge(str(bad))
    bad.write_text("model: m\nbase_url: http://127.0.0.1:1/v1\nmode: single\nparser: "
                   "rating\ntemplate: /nonexistent/x.txt\n")
    with pytest.raises(AlignbenchError, match="setting 'template'"):
        load_judge(str(bad))
    from alignbench.evaluation.llm_judge import build_requests
    from alignbench.evaluation.outputs import OutputRecord

    with pytest.raises(AlignbenchError, match="cannot compare pairs"):
        build_requests([(OutputRecord("1", "p", "a", "m"), OutputRecord("1", "p", "b", "r"))], cfg, "m", "r")
    q = tmp_path / "q.jsonl"
    q.write_text('{"question_id": 1, "turns": ["a", "b"]}\n{"question_id": 1, "turns": ["c"]}\n')
    with pytest.raises(AlignbenchError, match=r"q.jsonl:2: duplicate question_id"):
        read_questions(q)
    q.write_text('{"question_id": 1, "turns": ["a", "b"]}\n')
    a = tmp_path / "a.jsonl"
    a.write_text('{"question_id": 1, "model_id": "m", "choices": [{"turns": ["only one"]}]}\n')
    with pytest.raises(AlignbenchError, match=r"a.jsonl:1: 1 answer turn\(s\) for a 2-turn question"):
        read_answers(a, read_questions(q))
    a.write_text('{"question_id": 2, "model_id": "m", "choices": [{"turns": ["x", "y"]}]}\n')
    with pytest.raises(AlignbenchError, match="not in the question file"):
        read_answers(a, read_questions(q))


def test_the_grading_summary_is_linear_in_the_questions():
    import numpy as np

    from alignbench.evaluation.mtbench import score_row

    def timed(n):
        rng = np.random.default_rng(0)
        scores = {(f"q{i}", f"turn-{t}"): float(rng.integers(1, 11)) for i in range(n) for t in (1, 2)}
        t0 = time.perf_counter()
        row = score_row(scores, n_boot=100)
        return time.perf_counter() - t0, row

    small, _ = timed(2_000)
    big, row = timed(20_000)
    print(f"score_row: 2k questions {small:.3f} s, 20k questions {big:.3f} s")
    assert row["n_prompts"] == 20_000 and row["n_ratings"] == 40_000
    assert big < 2.0  # quadratic: ~100 × the 2k time (several seconds at 8k questions, minutes at 20k)
