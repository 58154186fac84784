"""Judging existing output files (`alignbench judge`)."""

from __future__ import annotations
from alignbench.cli import main
from alignbench.evaluation.outputs import OutputRecord, write_outputs


def outputs(n, generator, text=lambda i: "x"):
    return [OutputRecord(str(i), f"prompt {i}", text(i), generator) for i in range(n)]


def _judge_argv(tmp_path, outputs_file, reference_file, judge="rm:/nonexistent"):
    return ["judge", "--outputs", str(outputs_file), "--reference", str(reference_file), "--judge", judge,
            "--out", str(tmp_path / "out"), "--quiet"]


def test_the_reference_generator_as_a_method_is_refused_before_anything_is_written(tmp_path, capsys):
    write_outputs(tmp_path / "r.jsonl", outputs(2, "r"))
    assert main(_judge_argv(tmp_path, tmp_path / "r.jsonl", tmp_path / "r.jsonl")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "is also the generator of the reference" in err and not (tmp_path / "out").exists()
