"""YAML loading: a repeated key is refused naming its lines; merges still work."""

from __future__ import annotations
import pytest
from alignbench.cli import main
from alignbench.evaluation.outputs import OutputRecord, write_outputs
from repo_fixtures import judge_yaml


def outputs(n, generator, text=lambda i: "x"):
    return [OutputRecord(str(i), f"prompt {i}", text(i), generator) for i in range(n)]


def _judge_argv(tmp_path, outputs_file, reference_file, judge="rm:/nonexistent"):
    return ["judge", "--outputs", str(outputs_file), "--reference", str(reference_file), "--judge", judge,
            "--out", str(tmp_path / "out"), "--quiet"]


@pytest.mark.parametrize("kind", ["config", "judge"])
def test_a_repeated_yaml_key_is_refused_naming_its_lines(tmp_path, capsys, kind):
    if kind == "config":
        path = tmp_path / "c.yaml"
        path.write_text("methods:\n  dpo: {}\nseed: 1\nmethods:\n  ipo: {}\n")
        argv = ["run", str(path), "--run-dir", str(tmp_path / "run")]
        line, first = 4, 1
    else:
        path = judge_yaml(tmp_path, "http://127.0.0.1:9/v1")
        text = path.read_text()
        path.write_text(text + "base_url: http://127.0.0.1:10/v1\n")
        first = next(i for i, x in enumerate(text.splitlines(), 1) if x.startswith("base_url:"))
        line = len(text.splitlines()) + 1
        write_outputs(tmp_path / "m.jsonl", outputs(1, "m"))
        write_outputs(tmp_path / "r.jsonl", outputs(1, "r"))
        argv = _judge_argv(tmp_path, tmp_path / "m.jsonl", tmp_path / "r.jsonl", judge=str(path))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert f"{path}:{line}: key " in err and f"appears twice in one mapping (first on line {first})" in err
    from alignbench.safe_yaml import load_yaml_text

    assert load_yaml_text("a: &b {x: 1}\nc:\n  <<: *b\n  x: 2\n", "t") == {"a": {"x": 1}, "c": {"x": 2}}  # merges still work
