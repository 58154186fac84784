"""Tasks by name (the table is :data:`alignbench.registry.TASKS`): the oracle (exact), data sets declared as YAML
(``alignbench/tasks/<name>.yaml``, e.g. hh-harmless, or a YAML path), user JSONL files, and the user's own
loaders (plugins: ``package.module:loader`` or an ``alignbench.tasks`` entry point) → plain records."""

from __future__ import annotations

import inspect
import typing
from typing import Any

from ..errors import AlignbenchError
from ..registry import TASKS
from .base import TaskData


def task_loader(name: str):
    """The loader of a task name: a callable whose keyword arguments are the task's options."""
    return TASKS.get(name)


def task_option_types(name: str) -> dict[str, Any]:
    """Each option of the task ``name`` and its type (``Any`` where a plugin's annotation does not resolve)."""
    loader = task_loader(name)
    if hasattr(loader, "option_types"):
        return loader.option_types()
    try:
        hints = typing.get_type_hints(loader)
    except Exception:  # a plugin's annotations that do not resolve: its options go untyped
        hints = {}
    return {p: hints.get(p, Any) for p in inspect.signature(loader).parameters}


def load_task(name: str, options: dict, seed: int = 0) -> TaskData:
    loader = task_loader(name)
    known = task_option_types(name)
    _check_options(name, options, set(known))
    opts = dict(options)
    if "seed" in known:
        opts.setdefault("seed", seed)
    task = loader(**opts)
    if not isinstance(task, TaskData):
        raise AlignbenchError(f"setting 'task.name': {name!r} returned {type(task).__name__}, not "
                              "alignbench.tasks.base.TaskData")
    return task


def _check_options(name: str, options: dict, known: set[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise AlignbenchError(f"setting 'task.options': unknown option(s) {', '.join(unknown)} for task {name} "
                              f"(known: {', '.join(sorted(known))})")
    for k, v in options.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k.startswith("n_") and v <= 0:
            raise AlignbenchError(f"setting 'task.options.{k}' must be positive, got {v}")
