"""YAML loading: a repeated key is refused naming its lines; merges still work."""

from __future__ import annotations

import pytest
from judge_fixtures import judge_argv, judge_yaml, outputs

from alignbench.cli import main
from alignbench.evaluation.outputs import write_outputs


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
        argv = judge_argv(tmp_path, tmp_path / "m.jsonl", tmp_path / "r.jsonl", judge=str(path))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert f"{path}:{line}: key " in err and f"appears twice in one mapping (first on line {first})" in err
    from alignbench.safe_yaml import load_yaml_text

    # merges still work
    assert load_yaml_text("a: &b {x: 1}\nc:\n  <<: *b\n  x: 2\n", "t") == {"a": {"x": 1}, "c": {"x": 2}}
