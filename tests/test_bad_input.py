"""A corpus of malformed inputs: each is a one-line error naming the file and line or the setting,
a non-zero exit, and no change to files already written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from alignbench.cli import main
from alignbench.errors import AlignbenchError
from alignbench.tasks.base import call_reward

REPO = Path(__file__).resolve().parents[1]
GOOD = {"prompt_id": "1", "prompt": "p", "output": "o", "generator": "m"}


def line(**over):
    return json.dumps({**GOOD, **over}) + "\n"


def write(tmp, name, content, mode="w"):
    p = tmp / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    return p


def judge_file(tmp, **over):
    cfg = yaml.safe_load((REPO / "judges" / "local-scripted.yaml").read_text())
    cfg["template"] = str(REPO / "judges" / "templates" / "pairwise.txt")
    cfg.update(over)
    return write(tmp, "judge.yaml", yaml.safe_dump(cfg))


def judge_args(tmp, outputs, reference=None, judge=None):
    ref = reference or write(tmp, "ref.jsonl", line(generator="ref", output="r"))
    return ["judge", "--outputs", str(outputs), "--reference", str(ref), "--judge", str(judge or judge_file(tmp)), "--out", str(tmp / "out")]


def run_args(tmp, config_text=None, *sets):
    cfg = write(tmp, "cfg.yaml", config_text) if config_text is not None else REPO / "tests" / "data" / "tiny.yaml"
    return ["run", str(cfg), "--run-dir", str(tmp / "run"), "--leaderboard-dir", str(tmp / "lb"), "--quiet", *[a for s in sets for a in ("--set", s)]]


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
    "wrong type": (lambda t: judge_args(t, write(t, "m.jsonl", line(prompt=3))), "m.jsonl:1: field 'prompt' must be a string"),
    "missing field": (lambda t: judge_args(t, write(t, "m.jsonl", json.dumps({"prompt_id": "1", "prompt": "p", "generator": "m"}) + "\n")), "m.jsonl:1: missing field 'output'"),
    "missing generator": (lambda t: judge_args(t, write(t, "m.jsonl", json.dumps({"prompt_id": "1", "prompt": "p", "output": "o"}) + "\n")), "m.jsonl:1: missing field 'generator'"),
    "duplicate prompt id": (lambda t: judge_args(t, write(t, "m.jsonl", line() + line())), "m.jsonl:2: duplicate prompt_id '1'"),
    "missing prompt id": (lambda t: judge_args(t, write(t, "m.jsonl", json.dumps({"prompt": "p", "output": "o", "generator": "m"}) + "\n")), "m.jsonl:1: missing field 'prompt_id'"),
    "prompt missing in reference": (lambda t: judge_args(t, write(t, "m.jsonl", line() + line(prompt_id="2"))), "prompt_id '2' has no output in"),
    "prompt text differs": (lambda t: judge_args(t, write(t, "m.jsonl", line(prompt="other"))), "different prompt text"),
    "empty file": (lambda t: judge_args(t, write(t, "m.jsonl", "")), "m.jsonl: file is empty"),
    "not an object": (lambda t: judge_args(t, write(t, "m.jsonl", "[1, 2]\n")), "m.jsonl:1: expected a JSON object"),
    "invalid UTF-8": (lambda t: judge_args(t, write(t, "m.jsonl", line().encode() + b'{"prompt": "\xff\xfe"}\n')), "m.jsonl:2: invalid UTF-8"),
    "huge line": (lambda t: judge_args(t, write(t, "m.jsonl", line() + line(prompt_id="2", output="x" * (17 * 2**20)))), "m.jsonl:2: line is"),
    "NaN in a record": (lambda t: judge_args(t, write(t, "m.jsonl", '{"prompt_id": "1", "prompt": "p", "output": "o", "generator": "m", "seed": NaN}\n')), "m.jsonl:1: malformed JSON"),
    "outputs file missing": (lambda t: judge_args(t, t / "nope.jsonl"), "nope.jsonl: file not found"),
    "unknown judge name": (lambda t: judge_args(t, write(t, "m.jsonl", line()), judge="no-such-judge"), "judge 'no-such-judge': no such YAML file"),
    "judge bad YAML": (lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=write(t, "j.yaml", "model: [unclosed\n")), "j.yaml:2: bad YAML"),
    "judge unknown key": (lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, temprature=0.1)), "setting 'temprature'"),
    "judge zero concurrency": (lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, max_concurrency=0)), "setting 'max_concurrency'"),
    "judge missing template": (lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, template="nope.txt")), "setting 'template'"),
    "unknown method": (lambda t: run_args(t, None, "methods.nosuch={}"), "unknown method 'nosuch'"),
    "bad YAML config": (lambda t: run_args(t, "name: x\nmethods: {dpo: [\n"), "cfg.yaml:3: bad YAML"),
    "empty config": (lambda t: run_args(t, ""), "cfg.yaml: config is empty"),
    "config not a mapping": (lambda t: run_args(t, "- 1\n- 2\n"), "config must be a mapping"),
    "negative beta": (lambda t: run_args(t, None, "beta=-0.1"), "setting 'beta'"),
    "zero learning rate": (lambda t: run_args(t, None, "methods.dpo.lr=0"), "methods.dpo.lr must be a positive number"),
    "negative steps": (lambda t: run_args(t, None, "methods.arm.steps=-5"), "methods.arm.steps must be a positive number"),
    "unknown hyper-parameter": (lambda t: run_args(t, None, "methods.dpo.betta=0.1"), "unknown hyper-parameter(s) betta"),
    "unknown task option": (lambda t: run_args(t, None, "task.options.n_tests=3"), "unknown option(s) n_tests"),
    "override without =": (lambda t: run_args(t, None, "beta"), "--set 'beta': expected KEY=VALUE"),
    "unknown config name": (lambda t: ["run", "no-such-config"], "config 'no-such-config': no such file"),
    "mismatched tokenizer": (mismatched_tokenizer, "mismatched tokenizer"),
    "leaderboard of a directory without rows": (lambda t: ["leaderboard", str(t), "--out", str(t / "lb.csv")], "no rows.json"),
    "alpaca annotations malformed": (lambda t: ["leaderboard", "--alpaca-eval", str(write(t, "a.json", "[{")), "--out", str(t / "lb.csv")], "a.json: malformed JSON"),
    "alpaca preference not a number": (lambda t: ["leaderboard", "--alpaca-eval", str(write(t, "a.json", json.dumps([{"generator_1": "a", "generator_2": "b", "preference": "2"}]))), "--out", str(t / "lb.csv")], "'preference' must be a number"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_a_one_line_error(name, tmp_path, capsys):
    build, message = CASES[name]
    (tmp_path / "out").mkdir()
    sentinel = write(tmp_path / "out", "judgments.jsonl", '{"key": "k", "verdict": "A"}\n')
    before = sentinel.read_bytes()
    argv = build(tmp_path)
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("alignbench: error:") and "\n" not in err, err
    assert message in err, err
    assert sentinel.read_bytes() == before
    assert not (tmp_path / "run" / "rows.json").exists()


def test_nan_reward_is_refused():
    with pytest.raises(AlignbenchError, match="non-finite reward"):
        call_reward(lambda s, p, o: [0.0, float("nan")], ["p", "q"], ["a", "b"])


def test_jsonl_task_rows_are_checked(tmp_path):
    from alignbench.tasks.jsonl import load_jsonl_task

    good = '{"prompt": "p", "chosen": "a", "rejected": "b"}\n'
    for content, message in [
        (good + '{"prompt": "p", "chosen": "a"}\n', "pairs.jsonl:2: missing field 'rejected'"),
        (good + '{"prompt": "p", "chosen": "a", "rejected": "a"}\n', "pairs.jsonl:2: 'chosen' and 'rejected' are the same text"),
        (good + '{"prompt": "", "chosen": "a", "rejected": "b"}\n', "pairs.jsonl:2: field 'prompt' is empty"),
    ]:
        f = write(tmp_path, "pairs.jsonl", content)
        with pytest.raises(AlignbenchError, match=message):
            load_jsonl_task(str(f))
    f = write(tmp_path, "pairs.jsonl", good * 6)
    task = load_jsonl_task(str(f), n_test=2)
    assert len(task.test_prompts) == 2 and len(task.train_pairs) == 4


# --- Hardening (issue 19): inputs found by the wider adversarial probe -----------------------------

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
    "config unreadable": (lambda t: ["run", str(unreadable(t, "c.yaml")), "--run-dir", str(t / "run")], "c.yaml: cannot read config (Input/output error)"),
    "judge YAML unreadable": (lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=unreadable(t, "j.yaml")), "j.yaml: cannot read judge config"),
    "template unreadable": (lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, template=str(unreadable(t, "t.txt")))), "t.txt: cannot read template"),
    "outputs unreadable": (lambda t: judge_args(t, unreadable(t, "m.jsonl")), "m.jsonl: cannot read (Input/output error)"),
    "alpaca_eval file unreadable": (lambda t: ["leaderboard", "--alpaca-eval", str(unreadable(t, "a.json")), "--out", str(t / "lb.csv")], "a.json: cannot read annotations file"),
    "rows.json unreadable": (lambda t: unreadable(t, "rows.json") and ["leaderboard", str(t), "--out", str(t / "lb.csv")], "rows.json: cannot read rows.json"),
    # Before: model_dump() expanded the bomb (MemoryError, a hang, a 128 MB config.yaml).
    "alias bomb in policy.lora": (lambda t: run_args(t, alias_bomb("policy.lora")), "cfg.yaml: over 100,000 values once aliases are expanded"),
    "alias bomb in task.options": (lambda t: run_args(t, alias_bomb("task.options")), "cfg.yaml: over 100,000 values once aliases are expanded"),
    "alias bomb in --set": (lambda t: run_args(t, None, "policy.lora={a: &a [1,1,1,1,1,1,1,1,1,1], b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], "
                                                   "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], "
                                                   "e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]}"), "--set policy.lora: over 100,000 values"),
    # Before: RecursionError with 3,000 lines of stderr.
    "100k-deep nesting": (lambda t: run_args(t, deep_yaml()), "cfg.yaml:4: nested deeper than 64 levels"),
    "config over the size limit": (lambda t: run_args(t, "name: big\n" + "#" * (2 * 2**20) + "\n"), "cfg.yaml: config is over the 1048576-byte limit"),
    "config is a directory": (lambda t: ["run", str(judge_dir(t)), "--run-dir", str(t / "run")], "judge-dir.yaml: is a directory, expected a config"),
    # Before: the grid's `set:` values were re-dumped with yaml.safe_dump, expanding the bomb.
    "grid YAML alias bomb": (lambda t: ["grid", str(write(t, "g.yaml", "base: quickstart\ngrid: {methods: [dpo]}\n" + alias_bomb("set.policy.lora").split("\n", 2)[2])), "--out", str(t / "grid")], "g.yaml: over 100,000 values"),
    "config is /dev/zero": (lambda t: ["run", "/dev/zero", "--run-dir", str(t / "run")], "/dev/zero: config is over the"),
    "method name not a string": (lambda t: run_args(t, None, "methods.x={method: [dpo]}"), "methods.x.method must be a method name, got list"),
    # Before: accepted at load, failed (or silently truncated) only after SFT and the reward model.
    "steps 2.5 on the command line": (lambda t: run_args(t, None, "methods.dpo.steps=2.5"), "methods.dpo.steps must be an integer"),
    "lora typed": (lambda t: run_args(t, None, "policy.lora={r: .nan}"), "setting 'policy.lora.r'"),
    # judge YAML
    "judge timeout .inf": (lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, timeout=float("inf"))), "setting 'timeout': Input should be a finite number"),
    "judge base_url ftp": (lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, base_url="ftp://127.0.0.1/v1")), "setting 'base_url'"),
    "judge base_url file": (lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, base_url="file:///etc/passwd")), "setting 'base_url'"),
    "judge base_url malformed": (lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, base_url="http://127.0.0.1:99999x/v1")), "setting 'base_url'"),
    "judge base_url without host": (lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, base_url="http:///v1")), "setting 'base_url'"),
    "judge YAML is a directory": (lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_dir(t)), "judge-dir.yaml: is a directory, expected a judge config"),
    "judge template is a directory": (lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=judge_file(t, template=str(judge_dir(t)))), "is a directory, expected a template"),
    "judge YAML alias bomb": (lambda t: judge_args(t, write(t, "m.jsonl", line()), judge=write(t, "j.yaml", alias_bomb("policy.lora"))), "j.yaml: over 100,000 values"),
    # outputs
    "duplicate JSON key": (lambda t: judge_args(t, write(t, "m.jsonl", '{"prompt_id": "1", "prompt": "p", "output": "o", "output": "p2", "generator": "m"}\n')), "m.jsonl:1: malformed JSON (duplicate key 'output')"),
    "outputs /dev/zero": (lambda t: judge_args(t, Path("/dev/zero")), "/dev/zero: unknown outputs format"),
    "two outputs, one generator": (lambda t: judge_args(t, write(t, "m.jsonl", line())) + ["--outputs", str(write(t, "m2.jsonl", line())), str(write(t, "m3.jsonl", line()))], "m3.jsonl: generator 'm' is also the generator of"),
    "judge --seed -1": (lambda t: judge_args(t, write(t, "m.jsonl", line())) + ["--seed", "-1"], "--seed must be in [0, 4294967295], got -1"),
    "judge --bootstrap 0": (lambda t: judge_args(t, write(t, "m.jsonl", line())) + ["--bootstrap", "0"], "--bootstrap must be 100 to 1,000,000 resamples, got 0"),
    "judge --bootstrap 1e9": (lambda t: judge_args(t, write(t, "m.jsonl", line())) + ["--bootstrap", "1000000000"], "--bootstrap must be 100 to 1,000,000"),
    # Before: the judge YAML of `run --judge` was read only after all training.
    "run --judge missing YAML": (lambda t: run_args(t, None) + ["--judge", "no-such-judge"], "judge 'no-such-judge': no such YAML file"),
    "run --judge YAML is a directory": (lambda t: run_args(t, None) + ["--judge", str(judge_dir(t))], "is a directory, expected a judge config"),
    "judge --out is a file": (lambda t: judge_args(t, write(t, "m.jsonl", line()))[:-1] + [str(write(t, "afile", "x"))], "afile: exists and is not a directory"),
    "judge --out under a file": (lambda t: judge_args(t, write(t, "m.jsonl", line()))[:-1] + [str(write(t, "afile", "x") / "out")], "cannot use as the --out directory"),
    # leaderboard
    "alpaca_eval file is a directory": (lambda t: ["leaderboard", "--alpaca-eval", str(judge_dir(t)), "--out", str(t / "lb.csv")], "is a directory, expected an annotations file"),
    "rows.json is a directory": (lambda t: (t / "d" / "rows.json").mkdir(parents=True) or ["leaderboard", str(t / "d"), "--out", str(t / "lb.csv")], "rows.json: is a directory"),
    "rows.json with duplicate keys": (lambda t: write(t, "rows.json", '[{"method": "a", "method": "b"}]') and ["leaderboard", str(t), "--out", str(t / "lb.csv")], "rows.json: malformed JSON (duplicate key 'method')"),
    "leaderboard --out under a file": (lambda t: ["leaderboard", "--alpaca-eval", str(write(t, "a.json", json.dumps([{"generator_1": "a", "generator_2": "b", "preference": 2}]))), "--out", str(write(t, "afile", "x") / "lb.csv")], "afile is a file, not a directory"),
    "leaderboard --out is a directory": (lambda t: ["leaderboard", "--alpaca-eval", str(write(t, "a.json", json.dumps([{"generator_1": "a", "generator_2": "b", "preference": 2}]))), "--out", str(t)], "is a directory; --out names the leaderboard CSV file"),
}


@pytest.mark.parametrize("name", list(HARDENING))
def test_hardening_input_is_a_one_line_error(name, tmp_path, capsys):
    """Each of these was a traceback, a hang, a silent acceptance or a late failure before issue 19."""
    build, message = HARDENING[name]
    (tmp_path / "out").mkdir()
    sentinel = write(tmp_path / "out", "judgments.jsonl", '{"key": "k", "verdict": "A"}\n')
    before = sentinel.read_bytes()
    code = main(build(tmp_path))
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("alignbench: error:") and "\n" not in err, err[:2000]
    assert message in err, err[:2000]
    assert sentinel.read_bytes() == before
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").glob("*.done"))
    assert not (tmp_path / "run" / "config.yaml").exists()


LATE_FAILURES = [  # (override, message): each passed loading before issue 19 and failed after SFT + reward model, or never
    ("methods.dpo.lr=nan", "methods.dpo.lr must be a finite, non-negative number, got str 'nan'"),
    ("methods.dpo.lr='-1'", "methods.dpo.lr must be a finite, non-negative number, got str '-1'"),
    ("methods.dpo.steps=1e30", "methods.dpo.steps must be an integer"),
    ("methods.dpo.steps=1.0e+30", "methods.dpo.steps must be an integer"),
    ("methods.dpo.steps=2.5", "methods.dpo.steps must be an integer"),  # was silently 2
    ("methods.dpo.beta=inf", "methods.dpo.beta must be a finite, non-negative number, got str 'inf'"),
    ("methods.ppo.lam=-0.5", "methods.ppo.lam must be a finite, non-negative number"),
    ("methods.dpo-sft.max_prompts=abc", "methods.dpo-sft.max_prompts must be null or an integer"),
    ("methods.dpo.max_prompts=8", "methods.dpo: unknown hyper-parameter(s) max_prompts"),  # DPO trains on every pair: was ignored
    ("methods.arm.checkpoint_every=.inf", "methods.arm.checkpoint_every must be an integer"),
    ("beta_sweep=[.nan]", "setting 'beta_sweep.0'"),
    ("beta=.inf", "setting 'beta': Input should be a finite number"),
    ("seed=-1", "setting 'seed': Input should be greater than or equal to 0"),
    ("seed=4294967296", "setting 'seed': Input should be less than or equal to 4294967295"),
    ("seeds=[0, -1]", "setting 'seeds.1'"),
    ("evaluation.bootstrap=1.0e+12", "setting 'evaluation.bootstrap'"),
    ("sft.steps=1.0e+12", "setting 'sft.steps'"),
    ("sft.lr=.inf", "setting 'sft.lr'"),
    ("policy.lora={r: 2.5}", "setting 'policy.lora.r'"),
    ("policy.lora={r: 8, alpha: .inf}", "setting 'policy.lora.alpha'"),
    ("policy.lora={rank: 8}", "setting 'policy.lora.rank'"),
    ("task.options.n_test_prompts=2.5", "setting 'task.options.n_test_prompts'"),
    ("task.options.demo_skill=.nan", "setting 'task.options.demo_skill'"),
    ("task.options.seed=-1", "setting 'task.options.seed'"),
    ("task.options.match_weight=[1, 2]", "setting 'task.options.match_weight'"),
]


@pytest.mark.parametrize("override,message", LATE_FAILURES)
def test_every_setting_is_validated_at_load(override, message):
    from alignbench.config import load_config

    with pytest.raises(AlignbenchError) as e:
        load_config(REPO / "tests" / "data" / "tiny.yaml", [override])
    assert message in str(e.value)


def test_valid_settings_still_load():
    """The bounds do not refuse what configs legitimately say (ints for floats, LoRA, a β sweep)."""
    from alignbench.config import load_config

    cfg = load_config(REPO / "tests" / "data" / "tiny.yaml", ["methods.dpo.beta=1", "policy.lora={r: 4, alpha: 8}",
                                                             "beta_sweep=[0.1, 1]", "seeds=[0, 4294967295]", "methods.dpo-sft.max_prompts=8"])
    assert cfg.policy.lora == {"r": 4, "alpha": 8} and cfg.seeds == [0, 2**32 - 1]
    for name in ("quickstart", "hh-harmless"):
        load_config(name)


def test_api_key_pasted_into_api_key_env_is_never_echoed(tmp_path, capsys):
    key = "sk-live-0123456789abcdefABCDEF0123456789"
    code = main(judge_args(tmp_path, write(tmp_path, "m.jsonl", line()), judge=judge_file(tmp_path, api_key_env=key)))
    err = capsys.readouterr().err
    assert code == 2 and "setting 'api_key_env'" in err and "looks like a key" in err
    assert "0123456789abcdef" not in err  # before: "environment variable sk-live-… is not set"


def test_base_url_password_is_not_echoed_in_the_error(tmp_path, capsys):
    code = main(judge_args(tmp_path, write(tmp_path, "m.jsonl", line()), judge=judge_file(tmp_path, base_url="ftp://user:hunter2pw@h/v1")))
    err = capsys.readouterr().err
    assert code == 2 and "setting 'base_url'" in err and "hunter2pw" not in err


ALPACA = [{"generator_1": "a", "generator_2": "b", "preference": 2}, {"generator_1": "a", "generator_2": "b", "preference": 1}]


@pytest.mark.parametrize("victim", ["outputs.jsonl", "rows.json", "README.md", "notes.csv"])
def test_leaderboard_out_does_not_overwrite_foreign_files(victim, tmp_path, capsys):
    """Before: `leaderboard --out` replaced whatever it was given (an outputs JSONL, rows.json, README.md)."""
    ann = write(tmp_path, "a.json", json.dumps(ALPACA))
    target = write(tmp_path, victim, "precious\n")
    out = target if victim != "README.md" else tmp_path / "README.csv"  # README.md is the .md written beside README.csv
    assert main(["leaderboard", "--alpaca-eval", str(ann), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "not a leaderboard alignbench wrote" in err and "--force" in err and "\n" not in err.strip()
    assert target.read_text() == "precious\n"
    # A leaderboard it wrote itself is replaced without --force; anything else with --force.
    assert main(["leaderboard", "--alpaca-eval", str(ann), "--out", str(tmp_path / "lb.csv")]) == 0
    assert main(["leaderboard", "--alpaca-eval", str(ann), "--out", str(tmp_path / "lb.csv")]) == 0
    assert main(["leaderboard", "--alpaca-eval", str(ann), "--out", str(out), "--force"]) == 0
    assert target.read_text() != "precious\n"


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


@pytest.mark.parametrize("method,key", [("rso", "loss"), ("slic", "pairs"), ("arm-pl", "sampler"), ("online-dpo", "reference"),
                                        ("brain", "baseline"), ("expert-iteration", "normalization")])
def test_method_string_choices_are_checked_when_the_config_loads(method, key):
    """These were checked only when the method started training (after SFT and the reward model)."""
    from alignbench.config import validate_config

    with pytest.raises(AlignbenchError, match=f"methods.{method}.{key} must be one of"):
        validate_config({"methods": {method: {key: "no-such-value"}}})
