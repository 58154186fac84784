"""A method × seed × task × β grid: independent runs, in parallel, aggregated into one leaderboard.

Each cell is a complete run directory made by ``alignbench run`` in its own process, so a cell
can run anywhere (a local process pool, or Ray when installed) and a failed cell only fails
itself: it is retried once and reported, the others go on.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from .config import load_config
from .evaluation.evaluate import RowContext, StatisticsSettings, load_comparisons, rows_from_comparisons
from .frontier import SWEEP_MARK
from .leaderboard import read_rows, write_leaderboard
from .stages.fit_and_generate import policy_columns
from .errors import AlignbenchError
from .io import atomic_write_json, atomic_write_text
from .safe_yaml import load_json_file, load_yaml_file


@dataclass
class Cell:
    name: str
    config_path: Path
    run_dir: Path
    group: str = ""  # the cell's name without its seed: cells of one group are combined across seeds
    method: str = ""
    seed: int = 0
    beta: float | None = None


def expand_grid(grid_source: str | Path, out_dir: Path) -> list[Cell]:
    """Write one resolved config per cell under ``out_dir/cells/`` and return the cells."""
    path = Path(grid_source)
    if not path.exists():
        raise AlignbenchError(f"grid config {grid_source}: no such file")
    spec = load_yaml_file(path, "grid config") or {}
    if not isinstance(spec, dict) or "base" not in spec or "grid" not in spec:
        raise AlignbenchError(f"{path}: a grid config needs 'base' (a config name or path) and 'grid' (methods, seeds, tasks, beta)")
    unknown = set(spec) - {"base", "grid", "set", "name"}
    if unknown:
        raise AlignbenchError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    base_src = spec["base"]
    beside = path.parent / str(base_src)  # a relative base path is read beside the grid file
    overrides = [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}" for k, v in (spec.get("set") or {}).items()]
    base = load_config(str(beside) if beside.exists() else str(base_src), overrides)
    g = spec["grid"]
    bad = set(g) - {"methods", "seeds", "tasks", "beta"}
    if bad:
        raise AlignbenchError(f"{path}: grid.{sorted(bad)[0]}: unknown axis (methods, seeds, tasks, beta)")
    methods = g.get("methods") or [m for m in base.methods if m != "sft"]
    seeds = g.get("seeds") or base.seeds
    tasks = g.get("tasks") or [base.task.name]
    betas = g.get("beta") or [None]
    cells = []
    for method, seed, task, beta in itertools.product(methods, seeds, tasks, betas):
        if method not in base.methods:
            raise AlignbenchError(f"{path}: grid.methods: {method!r} is not configured in the base config")
        data = base.model_dump()
        params = dict(base.methods[method])
        if beta is not None:
            params["beta"] = beta
        data["methods"] = {"sft": {}, method: params} if method != "sft" else {"sft": {}}
        data["seed"], data["seeds"] = seed, [seed]
        if task != base.task.name:
            data["task"] = {"name": task, "options": {}}
        if beta is not None:
            data["beta"] = beta
        group = f"{task}-{method}" + (f"-b{beta:g}" if beta is not None else "")
        name = f"{task}-{method}-s{seed}" + (f"-b{beta:g}" if beta is not None else "")
        data["name"] = name
        data["leaderboard_dir"] = str(out_dir / "cells" / name / "leaderboard")
        cfg_path = out_dir / "cells" / f"{name}.yaml"
        atomic_write_text(cfg_path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        cells.append(Cell(name, cfg_path, out_dir / "cells" / name, group, method, seed, beta))
    return cells


_LIVE: set[subprocess.Popen] = set()  # the local cells running now: stopped with the grid


def run_cell(config_path: str, run_dir: str) -> tuple[int, str]:
    """Run one cell in a fresh Python process (so a crash cannot take the others down); the cell stops when
    this process dies, however it dies (see ``cli._die_with_parent``)."""
    from .cli import PARENT_ENV  # cycle: the CLI imports this module lazily

    cmd = [sys.executable, "-m", "alignbench", "run", config_path, "--run-dir", run_dir, "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, PARENT_ENV: str(os.getpid())})
    _LIVE.add(proc)
    try:
        out, err = proc.communicate()
    finally:
        _LIVE.discard(proc)
    tail = (err or out or "").strip().splitlines()
    return proc.returncode, tail[-1] if tail else ""


def _run_local(cells: list[Cell], workers: int) -> dict[str, tuple[int, str]]:
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = {c.name: pool.submit(run_cell, str(c.config_path), str(c.run_dir)) for c in cells}
        return {name: f.result() for name, f in futures.items()}
    except BaseException:  # Ctrl-C or SIGTERM: the running cells stop too, the queued ones never start
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in list(_LIVE):
            proc.terminate()
        raise
    finally:
        pool.shutdown(wait=True)


def _run_ray(cells: list[Cell], workers: int) -> dict[str, tuple[int, str]]:
    try:
        import ray
    except ImportError:
        raise AlignbenchError("grid --backend ray needs Ray: pip install 'alignbench[ray]'") from None
    started = False
    if not ray.is_initialized():
        ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(run_cell)
        refs = {c.name: remote.remote(str(c.config_path), str(c.run_dir)) for c in cells}
        return {name: ray.get(ref) for name, ref in refs.items()}
    finally:
        if started:
            ray.shutdown()


def run_grid(grid_source: str | Path, backend: str = "local", workers: int = 2, out_dir: Path = Path("runs/grid"), quiet: bool = False):
    out_dir = Path(out_dir)
    cells = expand_grid(grid_source, out_dir)
    runner = {"local": _run_local, "ray": _run_ray}.get(backend)
    if runner is None:
        raise AlignbenchError(f"--backend {backend!r}: choose local or ray")
    t0 = time.time()
    results = runner(cells, workers)
    failed = [c for c in cells if results[c.name][0] != 0]
    if failed:  # one retry each, then report
        retry = runner(failed, workers)
        results.update(retry)
    report = {c.name: {"returncode": results[c.name][0], "last_line": results[c.name][1]} for c in cells}
    atomic_write_json(out_dir / "grid_report.json", {"seconds": round(time.time() - t0, 1), "backend": backend, "cells": report})
    ok = [c for c in cells if results[c.name][0] == 0]
    for c in cells:
        if results[c.name][0] != 0:
            print(f"alignbench grid: cell {c.name} failed twice: {results[c.name][1]}", file=sys.stderr)
    if not ok:
        raise AlignbenchError(f"grid: every cell failed; see {out_dir / 'grid_report.json'}")
    rows = [r for c in ok for r in read_rows(c.run_dir)]
    # Every cell trains its own SFT policy: keep each cell's rows (seed column) and add seed summaries.
    rows += seed_summary_rows(ok)
    write_leaderboard(rows, out_dir / "leaderboard.csv")
    return rows


def seed_summary_rows(cells: list[Cell]) -> list[dict]:
    """One row per method × baseline × evaluator of each group of cells that differ only by seed, from the
    cells' per-prompt comparisons, seeds combined as a run combines them (prompt-level bootstrap of the
    per-prompt mean over seeds, at the configured level). On a β axis the method is labelled ``name@β=b``."""
    groups: dict[str, list[Cell]] = {}
    for c in cells:
        groups.setdefault(c.group, []).append(c)
    rows, seen = [], set()
    for group, members in groups.items():
        if len(members) < 2:
            continue
        cfg = load_config(str(members[0].config_path))
        comparisons, infos = [], {}
        for c in members:
            label = c.method if c.beta is None else f"{c.method}{SWEEP_MARK}{c.beta:g}"
            for comp in load_comparisons(c.run_dir / "comparisons.jsonl"):
                own = comp.method
                comp.method = label if own == c.method else own
                comparisons.append(comp)
            for own in {c.method, "sft"}:
                metrics = c.run_dir / "methods" / own / f"seed-{c.seed}" / "metrics.json"
                if metrics.exists():
                    infos.setdefault(label if own == c.method else own, []).append(load_json_file(metrics, "metrics.json"))
        context = RowContext(task=cfg.task.name, run_id=f"grid:{group}", seeds=",".join(str(c.seed) for c in members),
                             method_columns=lambda label: policy_columns(infos[label], cfg.beta) if label in infos else {})
        settings = StatisticsSettings(cfg.evaluation.bootstrap, cfg.seed, cfg.evaluation.ci)
        for row in rows_from_comparisons(comparisons, settings, context):
            key = (row.task, row.method, row.evaluator, row.baseline)
            if key not in seen:  # π_sft of a seed is the same in every group: its summary once
                seen.add(key)
                rows.append(row.as_dict())
    return rows
