"""What the judge tests share: a judge YAML pointed at a test's local server, method and reference outputs
(lengths known, so a length-biased scripted judge has a known answer), input files, and the `alignbench judge`
command lines that read them."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from repo_fixtures import REPO

from alignbench.evaluation.outputs import OutputRecord, write_outputs


def judge_yaml(tmp_path, base_url, **over) -> Path:
    """The shipped local-scripted judge, pointed at ``base_url``; one file per URL."""
    cfg = yaml.safe_load((REPO / "judges" / "local-scripted.yaml").read_text())
    cfg.update({"base_url": base_url, "template": str(REPO / "judges" / "templates" / "pairwise.txt"), **over})
    path = tmp_path / f"judge-{abs(hash(base_url)) % 10**6}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def make_pairs(n, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 40, size=n)
    m = [OutputRecord(str(i), f"prompt {i}", "m" * int(lengths[i]), "method") for i in range(n)]
    r = [OutputRecord(str(i), f"prompt {i}", "r" * 20, "reference") for i in range(n)]
    return m, r


def outputs(n, generator, text=lambda i: "x"):
    return [OutputRecord(str(i), f"prompt {i}", text(i), generator) for i in range(n)]


def prompts_and_texts(n):
    rng = np.random.default_rng(3)
    method = ["m" * int(k) for k in rng.integers(5, 40, n)]
    reference = ["r" * 20 for _ in range(n)]
    return [f"Question number {i}?" for i in range(n)], method, reference


def alpaca_and_jsonl(tmp_path, n=24):
    """The same outputs as alpaca_eval JSON files and as alignbench JSONL files."""
    prompts, method, reference = prompts_and_texts(n)
    (tmp_path / "model_outputs.json").write_text(
        json.dumps(
            [
                {"instruction": p, "output": o, "generator": "my-model", "dataset": "helpful_base"}
                for p, o in zip(prompts, method)
            ],
            indent=2,
        )
    )
    (tmp_path / "reference_outputs.json").write_text(
        json.dumps(
            [
                {"instruction": p, "output": o, "generator": "gpt4_turbo"}
                for p, o in reversed(list(zip(prompts, reference)))
            ],
            indent=2,
        )
    )
    write_outputs(tmp_path / "m.jsonl",
                  [OutputRecord(str(i), p, o, "my-model") for i, (p, o) in enumerate(zip(prompts, method))])
    write_outputs(tmp_path / "r.jsonl",
                  [OutputRecord(str(i), p, o, "gpt4_turbo") for i, (p, o) in enumerate(zip(prompts, reference))])


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
    return ["judge", "--outputs", str(outputs), "--reference", str(ref), "--judge", str(judge or judge_file(tmp)),
            "--out", str(tmp / "out")]


def judge_argv(tmp_path, outputs_file, reference_file, judge="rm:/nonexistent"):
    return ["judge", "--outputs", str(outputs_file), "--reference", str(reference_file), "--judge", judge,
            "--out", str(tmp_path / "out"), "--quiet"]


def judge_cmd(tmp_path, judge_file):
    """`alignbench judge` in a subprocess on tmp_path's m.jsonl and r.jsonl."""
    return [sys.executable, "-m", "alignbench", "judge", "--outputs", str(tmp_path / "m.jsonl"), "--reference",
            str(tmp_path / "r.jsonl"), "--judge", str(judge_file), "--out", str(tmp_path / "out"), "--quiet",
            "--bootstrap", "200"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_lines(path: Path, n: int, deadline_s: float = 30.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s and (not path.exists() or len(path.read_text().splitlines()) < n):
        time.sleep(0.05)


def alpaca_annotations(path, seed=0, n=137):
    """An alpaca_eval annotations file of n + 20 preferences (20 fractional, one missing); returns them."""
    rng = np.random.default_rng(seed)
    prefs = rng.choice([1.0, 2.0, 0.0, 1.5], size=n, p=[0.35, 0.45, 0.05, 0.15]).tolist()
    prefs += list(rng.uniform(1, 2, 20))  # weighted-alpaca-eval style fractional preferences
    prefs[3] = None
    path.write_text(json.dumps([{"instruction": f"q{i}", "generator_1": "gpt4_turbo", "generator_2": "mine",
                                 "preference": p}
                                for i, p in enumerate(prefs)]))
    return prefs
