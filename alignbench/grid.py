"""A method × seed × task × β grid: independent runs, in parallel, aggregated into one leaderboard.

Each cell is a complete run directory made by ``alignbench run`` in its own process, so a cell
can run anywhere (a local process pool, Ray in this process, or a Ray cluster started with
``ray start`` and named by ``--address``) and a failed cell only fails itself: it is retried once and
reported with the end of its stderr (its traceback), the others go on. A cell whose Ray worker dies
is retried by Ray once, then by the grid once more, then reported: never silently lost.
"""

from __future__ import annotations

import itertools
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
from .lifetime import child_env, die_with_parent_preexec
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
        raise AlignbenchError(f"{path}: a grid config needs 'base' (a config name or path) and "
                              "'grid' (methods, seeds, tasks, beta)")
    unknown = set(spec) - {"base", "grid", "set", "name"}
    if unknown:
        raise AlignbenchError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    base_src = spec["base"]
    beside = path.parent / str(base_src)  # a relative base path is read beside the grid file
    overrides = [
        f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}" for k, v in (spec.get("set") or {}).items()
    ]
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


STDERR_TAIL_LINES = 40  # kept of a cell's stderr without a traceback
TRACEBACK_LINES = 300  # kept of one with a traceback: from its last "Traceback" line on
_LIVE: set[subprocess.Popen] = set()  # the local cells running now: stopped with the grid


def run_cell(config_path: str, run_dir: str) -> tuple[int, str]:
    """Run one cell in a fresh Python process (so a crash cannot take the others down): its return code and the
    end of its stderr. The cell stops when this process dies, however it dies."""
    cmd = [sys.executable, "-m", "alignbench", "run", config_path, "--run-dir", run_dir, "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(), preexec_fn=die_with_parent_preexec())
    _LIVE.add(proc)
    try:
        out, err = proc.communicate()
    finally:
        _LIVE.discard(proc)
    return proc.returncode, stderr_tail(err or out or "")


def stderr_tail(text: str) -> str:
    """The end of a cell's stderr: its last traceback whole (up to ``TRACEBACK_LINES``), else its last lines."""
    lines = text.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    keep = lines[starts[-1]:][:TRACEBACK_LINES] if starts else lines[-STDERR_TAIL_LINES:]
    return "\n".join(keep)


def _run_local(cells: list[Cell], workers: int, address: str | None = None) -> dict[str, tuple[int, str]]:
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


def _run_ray(cells: list[Cell], workers: int, address: str | None = None) -> dict[str, tuple[int, str]]:
    """Every cell as a Ray task: on a cluster at ``address`` ('auto': the one ``ray start`` started on this machine;
    its nodes must see the grid directory at the same path), else on Ray started in this process with ``workers``
    CPUs."""
    try:
        import ray
    except ImportError:
        raise AlignbenchError("grid --backend ray needs Ray: pip install 'alignbench[ray]'") from None
    started = False
    if not ray.is_initialized():
        if address:
            try:
                ray.init(address=address, log_to_driver=False)
            except ConnectionError as e:
                raise AlignbenchError(f"--address {address}: no Ray cluster there ({str(e).splitlines()[0]}); "
                                      "start one with 'ray start --head'") from None
        else:
            ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        started = True
    try:
        # max_retries: Ray runs a cell again when the worker running it dies (node lost, OOM kill); a cell that
        # exits non-zero is not an exception and is retried by run_grid instead.
        remote = ray.remote(num_cpus=1, max_retries=1)(run_cell)
        names = {remote.remote(str(c.config_path), str(c.run_dir)): c.name for c in cells}
        results, pending = {}, list(names)
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            for ref in finished:
                try:
                    results[names[ref]] = ray.get(ref)
                # the worker (or its node) died twice: report the cell, keep the rest
                except ray.exceptions.RayError as e:
                    results[names[ref]] = (-1,
                                           f"{type(e).__name__}: "
                                           f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}")
        return results
    finally:
        if started:
            ray.shutdown()


def run_grid(grid_source: str | Path, backend: str = "local", workers: int = 2, out_dir: Path = Path("runs/grid"),
             quiet: bool = False, address: str | None = None):
    out_dir = Path(out_dir)
    cells = expand_grid(grid_source, out_dir)
    runner = {"local": _run_local, "ray": _run_ray}.get(backend)
    if runner is None:
        raise AlignbenchError(f"--backend {backend!r}: choose local or ray")
    if address and backend != "ray":
        raise AlignbenchError("--address names a Ray cluster: use it with --backend ray")
    t0 = time.time()
    results = runner(cells, workers, address)
    failed = [c for c in cells if results[c.name][0] != 0]
    if failed:  # one retry each, then report
        retry = runner(failed, workers, address)
        results.update(retry)
    report = {c.name: {"returncode": results[c.name][0], "last_line": _last_line(results[c.name][1]),
                       "stderr_tail": results[c.name][1]} for c in cells}
    atomic_write_json(out_dir / "grid_report.json",
                      {"seconds": round(time.time() - t0, 1), "backend": backend, "cells": report})
    ok = [c for c in cells if results[c.name][0] == 0]
    for c in cells:
        if results[c.name][0] != 0:
            print(f"alignbench grid: cell {c.name} failed twice: {_last_line(results[c.name][1])} "
                  f"(its stderr: {out_dir / 'grid_report.json'})", file=sys.stderr)
    if not ok:
        raise AlignbenchError(f"grid: every cell failed; see {out_dir / 'grid_report.json'}")
    rows = [r for c in ok for r in read_rows(c.run_dir)]
    # Every cell trains its own SFT policy: keep each cell's rows (seed column) and add seed summaries.
    rows += seed_summary_rows(ok)
    write_leaderboard(rows, out_dir / "leaderboard.csv")
    return rows


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


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
                    infos.setdefault(label if own == c.method else own, []).append(
                        load_json_file(metrics, "metrics.json")
                    )
        context = RowContext(
            task=cfg.task.name,
            run_id=f"grid:{group}",
            seeds=",".join(str(c.seed) for c in members),
            method_columns=lambda label: policy_columns(infos[label], cfg.beta) if label in infos else {},
        )
        settings = StatisticsSettings(cfg.evaluation.bootstrap, cfg.seed, cfg.evaluation.ci)
        for row in rows_from_comparisons(comparisons, settings, context):
            key = (row.task, row.method, row.evaluator, row.baseline)
            if key not in seen:  # π_sft of a seed is the same in every group: its summary once
                seen.add(key)
                rows.append(row.as_dict())
    return rows
