"""A corpus of malformed inputs through the CLI: each is a one-line error naming the file and line or the
setting, a non-zero exit, and no change to files already written; hostile inputs are refused within bounds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from judge_fixtures import judge_args, judge_file, judge_yaml, line, make_pairs, write
from repo_fixtures import REPO

from alignbench.cli import main
from alignbench.evaluation.outputs import write_outputs


def run_args(tmp, config_text=None, *sets):
    cfg = write(tmp, "cfg.yaml", config_text) if config_text is not None else REPO / "tests" / "data" / "tiny.yaml"
    return ["run", str(cfg), "--run-dir", str(tmp / "run"), "--leaderboard-dir", str(tmp / "lb"), "--quiet",
            *[a for s in sets for a in ("--set", s)]]


def mismatched_tokenizer(tmp):
    from alignbench.models.policy import TinyGPT2Spec, build_tiny_gpt2
    from alignbench.models.tokenizers import build_symbol_tokenizer

    tok = build_symbol_tokenizer([f"s{i}" for i in range(40)])
    model = build_tiny_gpt2(10, TinyGPT2Spec(n_layer=1, n_embd=8, n_head=2, n_positions=16))
    d = tmp / "badmodel"
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return run_args(tmp, None, f"policy.path={d}")


CASES = {
    "broken JSONL": (lambda t: judge_args(t, write(t, "m.jsonl", line() + "{broken\n")), "m.jsonl:2: malformed JSON"),
    "wrong type": (
        lambda t: judge_args(t, write(t, "m.jsonl", line(prompt=3))),
        "m.jsonl:1: field 'prompt' must be a string",
    ),
    "missing field": (
        lambda t: judge_args(
            t, write(t, "m.jsonl", json.dumps({"prompt_id": "1", "prompt": "p", "generator": "m"}) + "\n")
        ),
        "m.jsonl:1: missing field 'output'",
    ),
    "missing generator": (
        lambda t: judge_args(
            t, write(t, "m.jsonl", json.dumps({"prompt_id": "1", "prompt": "p", "output": "o"}) + "\n")
        ),
        "m.jsonl:1: missing field 'generator'",
    ),
    "duplicate prompt id": (
        lambda t: judge_args(t, write(t, "m.jsonl", line() + line())),
        "m.jsonl:2: duplicate prompt_id '1'",
    ),
    "missing prompt id": (
        lambda t: judge_args(
            t, write(t, "m.jsonl", json.dumps({"prompt": "p", "output": "o", "generator": "m"}) + "\n")
        ),
        "m.jsonl:1: missing field 'prompt_id'",
    ),
    "prompt missing in reference": (
        lambda t: judge_args(t, write(t, "m.jsonl", line() + line(prompt_id="2"))),
        "prompt_id '2' has no output in",
    ),
    "prompt text differs": (
        lambda t: judge_args(t, write(t, "m.jsonl", line(prompt="other"))),
        "different prompt text",
    ),
    "empty file": (lambda t: judge_args(t, write(t, "m.jsonl", "")), "m.jsonl: file is empty"),
    "not an object": (lambda t: judge_args(t, write(t, "m.jsonl", "[1, 2]\n")), "m.jsonl:1: expected a JSON object"),
    "invalid UTF-8": (
        lambda t: judge_args(t, write(t, "m.jsonl", line().encode() + b'{"prompt": "\xff\xfe"}\n')),
        "m.jsonl:2: invalid UTF-8",
    ),
    "huge line": (
        lambda t: judge_args(t, write(t, "m.jsonl", line() + line(prompt_id="2", output="x" * (17 * 2**20)))),
        "m.jsonl:2: line is",
    ),
    "NaN in a record": (
        lambda t: judge_args(
            t, write(t, "m.jsonl", '{"prompt_id": "1", "prompt": "p", "output": "o", "generator": "m", "seed": NaN}\n')
        ),
        "m.jsonl:1: malformed JSON",
    ),
    "outputs file missing": (lambda t: judge_args(t, t / "nope.jsonl"), "nope.jsonl: file not found"),
    "unknown judge name": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()), judge="no-such-judge"),
        "judge 'no-such-judge': no such YAML file",
    ),
    "judge bad YAML": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=write(t, "j.yaml", "model: [unclosed\n")),
        "j.yaml:2: bad YAML",
    ),
    "judge unknown key": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, temprature=0.1)),
        "setting 'temprature'",
    ),
    "judge zero concurrency": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, max_concurrency=0)),
        "setting 'max_concurrency'",
    ),
    "judge missing template": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, template="nope.txt")),
        "setting 'template'",
    ),
    "unknown method": (lambda t: run_args(t, None, "methods.nosuch={}"), "unknown method 'nosuch'"),
    "bad YAML config": (lambda t: run_args(t, "name: x\nmethods: {dpo: [\n"), "cfg.yaml:3: bad YAML"),
    "empty config": (lambda t: run_args(t, ""), "cfg.yaml: config is empty"),
    "config not a mapping": (lambda t: run_args(t, "- 1\n- 2\n"), "config must be a mapping"),
    "negative beta": (lambda t: run_args(t, None, "beta=-0.1"), "setting 'beta'"),
    "zero learning rate": (lambda t: run_args(t, None, "methods.dpo.lr=0"), "methods.dpo.lr must be a positive number"),
    "negative steps": (
        lambda t: run_args(t, None, "methods.arm.steps=-5"),
        "methods.arm.steps must be a positive number",
    ),
    "unknown hyper-parameter": (
        lambda t: run_args(t, None, "methods.dpo.betta=0.1"),
        "unknown hyper-parameter(s) betta",
    ),
    "unknown task option": (lambda t: run_args(t, None, "task.options.n_tests=3"), "unknown option(s) n_tests"),
    "override without =": (lambda t: run_args(t, None, "beta"), "--set 'beta': expected KEY=VALUE"),
    "unknown config name": (lambda t: ["run", "no-such-config"], "config 'no-such-config': no such file"),
    "mismatched tokenizer": (mismatched_tokenizer, "mismatched tokenizer"),
    "leaderboard of a directory without rows": (
        lambda t: ["leaderboard", str(t), "--out", str(t / "lb.csv")],
        "no rows.json",
    ),
    "alpaca annotations malformed": (
        lambda t: ["leaderboard", "--alpaca-eval", str(write(t, "a.json", "[{")), "--out", str(t / "lb.csv")],
        "a.json: malformed JSON",
    ),
    "alpaca preference not a number": (
        lambda t: [
            "leaderboard",
            "--alpaca-eval",
            str(write(t, "a.json", json.dumps([{"generator_1": "a", "generator_2": "b", "preference": "2"}]))),
            "--out",
            str(t / "lb.csv"),
        ],
        "'preference' must be a number",
    ),
}


def refused_in_one_line(build, message, tmp_path, capsys) -> None:
    """The CLI on ``build(tmp_path)``: exit 2, one line naming ``message``, a judgments file beside it untouched."""
    (tmp_path / "out").mkdir()
    sentinel = write(tmp_path / "out", "judgments.jsonl", '{"key": "k", "verdict": "A"}\n')
    before = sentinel.read_bytes()
    code = main(build(tmp_path))
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("alignbench: error:") and "\n" not in err, err[:2000]
    assert message in err, err[:2000]
    assert sentinel.read_bytes() == before


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_a_one_line_error(name, tmp_path, capsys):
    refused_in_one_line(*CASES[name], tmp_path, capsys)
    assert not (tmp_path / "run" / "rows.json").exists()


def alias_bomb(field: str, levels: int = 9) -> str:
    """A 'billion laughs' under ``field`` (e.g. policy.lora): 9 aliases per level, 9**levels strings expanded."""
    section, key = field.split(".", 1)
    lines = ['bomb0: &b0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"bomb{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return f"name: bomb\nmethods: {{dpo: {{steps: 1}}}}\n{section}:\n  {key}:\n" + "".join(f"    {x}\n" for x in lines)


def deep_yaml(depth: int = 100_000) -> str:
    return "name: deep\nmethods: {dpo: {}}\npolicy:\n  lora: " + "[" * depth + "]" * depth + "\n"


def judge_dir(tmp):
    d = tmp / "judge-dir.yaml"
    d.mkdir()
    return d


def unreadable(tmp, name):
    """A file even root cannot read: reading /proc/self/mem at offset 0 fails with EIO."""
    link = tmp / name
    link.symlink_to("/proc/self/mem")
    return link


HARDENING = {
    # Before: an OSError traceback for each.
    "config unreadable": (
        lambda t: ["run", str(unreadable(t, "c.yaml")), "--run-dir", str(t / "run")],
        "c.yaml: cannot read config (Input/output error)",
    ),
    "judge YAML unreadable": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=unreadable(t, "j.yaml")),
        "j.yaml: cannot read judge config",
    ),
    "template unreadable": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, template=str(unreadable(t, "t.txt")))),
        "t.txt: cannot read template",
    ),
    "outputs unreadable": (
        lambda t: judge_args(t, unreadable(t, "m.jsonl")),
        "m.jsonl: cannot read (Input/output error)",
    ),
    "alpaca_eval file unreadable": (
        lambda t: ["leaderboard", "--alpaca-eval", str(unreadable(t, "a.json")), "--out", str(t / "lb.csv")],
        "a.json: cannot read annotations file",
    ),
    "rows.json unreadable": (
        lambda t: unreadable(t, "rows.json") and ["leaderboard", str(t), "--out", str(t / "lb.csv")],
        "rows.json: cannot read rows.json",
    ),
    # Before: model_dump() expanded the bomb (MemoryError, a hang, a 128 MB config.yaml).
    "alias bomb in policy.lora": (
        lambda t: run_args(t, alias_bomb("policy.lora")),
        "cfg.yaml: over 100,000 values once aliases are expanded",
    ),
    "alias bomb in task.options": (
        lambda t: run_args(t, alias_bomb("task.options")),
        "cfg.yaml: over 100,000 values once aliases are expanded",
    ),
    "alias bomb in --set": (
        lambda t: run_args(
            t,
            None,
            "policy.lora={a: &a [1,1,1,1,1,1,1,1,1,1], b: &b "
            "[*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], c: &c "
            "[*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], d: &d "
            "[*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], e: "
            "[*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]}",
        ),
        "--set policy.lora: over 100,000 values",
    ),
    # Before: RecursionError with 3,000 lines of stderr.
    "100k-deep nesting": (lambda t: run_args(t, deep_yaml()), "cfg.yaml:4: nested deeper than 64 levels"),
    "config over the size limit": (
        lambda t: run_args(t, "name: big\n" + "#" * (2 * 2**20) + "\n"),
        "cfg.yaml: config is over the 1048576-byte limit",
    ),
    "config is a directory": (
        lambda t: ["run", str(judge_dir(t)), "--run-dir", str(t / "run")],
        "judge-dir.yaml: is a directory, expected a config",
    ),
    # Before: the grid's `set:` values were re-dumped with yaml.safe_dump, expanding the bomb.
    "grid YAML alias bomb": (
        lambda t: [
            "grid",
            str(
                write(
                    t,
                    "g.yaml",
                    "base: quickstart\ngrid: {methods: [dpo]}\n" + alias_bomb("set.policy.lora").split("\n", 2)[2],
                )
            ),
            "--out",
            str(t / "grid"),
        ],
        "g.yaml: over 100,000 values",
    ),
    "config is /dev/zero": (
        lambda t: ["run", "/dev/zero", "--run-dir", str(t / "run")],
        "/dev/zero: config is over the",
    ),
    "method name not a string": (
        lambda t: run_args(t, None, "methods.x={method: [dpo]}"),
        "methods.x.method must be a method name, got list",
    ),
    # Before: accepted at load, failed (or silently truncated) only after SFT and the reward model.
    "steps 2.5 on the command line": (
        lambda t: run_args(t, None, "methods.dpo.steps=2.5"),
        "methods.dpo.steps must be an integer",
    ),
    "lora typed": (lambda t: run_args(t, None, "policy.lora={r: .nan}"), "setting 'policy.lora.r'"),
    # judge YAML
    "judge timeout .inf": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, timeout=float("inf"))),
        "setting 'timeout': Input should be a finite number",
    ),
    "judge base_url ftp": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, base_url="ftp://127.0.0.1/v1")),
        "setting 'base_url'",
    ),
    "judge base_url file": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, base_url="file:///etc/passwd")),
        "setting 'base_url'",
    ),
    "judge base_url malformed": (
        lambda t: judge_args(
            t, write(t, "m.jsonl", line()), judge=judge_file(t, base_url="http://127.0.0.1:99999x/v1")
        ),
        "setting 'base_url'",
    ),
    "judge base_url without host": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, base_url="http:///v1")),
        "setting 'base_url'",
    ),
    "judge YAML is a directory": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_dir(t)),
        "judge-dir.yaml: is a directory, expected a judge config",
    ),
    "judge template is a directory": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, template=str(judge_dir(t)))),
        "is a directory, expected a template",
    ),
    "judge YAML alias bomb": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=write(t, "j.yaml", alias_bomb("policy.lora"))),
        "j.yaml: over 100,000 values",
    ),
    # outputs
    "duplicate JSON key": (
        lambda t: judge_args(
            t,
            write(t, "m.jsonl", '{"prompt_id": "1", "prompt": "p", "output": "o", "output": "p2", "generator": "m"}\n'),
        ),
        "m.jsonl:1: malformed JSON (duplicate key 'output')",
    ),
    "outputs /dev/zero": (lambda t: judge_args(t, Path("/dev/zero")), "/dev/zero: unknown outputs format"),
    "two outputs, one generator": (
        lambda t: (
            judge_args(t, write(t, "m.jsonl", line()))
            + ["--outputs", str(write(t, "m2.jsonl", line())), str(write(t, "m3.jsonl", line()))]
        ),
        "m3.jsonl: generator 'm' is also the generator of",
    ),
    "judge --seed -1": (
        lambda t: judge_args(t, write(t, "m.jsonl", line())) + ["--seed", "-1"],
        "--seed must be in [0, 4294967295], got -1",
    ),
    "judge --bootstrap 0": (
        lambda t: judge_args(t, write(t, "m.jsonl", line())) + ["--bootstrap", "0"],
        "--bootstrap must be 100 to 1,000,000 resamples, got 0",
    ),
    "judge --bootstrap 1e9": (
        lambda t: judge_args(t, write(t, "m.jsonl", line())) + ["--bootstrap", "1000000000"],
        "--bootstrap must be 100 to 1,000,000",
    ),
    # Before: the judge YAML of `run --judge` was read only after all training.
    "run --judge missing YAML": (
        lambda t: run_args(t, None) + ["--judge", "no-such-judge"],
        "judge 'no-such-judge': no such YAML file",
    ),
    "run --judge YAML is a directory": (
        lambda t: run_args(t, None) + ["--judge", str(judge_dir(t))],
        "is a directory, expected a judge config",
    ),
    "judge --out is a file": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()))[:-1] + [str(write(t, "afile", "x"))],
        "afile: exists and is not a directory",
    ),
    "judge --out under a file": (
        lambda t: judge_args(t, write(t, "m.jsonl", line()))[:-1] + [str(write(t, "afile", "x") / "out")],
        "cannot use as the --out directory",
    ),
    # leaderboard
    "alpaca_eval file is a directory": (
        lambda t: ["leaderboard", "--alpaca-eval", str(judge_dir(t)), "--out", str(t / "lb.csv")],
        "is a directory, expected an annotations file",
    ),
    "rows.json is a directory": (
        lambda t: (
            (t / "d" / "rows.json").mkdir(parents=True) or ["leaderboard", str(t / "d"), "--out", str(t / "lb.csv")]
        ),
        "rows.json: is a directory",
    ),
    "rows.json with duplicate keys": (
        lambda t: (
            write(t, "rows.json", '[{"method": "a", "method": "b"}]')
            and ["leaderboard", str(t), "--out", str(t / "lb.csv")]
        ),
        "rows.json: malformed JSON (duplicate key 'method')",
    ),
    "leaderboard --out under a file": (
        lambda t: [
            "leaderboard",
            "--alpaca-eval",
            str(write(t, "a.json", json.dumps([{"generator_1": "a", "generator_2": "b", "preference": 2}]))),
            "--out",
            str(write(t, "afile", "x") / "lb.csv"),
        ],
        "afile is a file, not a directory",
    ),
    "leaderboard --out is a directory": (
        lambda t: [
            "leaderboard",
            "--alpaca-eval",
            str(write(t, "a.json", json.dumps([{"generator_1": "a", "generator_2": "b", "preference": 2}]))),
            "--out",
            str(t),
        ],
        "is a directory; --out names the leaderboard CSV file",
    ),
}


@pytest.mark.parametrize("name", list(HARDENING))
def test_hardening_input_is_a_one_line_error(name, tmp_path, capsys):
    """Each of these was a traceback, a hang, a silent acceptance or a late failure once."""
    refused_in_one_line(*HARDENING[name], tmp_path, capsys)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").glob("*.done"))
    assert not (tmp_path / "run" / "config.yaml").exists()


# The CLI runs as the grandchild of a small Python that reports its peak RSS: a child exec'd straight from
# pytest inherits pytest's own high-water mark at exec (Linux keeps the larger of the two), which read
# 1,287 MB for the alias bomb late in a full suite whose pytest process had grown past 1 GB.
_PEAK_OF_CHILD = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
                  "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
                  "sys.exit(rc)")


def _measure(argv: list[str], cwd: Path) -> tuple[int, str, float, float]:
    """Run the CLI under `ulimit -v 4000000`; returns (exit code, stderr, seconds, peak RSS in MB)."""
    t0 = time.monotonic()
    peak_file = cwd / "peak_rss_kb"
    proc = subprocess.Popen(["bash", "-c", 'ulimit -v 4000000 && exec "$0" "$@"', sys.executable, "-c",
                             _PEAK_OF_CHILD, str(peak_file), sys.executable, "-m", "alignbench", *argv],
                            cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        err = proc.stderr.read(1 << 20).decode("utf-8", "replace")
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err, time.monotonic() - t0, int(peak_file.read_text()) / 1024


def test_hostile_inputs_are_refused_within_one_gigabyte_and_ten_seconds(tmp_path):
    """The bound: under `ulimit -v 4000000`, the YAML alias bomb, 100k-deep nesting and
    `--outputs /dev/zero` are refused (exit 2, one line) before 1 GB or 10 s. Before: the bomb took
    97 s and 2.1 GB, the nesting 3,000 lines of RecursionError, /dev/zero a MemoryError at 2.9 GB."""
    (tmp_path / "bomb.yaml").write_text(alias_bomb("policy.lora"))
    (tmp_path / "deep.yaml").write_text(deep_yaml())
    write_outputs(tmp_path / "r.jsonl", make_pairs(1)[1])
    cases = {
        "alias bomb": ["run", str(tmp_path / "bomb.yaml"), "--run-dir", str(tmp_path / "run1")],
        "deep nesting": ["run", str(tmp_path / "deep.yaml"), "--run-dir", str(tmp_path / "run2")],
        "/dev/zero": ["judge", "--outputs", "/dev/zero", "--reference", str(tmp_path / "r.jsonl"), "--judge",
                      str(judge_yaml(tmp_path, "http://127.0.0.1:9/v1")), "--out", str(tmp_path / "out")],
    }
    for name, argv in cases.items():
        code, err, seconds, rss_mb = _measure(argv, tmp_path)
        print(f"{name}: exit {code} in {seconds:.2f}s, peak RSS {rss_mb:.0f} MB: {err.strip()[:120]}")
        assert code == 2 and err.startswith("alignbench: "
                                            "error:") and len(err.strip().splitlines()) == 1, (name, err[:500])
        assert seconds < 10 and rss_mb < 1024, name
