"""User data from JSONL: preference pairs {prompt, chosen, rejected[, prompt_id]} and optional
prompt files {prompt[, prompt_id][, reference]}. Every malformed row names its file and line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..errors import AlignbenchError, where
from ..io import iter_jsonl, require_str
from .base import Pair, Prompt, TaskData


def _pid(rec, path, lineno, prompt) -> str:
    pid = rec.get("prompt_id")
    if pid is None:
        return "p-" + hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:12]
    if isinstance(pid, bool) or not isinstance(pid, (str, int)) or str(pid) == "":
        raise AlignbenchError(f"{where(path, lineno)}: field 'prompt_id' must be a non-empty string or integer")
    return str(pid)


def read_pairs(path) -> list[Pair]:
    path = Path(path)
    pairs, seen = [], {}
    for lineno, rec in iter_jsonl(path):
        prompt = require_str(rec, "prompt", path, lineno)
        chosen = require_str(rec, "chosen", path, lineno)
        rejected = require_str(rec, "rejected", path, lineno)
        if chosen == rejected:
            raise AlignbenchError(f"{where(path, lineno)}: 'chosen' and 'rejected' are the same text")
        pid = _pid(rec, path, lineno, prompt)
        n = seen.get(pid, 0) + 1
        seen[pid] = n
        if "prompt_id" in rec and n > 1:
            raise AlignbenchError(f"{where(path, lineno)}: duplicate prompt_id {pid!r}")
        pairs.append(Pair(pid if n == 1 else f"{pid}-{n}", prompt, chosen, rejected))
    return pairs


def read_prompts(path) -> tuple[list[Prompt], dict[str, str]]:
    path = Path(path)
    prompts, refs, seen = [], {}, set()
    for lineno, rec in iter_jsonl(path):
        prompt = require_str(rec, "prompt", path, lineno)
        pid = _pid(rec, path, lineno, prompt)
        if pid in seen:
            raise AlignbenchError(f"{where(path, lineno)}: duplicate prompt_id {pid!r}")
        seen.add(pid)
        prompts.append(Prompt(pid, prompt))
        if "reference" in rec:
            refs[pid] = require_str(rec, "reference", path, lineno, allow_empty=True)
    return prompts, refs


def load_jsonl_task(pairs_path: str | None = None, test_prompts_path: str | None = None, name: str = "custom",
                    n_test: int = 64, seed: int = 0) -> TaskData:
    """Pairs train SFT, the reward model and the methods; test prompts come from ``test_prompts_path``
    (their ``reference`` fields are the "dataset" baseline) or from a held-out split of the pairs."""
    if not pairs_path:
        raise AlignbenchError("setting 'task.options.pairs_path' is required for the jsonl task")
    pairs = read_pairs(pairs_path)
    rng = np.random.default_rng(seed)
    if test_prompts_path:
        test_prompts, refs = read_prompts(test_prompts_path)
        missing = [p.prompt_id for p in test_prompts if p.prompt_id not in refs]
        if missing:
            raise AlignbenchError(f"{test_prompts_path}: prompt_id {missing[0]!r} has no 'reference' (the dataset baseline)")
        train, test_pairs = pairs, []
    else:
        order = rng.permutation(len(pairs))
        k = min(n_test, len(pairs) // 2)
        test_pairs = [pairs[i] for i in sorted(order[:k])]
        train = [pairs[i] for i in sorted(order[k:])]
        test_prompts = [Prompt(p.prompt_id, p.prompt) for p in test_pairs]
        refs = {p.prompt_id: p.chosen for p in test_pairs}
    if not train:
        raise AlignbenchError(f"{pairs_path}: too few pairs to train on")
    return TaskData(name=name, train_pairs=train, test_pairs=test_pairs, train_prompts=[Prompt(p.prompt_id, p.prompt) for p in train],
                    test_prompts=test_prompts, test_references=refs, meta={"source": str(pairs_path)})
