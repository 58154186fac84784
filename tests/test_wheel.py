"""alignbench as a built wheel: its judges and templates are package data, found from any directory.

Builds the wheel from this checkout, installs it (without dependencies: the test's own environment has
them) into a temporary folder placed first on PYTHONPATH, and runs a small ``alignbench run quickstart``
— simulated judge included — from an unrelated directory. Broken variant: judges looked up next to the
source tree (``parents[2] / "judges"``) or left out of package data: ``judge 'simulated': no such YAML``.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_runs_the_quickstart_from_another_directory(tmp_path):
    dist, site, elsewhere = tmp_path / "dist", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", str(REPO), "-w", str(dist)], check=True,
                   timeout=300)
    wheels = list(dist.glob("alignbench-*.whl"))
    assert len(wheels) == 1
    subprocess.run(pip + ["install", "--no-deps", "--target", str(site), str(wheels[0])], check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    where = subprocess.run([sys.executable, "-c", "import alignbench; print(alignbench.__file__)"], cwd=elsewhere,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(site), where
    out = subprocess.run(
        [sys.executable, "-m", "alignbench", "run", "quickstart", "--quiet", "--run-dir", "run", "--leaderboard-dir",
         "lb", "--set", "methods={sft: {}, dpo: {steps: 3}}", "--set", "sft.steps=5", "--set", "reward_model.steps=5",
         "--set", "task.options.n_test_prompts=8", "--set", "evaluation.bootstrap=100"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = list(csv.DictReader((elsewhere / "lb" / "oracle.csv").open()))
    assert {r["method"] for r in rows} == {"sft", "dpo"}
    assert any(r["evaluator"].startswith("llm:simulated") for r in rows)
