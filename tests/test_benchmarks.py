"""Each benchmark script runs on a tiny size and ends with its `NAME ratio=FLOAT` line.
(The figures themselves live in benchmarks/README.md; timings are never asserted.)"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def run(script: str) -> str:
    return run_lines(script)[-1]


def run_lines(script: str) -> list[str]:
    out = subprocess.run([sys.executable, str(BENCH / script), "--tiny"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()


@pytest.mark.parametrize("script, name",
                         [("bench_bootstrap.py", "bootstrap"), ("bench_judge_client.py", "judge_client"),
                                          ("bench_generation.py", "generation")])
def test_benchmark_prints_ratio(script, name):
    assert re.fullmatch(rf"{name} ratio=\d+(\.\d+)?", run(script))


def _trainer_bench():
    spec = importlib.util.spec_from_file_location("bench_trainer_vs_trl", BENCH / "bench_trainer_vs_trl.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trl_comparison_pins_precision_and_the_gpt2_small_shape():
    """Broken variants: TRL left on its DPOConfig defaults (bf16 autocast, activation checkpointing:
    the ×15 artefact), or a 'gpt2-small' that is not GPT-2 small."""
    bench = _trainer_bench()
    assert bench.TRL_PRECISION == {"bf16": False, "fp16": False, "gradient_checkpointing": False}
    s = bench.SHAPES["gpt2-small"]
    assert (s["n_layer"], s["n_embd"], s["n_head"], s["vocab"], bench.max_len(s)) == (12, 768, 12, 50257, 256)


@pytest.mark.slow
def test_trainer_vs_trl_prints_ratio():
    pytest.importorskip("trl")
    lines = run_lines("bench_trainer_vs_trl.py")
    assert re.fullmatch(r"trainer_vs_trl ratio=\d+(\.\d+)?", lines[-1])
    configs = [line for line in lines if "config: DPOConfig(" in line]
    assert len(configs) == 2 and all("bf16=False, fp16=False, gradient_checkpointing=False" in c for c in configs)


@pytest.mark.slow
def test_quickstart_benchmark_prints_ratio():
    lines = run_lines("bench_quickstart.py")
    assert re.fullmatch(r"quickstart ratio=\d+(\.\d+)?", lines[-1])
    assert any("peak RSS" in line for line in lines) and any(line.startswith("per-pair ratios") for line in lines)


def test_gpu_check_script_parses_and_says_why_it_cannot_run_without_a_gpu(tmp_path):
    """benchmarks/gpu_check.sh is for a GPU machine; without nvidia-smi it stops at once with the reason (exit 2)."""
    import shutil
    import subprocess

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    if shutil.which("nvidia-smi", path="/usr/bin:/bin"):
        pytest.skip("a GPU machine: run benchmarks/gpu_check.sh itself")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(["/bin/bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2 and "no NVIDIA GPU here" in proc.stderr
