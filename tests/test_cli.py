"""The command line: subcommands, help with an example each, entry points, stdout for results and stderr for logs."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from judge_fixtures import alpaca_annotations
from repo_fixtures import ENV, REPO

import alignbench
from alignbench.cli import main
from alignbench.methods.registry import all_methods

EXPECTED = ["sft", "dpo", "dpo-sft", "best-of-n", "expert-iteration", "arm", "arm-pl", "brain", "exo", "exo-pref",
            "dpo-rw", "ppo",
            "rso", "ipo", "slic", "kto", "orpo", "rrhf", "raft", "pro", "dpo-pl", "preferred-ft", "online-dpo"]


def test_help_lists_subcommands():
    out = subprocess.run(
        [sys.executable, "-m", "alignbench", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for cmd in ("run", "judge", "leaderboard", "methods"):
        assert cmd in out


def test_methods_lists_every_method_with_a_description(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in EXPECTED:
        assert name in out
    assert set(EXPECTED) == set(all_methods())
    assert all(cls.description for cls in all_methods().values())


def test_version_and_help_with_an_example_on_every_subcommand():
    from alignbench.cli import _parser

    res = subprocess.run([sys.executable, "-m", "alignbench", "--version"], capture_output=True, text=True, env=ENV,
                         check=True)
    assert res.stdout.strip() == f"alignbench {alignbench.__version__}"
    subparsers = _parser()._subparsers._group_actions[0].choices
    assert {"run", "judge", "leaderboard", "report", "serve-judge", "status", "methods", "grid"} <= set(subparsers)
    for name, sp in subparsers.items():
        assert "alignbench " + name in (sp.epilog or ""), f"{name}: no example in its help"
        for action in sp._actions:
            assert action.help, f"{name} {action.option_strings or action.dest}: no help text"
    judge_help = subparsers["judge"].format_help()
    assert "alpaca_eval" in judge_help and "MT-Bench" in judge_help and "prompt_id" in judge_help
    from alignbench.config import BUILTIN

    (config_arg,) = [a for a in subparsers["run"]._actions if a.dest == "config"]
    assert all(name in config_arg.help for name in BUILTIN), "run --help must name every built-in config"


@pytest.mark.parametrize("entry", [["alignbench"], ["alignbench.cli"]])
def test_every_entry_point_reaches_the_last_command(entry):
    """``python -m alignbench.cli`` dispatches as ``python -m alignbench`` does. Catches the
    ``if __name__ == "__main__"`` guard sitting above ``_cmd_audit_judge``: a NameError traceback."""
    res = subprocess.run([sys.executable, "-m", *entry, "audit-judge", "--judge", "no-such-judge"],
                         capture_output=True, text=True, env=ENV, timeout=60)
    assert res.returncode == 2 and "alignbench: error: judge 'no-such-judge'" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_methods_lists_hyper_parameters_and_defaults(capsys):
    from alignbench.methods.registry import all_methods

    assert main(["methods"]) == 0
    out = re.sub(r"[│┃ \n]+", " ", capsys.readouterr().out)
    assert " beta float 0.1 " in out and " n int 32 " in out
    assert all(all(name in out for name in cls.Params.names()) for cls in all_methods().values())


def test_status_says_which_stages_are_done_and_what_remains(tmp_path, capsys):
    from alignbench.config import load_config
    from alignbench.rundir import RunDir

    cfg = load_config(str(REPO / "tests" / "data" / "tiny.yaml"))
    rd = RunDir(tmp_path / "run", cfg.model_dump(mode="json"))
    rd.mark_done("sft", 12.34)
    assert main(["status", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"done\s+sft\s+12\.3 s", out)
    assert re.search(r"pending\s+reward_model", out) and "pending  evaluation" in out and "remaining" in out
    assert main(["status", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_leaderboard_results_on_stdout_logs_on_stderr(tmp_path):
    alpaca_annotations(tmp_path / "annotations.json")
    res = subprocess.run([sys.executable, "-m", "alignbench", "leaderboard", "--alpaca-eval",
                          str(tmp_path / "annotations.json"),
                          "--out", str(tmp_path / "lb.csv")], capture_output=True, text=True, env=ENV, check=True)
    assert "mine" in res.stdout and "summary" in res.stdout
    assert "leaderboard:" in res.stderr and "leaderboard:" not in res.stdout
