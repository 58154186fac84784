"""Judging existing output files (`alignbench judge`)."""

from __future__ import annotations

from judge_fixtures import judge_argv, outputs

from alignbench.cli import main
from alignbench.evaluation.outputs import write_outputs


def test_the_reference_generator_as_a_method_is_refused_before_anything_is_written(tmp_path, capsys):
    write_outputs(tmp_path / "r.jsonl", outputs(2, "r"))
    assert main(judge_argv(tmp_path, tmp_path / "r.jsonl", tmp_path / "r.jsonl")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "is also the generator of the reference" in err and not (tmp_path / "out").exists()
