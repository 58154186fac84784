"""Tasks: the oracle (exact), hh-harmless (real data), user JSONL files, and the user's own loaders (plugins:
``package.module:loader`` or an ``alignbench.tasks`` entry point) → plain records."""

from __future__ import annotations

import inspect
from dataclasses import fields

from ..errors import AlignbenchError
from ..plugins import find_plugin
from .base import TaskData
from .hh import load_hh_harmless
from .jsonl import load_jsonl_task
from .oracle import OracleSpec, load_oracle


BUILTIN = {"hh-harmless": load_hh_harmless, "jsonl": load_jsonl_task}


def task_loader(name: str):
    """The loader of a task name: built in (the oracle's is its spec), or the user's own (a plugin)."""
    if name == "oracle":
        return OracleSpec
    if name in BUILTIN:
        return BUILTIN[name]
    return find_plugin(name, "task", "task.name", ["oracle", *BUILTIN])


def load_task(name: str, options: dict, seed: int = 0) -> TaskData:
    if name == "oracle":
        known = {f.name for f in fields(OracleSpec)}
        _check_options(name, options, known)
        opts = {"seed": seed, **options}
        return load_oracle(OracleSpec(**opts))
    loader = task_loader(name)
    params = inspect.signature(loader).parameters
    _check_options(name, options, set(params))
    opts = dict(options)
    if "seed" in params:
        opts.setdefault("seed", seed)
    task = loader(**opts)
    if not isinstance(task, TaskData):
        raise AlignbenchError(f"setting 'task.name': {name!r} returned {type(task).__name__}, not alignbench.tasks.base.TaskData")
    return task


def _check_options(name: str, options: dict, known: set[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise AlignbenchError(f"setting 'task.options': unknown option(s) {', '.join(unknown)} for task {name} (known: {', '.join(sorted(known))})")
    for k, v in options.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k.startswith("n_") and v <= 0:
            raise AlignbenchError(f"setting 'task.options.{k}' must be positive, got {v}")
