"""Shared helpers: a child process per measured side, so that peak memory is that side's alone."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from alignbench.tasks.hh import load_hh_harmless


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_child(script: Path, *args: str) -> dict:
    """Run ``script --child ARGS`` and return the JSON it prints on its last line."""
    out = subprocess.run([sys.executable, str(script), "--child", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def hh_pairs(n: int):
    return load_hh_harmless(n_test=16).train_pairs[:n]
