"""Tasks: the oracle (exact), hh-harmless (real data), and user JSONL files → plain records."""

from __future__ import annotations

import inspect
from dataclasses import fields

from ..errors import AlignbenchError
from .base import TaskData
from .hh import load_hh_harmless
from .jsonl import load_jsonl_task
from .oracle import OracleSpec, load_oracle


def load_task(name: str, options: dict, seed: int = 0) -> TaskData:
    if name == "oracle":
        known = {f.name for f in fields(OracleSpec)}
        _check_options(name, options, known)
        opts = {"seed": seed, **options}
        return load_oracle(OracleSpec(**opts))
    if name == "hh-harmless":
        loader = load_hh_harmless
    elif name == "jsonl":
        loader = load_jsonl_task
    else:
        raise AlignbenchError(f"setting 'task.name': unknown task {name!r} (oracle, hh-harmless, jsonl)")
    params = inspect.signature(loader).parameters
    _check_options(name, options, set(params))
    opts = dict(options)
    if "seed" in params:
        opts.setdefault("seed", seed)
    return loader(**opts)


def _check_options(name: str, options: dict, known: set[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise AlignbenchError(f"setting 'task.options': unknown option(s) {', '.join(unknown)} for task {name} (known: {', '.join(sorted(known))})")
    for k, v in options.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k.startswith("n_") and v <= 0:
            raise AlignbenchError(f"setting 'task.options.{k}' must be positive, got {v}")
