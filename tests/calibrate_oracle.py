"""Measure the oracle tests' values across fit seeds and thread counts, to place thresholds far from them.

    ALIGNBENCH_TEST_THREADS=1 python tests/calibrate_oracle.py methods kto orpo > t1.jsonl
    ALIGNBENCH_TEST_THREADS=2 python tests/calibrate_oracle.py methods kto orpo > t2.jsonl

Prints one JSON line per (check, case, seed): the value each test asserts on. Run each thread count in its
own process: the shared SFT policy is itself trained under that thread count, as in the suite.
Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parent / "methods")]  # fixtures; test_methods_oracle
import conftest  # noqa: E402,F401  (thread count from ALIGNBENCH_TEST_THREADS)

SEEDS = [int(s) for s in os.environ.get("CALIBRATE_SEEDS", "0,1,2").split(",")]


def main(suite: str, names: list[str]) -> None:
    import importlib

    module = importlib.import_module({"methods": "test_methods_oracle"}[suite])  # modules with a CALIBRATED table
    for name in names or list(module.CALIBRATED):
        for seed in SEEDS:
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.time()
                values = module.CALIBRATED[name](Path(tmp), seed)
                print(json.dumps({"suite": suite, "case": name, "seed": seed, "threads": conftest.TEST_THREADS,
                                  **values, "seconds": round(time.time() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
