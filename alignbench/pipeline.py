"""The full comparison, top to bottom: prepare (task, SFT, reward model) → fit and generate (every method ×
seed) → evaluate (every method × baseline × evaluator) → publish (rankings, frontier, leaderboard).

Each stage leaves files in ``runs/<name>/`` and a ``.done`` marker; re-running skips finished
stages, so a killed run continues where it stopped and ends with the same table.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from .config import Config
from .distributed import is_main
from .evaluation.evaluate import save_comparisons
from .evaluation.judge_only import check_missing
from .evaluation.simulated_judge import simulated_judge_if_configured
from .io import atomic_write_json
from .owned import check_replaceable, run_files
from .preflight import LEADERBOARD_REMEDY
from .progress import progress_bar
from .rundir import RunDir
from .stages.evaluate import evaluate_run
from .stages.fit_and_generate import fit_and_generate
from .stages.prepare import prepare_shared


def run_comparison(cfg: Config, run_dir: Path | None = None, leaderboard_dir: Path | None = None,
                   extra_judges: list[str] | tuple = (), quiet: bool = False, allow_missing: int = 0) -> list[dict]:
    before = torch.get_num_threads()
    _set_threads(cfg)
    try:
        return _run_comparison(cfg, run_dir, leaderboard_dir, extra_judges, quiet, allow_missing)
    finally:
        torch.set_num_threads(before)  # a caller's own setting (a test session, a notebook) is kept


def _run_comparison(cfg: Config, run_dir: Path | None, leaderboard_dir: Path | None, extra_judges, quiet: bool,
                    allow_missing: int) -> list[dict]:
    rd = RunDir(Path(run_dir) if run_dir else Path(cfg.runs_dir) / cfg.name, cfg.model_dump(mode="json"))
    out_dir = Path(leaderboard_dir) if leaderboard_dir else Path(cfg.leaderboard_dir)
    judges = list(cfg.evaluation.judges) + list(extra_judges)
    t0 = time.time()
    main = is_main()  # under accelerate launch every process trains; rank 0 alone writes, evaluates and publishes
    with progress_bar(quiet or not main, log_path=rd.path / "run.log" if main else None) as progress:
        shared = prepare_shared(cfg, rd, progress)
        fitted = fit_and_generate(cfg, rd, shared, progress)
        if not main:
            return []
        t1 = time.time()
        with (
            single_torch_thread(),
            simulated_judge_if_configured(cfg.evaluation.simulated_judge, shared.task) as simulated,
        ):
            rows, comparisons = evaluate_run(cfg, rd, shared, fitted, judges + simulated, progress)
        rd.manifest["stages"]["evaluation"] = {"seconds": round(time.time() - t1, 3)}
    # Imported here, not at the top: tables and plots bring pandas and matplotlib (about 100 MB resident),
    # which the training stages' peak memory need not carry.
    from .stages.publish import publish

    check_replaceable(run_files(out_dir, shared.task.name), LEADERBOARD_REMEDY)  # again: files may have appeared since
    rows = [r.as_dict() for r in rows]
    # before the tables and plots: a failure there keeps them
    save_comparisons(rd.path / "comparisons.jsonl", comparisons)
    atomic_write_json(rd.path / "rows.json", rows)
    paths = publish(cfg, rd, shared, rows, comparisons, out_dir)
    atomic_write_json(rd.path / "rows.json", rows)  # with the reward_regret publish adds
    rd.manifest["stages"]["total_this_invocation"] = {"seconds": round(time.time() - t0, 3)}
    rd.manifest["rm_heldout_accuracy"] = shared.rm_accuracy
    rd.manifest["leaderboard"] = {k: str(v) for k, v in paths.items()}
    rd._save_manifest()
    check_missing(sum(c.n_request_failures or 0 for c in comparisons), allow_missing,
                  rd.path / "judgments" / "*.failures.jsonl")
    if not quiet:
        print(f"leaderboard: {paths['csv']} (+ .md, .png, {shared.task.name}-frontier.png); run directory: {rd.path}",
              file=sys.stderr)
    return rows


TINY_WIDTH = 128  # the built-in GPT-2 up to this width trains on one thread


def _set_threads(cfg: Config) -> None:
    """At most one intra-op thread per core; one thread in all when every model of the run is the built-in GPT-2
    at width ≤ 128 (policy and reward model on its backbone): its matrices are too small for threads to pay for
    their fork and join, and a single thread cannot wait on a core another process holds (the quickstart, idle:
    104 s with 2 threads, 86 s with 1; benchmarks/README.md)."""
    tiny = (cfg.policy.path is None and cfg.policy.n_embd <= TINY_WIDTH and cfg.reward_model.path is None
            and cfg.reward_model.backbone == "policy")
    torch.set_num_threads(1 if tiny else max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))


@contextmanager
def single_torch_thread():
    """Evaluation is mostly HTTP (the judge client and, for the simulated judge, its server) and small
    scoring passes: idle intra-op threads spin and take the cores from the client and server threads
    (the quickstart's evaluation took 21 s with 2 threads, 11 s with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
