"""A newcomer's first day (issue 15): the formats users already have, a local judge for dry runs,
readable leaderboards and the CLI/API conventions."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alignbench
from alignbench.cli import main
from alignbench.errors import AlignbenchError
from alignbench.evaluation.local_server import JudgeServer, ScriptedJudge, prefer_longer
from alignbench.evaluation.outputs import ACCEPTED_FORMATS, OutputRecord, load_outputs, write_outputs
from alignbench.leaderboard import to_markdown, win_rate_panels, write_leaderboard

ROOT = Path(__file__).resolve().parents[1]
JUDGE = str(ROOT / "judges" / "local-scripted.yaml")
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}


def _texts(n):
    rng = np.random.default_rng(3)
    method = ["m" * int(k) for k in rng.integers(5, 40, n)]
    reference = ["r" * 20 for _ in range(n)]
    return [f"Question number {i}?" for i in range(n)], method, reference


def _alpaca_and_jsonl(tmp_path, n=24):
    prompts, method, reference = _texts(n)
    (tmp_path / "model_outputs.json").write_text(json.dumps(
        [{"instruction": p, "output": o, "generator": "my-model", "dataset": "helpful_base"} for p, o in zip(prompts, method)],
        indent=2))
    (tmp_path / "reference_outputs.json").write_text(json.dumps(
        [{"instruction": p, "output": o, "generator": "gpt4_turbo"} for p, o in reversed(list(zip(prompts, reference)))], indent=2))
    write_outputs(tmp_path / "m.jsonl", [OutputRecord(str(i), p, o, "my-model") for i, (p, o) in enumerate(zip(prompts, method))])
    write_outputs(tmp_path / "r.jsonl", [OutputRecord(str(i), p, o, "gpt4_turbo") for i, (p, o) in enumerate(zip(prompts, reference))])


# --- inputs users already have ------------------------------------------------------------------

def test_alpaca_eval_outputs_give_the_same_win_rate_as_the_jsonl_files(tmp_path):
    """Broken variant caught: rejecting the JSON list (the old `malformed JSON`), or joining alpaca_eval
    records on position instead of instruction text (the reference file is written in reverse order)."""
    _alpaca_and_jsonl(tmp_path)
    with JudgeServer(ScriptedJudge(prefer_longer)) as srv:
        alpaca = alignbench.judge([tmp_path / "model_outputs.json"], tmp_path / "reference_outputs.json", JUDGE,
                                  tmp_path / "out-alpaca", base_url=srv.base_url)
        jsonl = alignbench.judge([tmp_path / "m.jsonl"], tmp_path / "r.jsonl", JUDGE, tmp_path / "out-jsonl", base_url=srv.base_url)
        mixed = alignbench.judge([tmp_path / "model_outputs.json"], tmp_path / "r.jsonl", JUDGE, tmp_path / "out-mixed",
                                 base_url=srv.base_url)
    assert alpaca[0]["method"] == jsonl[0]["method"] == "my-model" and alpaca[0]["baseline"] == "gpt4_turbo"
    for key in ("win_rate", "ci_low", "ci_high", "n_prompts", "wins", "ties", "losses"):
        assert alpaca[0][key] == jsonl[0][key] == mixed[0][key]
    assert 0 < alpaca[0]["win_rate"] < 100


def test_alpaca_eval_records_one_per_line_and_duplicates(tmp_path):
    lines = tmp_path / "outputs.jsonl"
    lines.write_text("".join(json.dumps({"instruction": f"q{i}", "output": "o", "generator": "g"}) + "\n" for i in range(3)))
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
        json.dumps({"question_id": 81, "category": "writing", "turns": ["Write a blog post.", "Rewrite it in verse."]}) + "\n")
    (answers / "vicuna.jsonl").write_text(json.dumps(
        {"question_id": 81, "answer_id": "x1", "model_id": "vicuna-13b", "choices": [{"index": 0, "turns": ["A post." + " long" * 2000, "A verse."]}],
         "tstamp": 1.0}) + "\n")
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
    _alpaca_and_jsonl(tmp_path)
    (tmp_path / "bad.json").write_text('[{"instruction": "q", "output": 3, "generator": "g"}]')
    code = main(["judge", "--outputs", str(tmp_path / "bad.json"), "--reference", str(tmp_path / "bad.json.ref"),
                 "--judge", JUDGE, "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "bad.json: record 0: missing or non-string field 'output'" in err
    code = main(["judge", "--outputs", str(tmp_path / "model_outputs.json"), "--reference", str(tmp_path / "bad.json"),
                 "--judge", JUDGE, "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "bad.json: record 0" in err and f"{tmp_path}/model_outputs.json" not in err


# --- a judge you can run without a key ---------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_judge_serves_on_the_yaml_port_by_default_and_stops_on_ctrl_c(tmp_path):
    """The YAML's base_url port is serve-judge's default; the server answers a real judge run and
    stops on SIGINT (Ctrl-C) with exit code 0."""
    import yaml

    from alignbench.cli import _parser

    yaml_port = int(re.search(r":(\d+)/", yaml.safe_load(Path(JUDGE).read_text())["base_url"]).group(1))
    serve_parser = _parser()._subparsers._group_actions[0].choices["serve-judge"]
    assert serve_parser.get_default("port") == yaml_port == 8765

    port = _free_port()  # not 8765: tests run beside other sessions
    proc = subprocess.Popen([sys.executable, "-m", "alignbench", "serve-judge", "--port", str(port), "--time-limit", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=tmp_path)
    try:
        url = proc.stdout.readline().strip()
        assert url == f"http://127.0.0.1:{port}/v1"
        _alpaca_and_jsonl(tmp_path, n=6)
        rows = alignbench.judge(tmp_path / "m.jsonl", tmp_path / "r.jsonl", JUDGE, tmp_path / "out", base_url=url)
        assert rows[0]["n_prompts"] == 6
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "stopped" in proc.stderr.read()


@pytest.mark.parametrize("entry", [["alignbench", "serve-judge"], ["alignbench.evaluation.local_server"]])
def test_serve_judge_stops_at_its_time_limit(tmp_path, entry):
    """Both entry points serve (the module used to exit doing nothing) and stop by themselves."""
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", *entry, "--port", str(_free_port()), "--time-limit", "1"],
                         capture_output=True, text=True, env=ENV, timeout=30)
    assert res.returncode == 0 and res.stdout.startswith("http://127.0.0.1:")
    assert time.monotonic() - t0 < 25


def test_unreachable_judge_names_the_url_after_a_bounded_wait(tmp_path, capsys):
    """Old behaviour: 12.8 s of silent retries, then a per-request failure that did not name the URL."""
    _alpaca_and_jsonl(tmp_path, n=4)
    port = _free_port()  # nothing listens there
    url = f"http://127.0.0.1:{port}/v1"
    t0 = time.monotonic()
    with pytest.raises(AlignbenchError) as e:
        alignbench.judge(tmp_path / "m.jsonl", tmp_path / "r.jsonl", JUDGE, tmp_path / "out", base_url=url)
    waited = time.monotonic() - t0
    assert url in str(e.value) and "serve-judge" in str(e.value) and "\n" not in str(e.value)
    assert waited < 8, waited


# --- leaderboards people can read and publish ---------------------------------------------------

def _alpaca_annotations(path, seed=0, n=137):
    rng = np.random.default_rng(seed)
    prefs = rng.choice([1.0, 2.0, 0.0, 1.5], size=n, p=[0.35, 0.45, 0.05, 0.15]).tolist()
    prefs += list(rng.uniform(1, 2, 20))  # weighted-alpaca-eval style fractional preferences
    prefs[3] = None
    path.write_text(json.dumps([{"instruction": f"q{i}", "generator_1": "gpt4_turbo", "generator_2": "mine", "preference": p}
                                for i, p in enumerate(prefs)]))
    return prefs


def test_alpaca_eval_win_rate_and_se_reproduce_to_1e9_from_the_written_csv(tmp_path):
    """Broken variant caught: the old `%.4g` CSV (win rate 58.39 instead of 58.3941605839…)."""
    prefs = _alpaca_annotations(tmp_path / "annotations.json")
    assert main(["leaderboard", "--alpaca-eval", str(tmp_path / "annotations.json"), "--out", str(tmp_path / "lb.csv"),
                 "--quiet"]) == 0
    # alpaca_eval's describe_head2head: draws 0 → 1.5, keep [1, 2], (preference − 1)·100, pandas sem.
    s = pd.Series([1.5 if p == 0 else p for p in prefs], dtype=float)
    s = (s[(s >= 1) & (s <= 2)] - 1) * 100
    df = pd.read_csv(tmp_path / "lb.csv")
    (row,) = df.to_dict("records")
    assert abs(row["win_rate"] - s.mean()) < 1e-9 and abs(row["std_error"] - s.sem()) < 1e-9
    assert abs(float(f"{s.mean():.4g}") - s.mean()) > 1e-9  # the old format could not have passed


def _row(method, win, evaluator="reward-model", baseline="sft", task="oracle", run_id="qs-1", judge="train RM", **kw):
    return {"task": task, "method": method, "evaluator": evaluator, "baseline": baseline, "n_prompts": 64, "win_rate": win,
            "ci_low": win - 5, "ci_high": win + 5, "std_error": 2.5, "wins": 1, "ties": 0, "losses": 1, "judge": judge,
            "run_id": run_id, "mean_reward": 1.0, "kl_to_sft": 0.5, **kw}


def test_rows_sorted_by_win_rate_within_evaluator_and_baseline_and_summary_first(tmp_path):
    rows = [_row("a", 60.0), _row("b", 80.0), _row("c", 70.0), _row("a", 90.0, baseline="dataset"), _row("b", 40.0, baseline="dataset")]
    paths = write_leaderboard(rows, tmp_path / "lb.csv")
    df = pd.read_csv(paths["csv"])
    assert df[df.baseline == "sft"].method.tolist() == ["b", "c", "a"]
    assert df[df.baseline == "dataset"].method.tolist() == ["a", "b"]
    md = paths["md"].read_text()
    assert md.index("## Summary") < md.index("## All rows")
    summary = md[md.index("## Summary"):md.index("## All rows")]
    assert "win % reward-model vs sft" in summary and "80.0 [75.0, 85.0]" in summary
    assert summary.index("| b |") < summary.index("| c |") < summary.index("| a |")


def test_combined_runs_keep_task_and_run_and_the_title_names_them(tmp_path):
    for name, task, judge in (("qs", "oracle", "train RM (policy)"), ("hh", "hh-harmless", "train RM (minilm)")):
        d = tmp_path / name
        d.mkdir()
        (d / "rows.json").write_text(json.dumps([_row("dpo", 70.0, task=task, judge=judge, run_id=f"{name}-17"),
                                                 _row("sft", 50.0, task=task, judge=judge, run_id=f"{name}-17")]))
    out = tmp_path / "lb" / "combined.csv"
    assert main(["leaderboard", str(tmp_path / "qs"), str(tmp_path / "hh"), "--out", str(out), "--quiet"]) == 0
    df = pd.read_csv(out)
    assert set(df.task) == {"oracle", "hh-harmless"} and set(df.run) == {"qs", "hh"}
    md = out.with_suffix(".md").read_text()
    assert md.splitlines()[0] == "# Leaderboard: oracle + hh-harmless (combined runs: qs, hh)"
    header = next(line for line in md.split("## All rows")[1].splitlines() if line.startswith("| "))
    assert header.startswith("| task | run | method")
    # Two reward models never share a plot panel, and each panel names its task and reward model.
    panels = win_rate_panels(df.to_dict("records"))
    assert len(panels) == 2 and all(len({r["judge"] for r in rs}) == 1 for rs in panels.values())
    assert any("oracle" in t and "policy" in t for t in panels) and any("hh-harmless" in t and "minilm" in t for t in panels)
    assert alignbench.load_leaderboard(out).shape == df.shape
    assert out.with_suffix(".html").exists()


def test_llm_judge_rows_show_consistency_first_position_and_unparseable(capsys):
    rows = [_row("dpo", 62.5, evaluator="llm:gpt-4o", consistency=81.25, first_position_rate=57.5, n_parse_failures=3)]
    md = to_markdown(pd.DataFrame(rows))
    header = next(line for line in md.split("## All rows")[1].splitlines() if line.startswith("| "))
    for col in ("consistency", "first_position_rate", "n_parse_failures"):
        assert col in header
    assert "| 81.2 |" in md and "| 57.5 |" in md and "| 3 |" in md
    from alignbench.cli import _console
    from alignbench.leaderboard import print_table

    print_table(rows, _console(), title="t")
    out = capsys.readouterr().out
    assert "consist. %" in out and "1st-pos %" in out and "unparsed" in out and "81.2" in out and "57.5" in out


def test_every_csv_column_is_documented():
    from alignbench.leaderboard import COLUMNS, EXTRA

    readme = (ROOT / "leaderboards" / "README.md").read_text()
    missing = [c for c in COLUMNS + EXTRA if f"`{c}`" not in readme]
    assert not missing, missing


# --- CLI and API conventions -------------------------------------------------------------------

def test_version_and_help_with_an_example_on_every_subcommand():
    from alignbench.cli import _parser

    res = subprocess.run([sys.executable, "-m", "alignbench", "--version"], capture_output=True, text=True, env=ENV, check=True)
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

    cfg = load_config(str(ROOT / "tests" / "data" / "tiny.yaml"))
    rd = RunDir(tmp_path / "run", cfg.model_dump(mode="json"))
    rd.mark_done("sft", 12.34)
    assert main(["status", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"done\s+sft\s+12\.3 s", out)
    assert re.search(r"pending\s+reward_model", out) and "pending  evaluation" in out and "remaining" in out
    assert main(["status", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_run_log_gets_every_logged_line_even_when_quiet(tmp_path):
    from alignbench.progress import progress_bar

    with progress_bar(quiet=True, log_path=tmp_path / "run.log") as progress:
        progress.log("sft: held-out NLL 2.1 → 1.3")
    lines = (tmp_path / "run.log").read_text().splitlines()
    assert lines[0].split(" ", 1)[1].startswith("start:") and "sft: held-out NLL" in lines[1] and lines[-1].endswith("finished")


def test_leaderboard_results_on_stdout_logs_on_stderr(tmp_path):
    _alpaca_annotations(tmp_path / "annotations.json")
    res = subprocess.run([sys.executable, "-m", "alignbench", "leaderboard", "--alpaca-eval", str(tmp_path / "annotations.json"),
                          "--out", str(tmp_path / "lb.csv")], capture_output=True, text=True, env=ENV, check=True)
    assert "mine" in res.stdout and "summary" in res.stdout
    assert "leaderboard:" in res.stderr and "leaderboard:" not in res.stdout


def test_progress_bars_go_to_stderr():
    from alignbench.progress import progress_bar

    with progress_bar(quiet=False) as progress:
        assert progress.p.console.stderr


def test_python_api_is_documented():
    for fn in (alignbench.run, alignbench.judge, alignbench.load_leaderboard):
        assert fn.__doc__ and len(fn.__doc__) > 40
    with pytest.raises(AlignbenchError, match="nope.csv: file not found"):
        alignbench.load_leaderboard("nope.csv")
