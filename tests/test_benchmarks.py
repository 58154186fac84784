"""Each benchmark script runs on a tiny size and ends with its `NAME ratio=FLOAT` line.
(The figures themselves live in benchmarks/README.md; timings are never asserted.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def run(script: str) -> str:
    out = subprocess.run([sys.executable, str(BENCH / script), "--tiny"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("script, name", [("bench_bootstrap.py", "bootstrap"), ("bench_judge_client.py", "judge_client"),
                                          ("bench_generation.py", "generation")])
def test_benchmark_prints_ratio(script, name):
    assert re.fullmatch(rf"{name} ratio=\d+(\.\d+)?", run(script))


@pytest.mark.slow
def test_trainer_vs_trl_prints_ratio():
    pytest.importorskip("trl")
    assert re.fullmatch(r"trainer_vs_trl ratio=\d+(\.\d+)?", run("bench_trainer_vs_trl.py"))


@pytest.mark.slow
def test_quickstart_benchmark_prints_ratio():
    assert re.fullmatch(r"quickstart ratio=\d+(\.\d+)?", run("bench_quickstart.py"))
