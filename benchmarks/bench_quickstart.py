"""The quickstart's wall time against a baseline commit's, run alternately on the same machine; peak RSS and
the per-stage seconds of both; optionally the same beside a busy process.

Each side is ``python -m alignbench run <config> --quiet`` in a child process with ``PYTHONPATH`` at its own
source tree (the baseline in a temporary ``git worktree``), a fresh run directory each time, peak RSS from
``wait4``, stage seconds from the run's manifest. Pairs run in the order AB, BA, AB, … so drift over the
session cancels; the figure is the median of the per-pair ratios (min and max beside it). It refuses to print
a ratio when the load average at start exceeds the core count (the sides would not see the same machine).

``--busy``: after the idle pairs, the current code runs again while one CPU-bound process at nice 19 shares
the cores (``nice -n 19 python -c 'while True: pass'``), and the busy ÷ idle ratio is printed.

    python benchmarks/bench_quickstart.py --baseline fff30d0 --pairs 3 --busy

Last line: ``quickstart ratio=R``, R = this tree's time ÷ the baseline's (median of pairs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(tree: Path, config: str, workdir: Path, name: str, sets: list[str], env_extra: dict | None = None) -> dict:
    """Wall seconds, peak RSS (MB) and stage seconds of one ``alignbench run`` from ``tree``."""
    cmd = [sys.executable, "-m", "alignbench", "run", config, "--run-dir", str(workdir / name), "--leaderboard-dir",
           str(workdir / f"lb-{name}"), "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    env = {**os.environ, "PYTHONPATH": str(tree), **(env_extra or {})}
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=workdir)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} (PYTHONPATH={tree}) failed:\n{err.read().decode()[-3000:]}")
    stages = json.loads((workdir / name / "manifest.json").read_text())["stages"]
    return {"wall": wall, "rss": usage.ru_maxrss / 1024.0, "cpu": usage.ru_utime + usage.ru_stime,
            "stages": {k: v["seconds"] for k, v in stages.items() if k != "total_this_invocation"}}


def print_stages(label: str, results: list[dict]) -> None:
    names = sorted({k for r in results for k in r["stages"]},
                   key=lambda k: -statistics.median(r["stages"].get(k, 0) for r in results))
    print(f"{label}: median stage seconds over {len(results)} run(s)")
    for k in names[:12]:
        print(f"  {k:34s} {statistics.median(r['stages'].get(k, 0.0) for r in results):7.2f}")
    rest = sum(statistics.median(r["stages"].get(k, 0.0) for r in results) for k in names[12:])
    print(f"  {'(the other ' + str(len(names[12:])) + ' stages)':34s} {rest:7.2f}")


def describe(label: str, tree: Path, results: list[dict]) -> None:
    walls = [r["wall"] for r in results]
    print(f"{label} ({tree}): wall {', '.join(f'{w:.1f}' for w in walls)} s; peak RSS "
          f"{max(r['rss'] for r in results):,.0f} MB; CPU {statistics.median(r['cpu'] for r in results):.1f} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default="fff30d0", help="the commit to compare with (a git worktree is made of it)")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--busy", action="store_true", help="also run beside one CPU-bound process at nice 19")
    ap.add_argument("--config", default="quickstart")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--tiny", action="store_true", help="tests/data/tiny.yaml, the current tree against itself, 1 pair")
    a = ap.parse_args()
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    print(f"machine: {cores} cores, load average {load:.2f} at start; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench-quickstart-") as tmp:
        tmp = Path(tmp)
        if a.tiny:
            config, baseline_tree, pairs = str(REPO / "tests" / "data" / "tiny.yaml"), REPO, 1
        else:
            config, baseline_tree, pairs = a.config, tmp / "baseline", a.pairs
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--force", str(baseline_tree),
                            a.baseline],
                           check=True, capture_output=True)
        try:
            new, old = [], []
            for i in range(pairs):
                order = [("new", REPO, new), ("old", baseline_tree, old)]
                for name, tree, out in (order if i % 2 == 0 else order[::-1]):
                    out.append(run(tree, config, tmp, f"{name}{i}", a.sets))
                    print(f"pair {i + 1} {name}: {out[-1]['wall']:.1f} s", flush=True)
            busy = {}
            if a.busy:
                for name, tree in (("new", REPO), ("old", baseline_tree)):
                    hog = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
                    try:
                        busy[name] = run(tree, config, tmp, f"busy-{name}", a.sets)
                    finally:
                        hog.kill()
                        hog.wait()
        finally:
            if not a.tiny:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline_tree)],
                               capture_output=True)
    print(f"config: {config} {' '.join('--set ' + s for s in a.sets)}; torch threads: each side's own default")
    describe(f"baseline {a.baseline if not a.tiny else '(this tree)'}", baseline_tree, old)
    describe("this tree", REPO, new)
    print_stages("baseline", old)
    print_stages("this tree", new)
    ratios = [n["wall"] / o["wall"] for n, o in zip(new, old)]
    print(f"per-pair ratios (this ÷ baseline): {', '.join(f'{r:.3f}' for r in ratios)}; "
          f"median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}")
    for name, key, runs in (("this tree", "new", new), ("baseline", "old", old)):
        if key in busy:
            idle, b = statistics.median(r["wall"] for r in runs), busy[key]
            print(f"{name} beside one CPU-bound process at nice 19: {b['wall']:.1f} s = {b['wall'] / idle:.3f}× its "
                  f"idle median ({idle:.1f} s)")
            print_stages(f"{name}, busy", [b])
    if load > cores and not a.tiny:
        print(f"load average {load:.2f} > {cores} cores at start: not a fair measurement, no ratio printed")
        sys.exit(1)
    print(f"quickstart ratio={statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
