"""The quickstart's wall time and peak RSS by stage, and how they grow with prompts and methods.

Runs ``alignbench run`` in a child process per setting (peak RSS is that child's own, from
``wait4``) and reads the stage timings from the run directory's manifest. The baseline is the ×1
setting measured in the same invocation.

Last line: ``quickstart ratio=R`` with R = time at ×1 prompts ÷ time at ×2 prompts (1 = constant,
0.5 = linear growth).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def run(config: str, sets: list[str], workdir: Path, name: str) -> tuple[float, float, dict]:
    """Wall seconds, peak RSS (MB) and stage seconds of one ``alignbench run`` in a child process."""
    cmd = [sys.executable, "-m", "alignbench", "run", config, "--run-dir", str(workdir / name), "--leaderboard-dir",
           str(workdir / f"lb-{name}"), "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed:\n{err.read().decode()[-3000:]}")
    stages = json.loads((workdir / name / "manifest.json").read_text())["stages"]
    return wall, usage.ru_maxrss / 1024.0, {k: v["seconds"] for k, v in stages.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    a = ap.parse_args()
    config = str(REPO / "tests" / "data" / "tiny.yaml") if a.tiny else "quickstart"
    base_prompts = 16 if a.tiny else 64
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results = {}
        for mult in ((1, 2) if a.tiny else (1, 2, 4)):
            results[mult] = run(config, [f"task.options.n_test_prompts={base_prompts * mult}"], tmp, f"p{mult}")
        wall1, rss1, stages1 = results[1]
        print(f"{config}: wall {wall1:.1f} s, peak RSS {rss1:,.0f} MB at ×1 ({base_prompts} test prompts); stages:")
        for k, v in sorted(stages1.items(), key=lambda kv: -kv[1]):
            print(f"  {k:32s} {v:7.2f} s")
        for mult, (wall, rss, _) in results.items():
            print(f"×{mult} test prompts: {wall:.1f} s, peak RSS {rss:,.0f} MB")
        methods = "{sft: {}, dpo: {steps: 40, lr: 2.0e-3, batch_size: 32}}" if a.tiny else \
            "{sft: {}, dpo: {steps: 150, lr: 1.0e-3, batch_size: 32}, exo: {steps: 200, lr: 2.0e-3, batch_size: 16, beta_r: 10.0}}"
        wall_few, rss_few, _ = run(config, [f"methods={methods}"], tmp, "few")
        print(f"{len(yaml.safe_load(methods))} methods: {wall_few:.1f} s, peak RSS {rss_few:,.0f} MB vs all configured: {wall1:.1f} s")
        print(f"quickstart ratio={wall1 / results[2][0]:.3f}")


if __name__ == "__main__":
    main()
