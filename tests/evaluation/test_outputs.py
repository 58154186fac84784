"""Model-output files in the formats users have (alignbench JSONL, alpaca_eval, MT-Bench answers) and their errors."""

from __future__ import annotations

import json

import pytest
from judge_fixtures import alpaca_and_jsonl, judge_argv, outputs
from repo_fixtures import REPO

import alignbench
from alignbench.cli import main
from alignbench.errors import AlignbenchError
from alignbench.evaluation.local_server import JudgeServer, ScriptedJudge, prefer_longer
from alignbench.evaluation.outputs import ACCEPTED_FORMATS, OutputRecord, align_outputs, load_outputs, write_outputs

JUDGE = str(REPO / "judges" / "local-scripted.yaml")


def test_alpaca_eval_outputs_give_the_same_win_rate_as_the_jsonl_files(tmp_path):
    """Broken variant caught: rejecting the JSON list (the old `malformed JSON`), or joining alpaca_eval
    records on position instead of instruction text (the reference file is written in reverse order)."""
    alpaca_and_jsonl(tmp_path)
    with JudgeServer(ScriptedJudge(prefer_longer)) as srv:
        alpaca = alignbench.judge([tmp_path / "model_outputs.json"], tmp_path / "reference_outputs.json", JUDGE,
                                  tmp_path / "out-alpaca", base_url=srv.base_url)
        jsonl = alignbench.judge([tmp_path / "m.jsonl"], tmp_path / "r.jsonl", JUDGE, tmp_path / "out-jsonl",
                                 base_url=srv.base_url)
        mixed = alignbench.judge([tmp_path / "model_outputs.json"], tmp_path / "r.jsonl", JUDGE, tmp_path / "out-mixed",
                                 base_url=srv.base_url)
    assert alpaca[0]["method"] == jsonl[0]["method"] == "my-model" and alpaca[0]["baseline"] == "gpt4_turbo"
    for key in ("win_rate", "ci_low", "ci_high", "n_prompts", "wins", "ties", "losses"):
        assert alpaca[0][key] == jsonl[0][key] == mixed[0][key]
    assert 0 < alpaca[0]["win_rate"] < 100


def test_alpaca_eval_records_one_per_line_and_duplicates(tmp_path):
    lines = tmp_path / "outputs.jsonl"
    lines.write_text(
        "".join(json.dumps({"instruction": f"q{i}", "output": "o", "generator": "g"}) + "\n" for i in range(3))
    )
    assert [r.prompt_id for r in load_outputs(lines)] == ["q0", "q1", "q2"]
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps([{"instruction": "q", "output": "a", "generator": "g"}] * 2))
    with pytest.raises(AlignbenchError, match=r"dup.json: record 1: duplicate instruction \(first at record 0\)"):
        load_outputs(dup)


def test_mt_bench_answers_are_read_with_their_questions(tmp_path):
    """The first answer is longer than the 4 KiB the format sniffer peeks at: detection reads the whole first line."""
    answers = tmp_path / "mt_bench" / "model_answer"
    answers.mkdir(parents=True)
    (tmp_path / "mt_bench" / "question.jsonl").write_text(
        json.dumps({"question_id": 81, "category": "writing", "turns": ["Write a blog post.", "Rewrite it in verse."]})
        + "\n"
    )
    (answers / "vicuna.jsonl").write_text(json.dumps(
        {"question_id": 81, "answer_id": "x1", "model_id": "vicuna-13b",
         "choices": [{"index": 0, "turns": ["A post." + " long" * 2000, "A verse."]}], "tstamp": 1.0}) + "\n")
    (rec,) = load_outputs(answers / "vicuna.jsonl")
    assert (rec.prompt_id, rec.generator) == ("81", "vicuna-13b")
    assert "Write a blog post." in rec.prompt and "Rewrite it in verse." in rec.prompt
    assert "A post." in rec.output and "A verse." in rec.output
    lone = tmp_path / "vicuna.jsonl"  # no question.jsonl two levels up: flagged, and judge_only warns about it
    lone.write_text((answers / "vicuna.jsonl").read_text())
    (rec,) = load_outputs(lone)
    assert rec.prompt == "MT-Bench question 81" and rec.extra["question_text_missing"]


@pytest.mark.parametrize("content", ['"just a string"\n', "hello world\n", "<html></html>\n"])
def test_unknown_format_is_one_line_naming_the_file_and_the_accepted_formats(tmp_path, content):
    f = tmp_path / "weird.txt"
    f.write_text(content)
    with pytest.raises(AlignbenchError) as e:
        load_outputs(f)
    msg = str(e.value)
    assert "weird.txt" in msg and ACCEPTED_FORMATS in msg and "\n" not in msg


def test_the_file_named_is_the_file_that_is_wrong(tmp_path, capsys):
    """Old behaviour: the reference was read first, so a bad method file given first was blamed on the reference."""
    alpaca_and_jsonl(tmp_path)
    (tmp_path / "bad.json").write_text('[{"instruction": "q", "output": 3, "generator": "g"}]')
    code = main(["judge", "--outputs", str(tmp_path / "bad.json"), "--reference", str(tmp_path / "bad.json.ref"),
                 "--judge", JUDGE, "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "bad.json: record 0: missing or non-string field 'output'" in err
    code = main(["judge", "--outputs", str(tmp_path / "model_outputs.json"), "--reference", str(tmp_path / "bad.json"),
                 "--judge", JUDGE, "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "bad.json: record 0" in err and f"{tmp_path}/model_outputs.json" not in err


@pytest.mark.parametrize("fmt", ["jsonl", "alpaca_eval"])
def test_a_lone_surrogate_in_an_outputs_file_is_one_line_naming_it(tmp_path, capsys, fmt):
    if fmt == "jsonl":
        bad = tmp_path / "m.jsonl"
        bad.write_text('{"prompt_id": "1", "prompt": "p", "output": "\\ud800", "generator": "m"}\n')
    else:
        bad = tmp_path / "m.json"
        bad.write_text('[{"instruction": "p", "output": "x\\udfff", "generator": "m"}]')
    write_outputs(tmp_path / "r.jsonl", outputs(1, "r"))
    assert main(judge_argv(tmp_path, bad, tmp_path / "r.jsonl")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(bad) in err and "lone surrogate" in err
    from alignbench.io import strict_json_loads

    assert strict_json_loads('{"a": "\\ud83d\\ude00"}') == {"a": "😀"}  # an escaped pair is text


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"prompt_id": "1", "prompt": "p", "output": "o", "generator": "g"}\n{"prompt_id": "1", "prompt": "p", '
         '"output": "o", "generator": "g"}\n', ":2: duplicate prompt_id"),
        ('{"prompt_id": "1", "prompt": "p", "generator": "g"}\n', ":1: missing field 'output'"),
        ('{"prompt_id": "1", "prompt": "p", "output": "o", "generator": "g"}\n{not json\n', ":2: malformed JSON"),
        ('{"prompt_id": "1", "prompt": 5, "output": "o", "generator": "g"}\n', ":1: field 'prompt' must be a string"),
        ("", "file is empty"),
    ],
)
def test_output_file_errors_name_file_and_line(tmp_path, content, message):
    f = tmp_path / "bad.jsonl"
    f.write_text(content)
    with pytest.raises(AlignbenchError) as e:
        load_outputs(f)
    assert message in str(e.value) and "bad.jsonl" in str(e.value) and "\n" not in str(e.value)


def test_misaligned_prompts_are_an_error():
    m = [OutputRecord("1", "p", "o", "m"), OutputRecord("2", "q", "o", "m")]
    r = [OutputRecord("1", "p", "o", "r")]
    with pytest.raises(AlignbenchError, match="prompt_id '2' has no output in ref.jsonl"):
        align_outputs(m, r, "m.jsonl", "ref.jsonl")
    with pytest.raises(AlignbenchError, match="different prompt text"):
        align_outputs([OutputRecord("1", "other", "o", "m")], r, "m.jsonl", "ref.jsonl")
