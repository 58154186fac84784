"""Writes that matter: atomic, and a full or read-only disk is a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from judge_fixtures import judge_argv, judge_yaml, outputs, write

from alignbench.cli import main
from alignbench.evaluation.local_server import JudgeServer, ScriptedJudge, prefer_longer
from alignbench.evaluation.outputs import write_outputs
from alignbench.evaluation.store import JudgmentStore

ALPACA = [{"generator_1": "a", "generator_2": "b", "preference": 2},
          {"generator_1": "a", "generator_2": "b", "preference": 1}]


@pytest.mark.parametrize("errno_name", ["ENOSPC", "EROFS", "EACCES"])
def test_disk_full_or_read_only_output_is_a_one_line_error(errno_name, tmp_path, capsys, monkeypatch):
    """Disk full / read-only / no permission while writing --out (simulated: the tests run as root)."""
    import errno
    import os

    import alignbench.io as io_module

    ann = write(tmp_path, "a.json", json.dumps(ALPACA))

    def fail(fd):
        raise OSError(getattr(errno, errno_name), os.strerror(getattr(errno, errno_name)))

    monkeypatch.setattr(io_module.os, "fsync", fail)
    code = main(["leaderboard", "--alpaca-eval", str(ann), "--out", str(tmp_path / "lb" / "t.csv")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("alignbench: error:") and "\n" not in err, err
    assert os.strerror(getattr(errno, errno_name)).lower() in err
    assert not list((tmp_path / "lb").glob("*.tmp")) and not (tmp_path / "lb" / "t.csv").exists()


def test_judge_on_a_full_disk_is_one_line_and_resumes(tmp_path, capsys, monkeypatch):
    import errno

    write_outputs(tmp_path / "m.jsonl", outputs(40, "m", lambda i: "m" * (i % 7 + 1)))
    write_outputs(tmp_path / "r.jsonl", outputs(40, "r", lambda i: "rrrr"))
    real_append, calls = JudgmentStore.append, []

    def append(self, records):
        calls.append(1)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        return real_append(self, records)

    # answers arrive together: many writes fail at once
    with JudgeServer(ScriptedJudge(prefer_longer), latency_s=0.05) as srv:
        judge = judge_yaml(tmp_path, srv.base_url, max_concurrency=16)
        argv = judge_argv(tmp_path, tmp_path / "m.jsonl", tmp_path / "r.jsonl", judge=str(judge)) + [
            "--bootstrap",
            "200",
        ]
        monkeypatch.setattr(JudgmentStore, "append", append)
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "no space left on device" in err and "re-run the same command" in err, err
        monkeypatch.setattr(JudgmentStore, "append", real_append)
        assert main(argv) == 0
    assert len((tmp_path / "out" / "judgments.jsonl").read_text().splitlines()) == 80


def test_a_torch_write_failure_in_run_is_one_line(tmp_path, capsys, monkeypatch):
    from alignbench import pipeline

    def full(*a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . PytorchStreamWriter failed writing "
                           "file data/0: file write failed")

    monkeypatch.setattr(pipeline, "run_comparison", full)
    assert main(["run", "--run-dir", str(tmp_path / "run"), "--leaderboard-dir", str(tmp_path / "lb"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is the disk full?" in err


def test_model_heads_are_written_atomically(tmp_path, monkeypatch):
    import torch

    from alignbench.io import atomic_write_torch

    atomic_write_torch(tmp_path / "head.pt", {"w": torch.ones(2)})
    assert torch.equal(torch.load(tmp_path / "head.pt")["w"], torch.ones(2))
    from alignbench.models import encoder_reward, reward

    assert (
        "torch.save(" not in Path(reward.__file__).read_text()
        and "torch.save(" not in Path(encoder_reward.__file__).read_text()
    )
