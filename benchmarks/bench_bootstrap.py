"""Bootstrap CIs for 10,000 prompts × 2 orders with 10,000 resamples: alignbench's vectorised
bootstrap (multinomial counts over the few distinct per-prompt scores, and plain index
resampling) vs a straightforward pandas loop in the style of arena-hard-auto's
(``df.sample(frac=1, replace=True)`` per resample). The loop is timed on fewer resamples and extrapolated linearly.

Last line: ``bootstrap ratio=R`` with R = pandas-loop time ÷ alignbench time (same resamples).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from alignbench.stats import bootstrap_means, combine_orders, percentile_interval


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    a = ap.parse_args()
    n, B, B_loop = (500, 500, 50) if a.tiny else (10_000, 10_000, 300)
    rng = np.random.default_rng(0)
    first = rng.choice([0.0, 0.5, 1.0], size=n, p=[0.35, 0.1, 0.55])
    second = np.where(rng.random(n) < 0.8, first, rng.choice([0.0, 1.0], size=n))
    t0 = time.perf_counter()
    scores = combine_orders(first, second)  # both orders of a prompt are one resampling unit
    lo, hi = percentile_interval(bootstrap_means(scores, B, seed=0))
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    lo_i, hi_i = percentile_interval(bootstrap_means(scores, B, seed=0, by_counts=False))
    index_path = time.perf_counter() - t0
    df = pd.DataFrame({"prompt": np.arange(n), "first": first, "second": second})
    t0 = time.perf_counter()
    rates = []
    for i in range(B_loop):
        s = df.sample(frac=1.0, replace=True, random_state=i)
        per_prompt = s.apply(
            lambda r: 1.0 if r["first"] == r["second"] == 1 else 0.0 if r["first"] == r["second"] == 0 else 0.5, axis=1
        )
        rates.append(per_prompt.mean())
    loop = (time.perf_counter() - t0) * B / B_loop
    print(f"prompts {n}, resamples {B}: alignbench {ours:.3f} s → 95% CI [{100 * lo:.2f}, {100 * hi:.2f}]")
    print(f"alignbench index resampling (the path for scores with many distinct values): {index_path:.3f} s → "
          f"95% CI [{100 * lo_i:.2f}, {100 * hi_i:.2f}] (×{loop / index_path:.0f} vs the loop)")
    print(f"pandas loop: {loop:.1f} s (timed {B_loop} resamples, extrapolated to {B})")
    print(f"bootstrap ratio={loop / ours:.1f}")


if __name__ == "__main__":
    main()
