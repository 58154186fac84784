"""Tasks declared as data: a YAML file names the data files, their fields, the split and a version, and this one
loader reads them. A built-in data set is ``alignbench/tasks/<name>.yaml``; a run may name any such YAML's path as
``task.name``. Example (a user's own, files relative to the YAML)::

    name: my-prefs
    version: 1
    files: {pairs: prefs.jsonl}            # optional: test_prompts
    fields: {prompt: question}             # alignbench field -> the file's column
    split: {n_test: 64}                    # held-out pairs (and n_eval: how many of them are generated on)

``format: trl`` (default) reads TRL's dataset types (:mod:`alignbench.tasks.formats`); ``format: transcripts``
reads pairs of whole conversations that share all but the last ``turn_marker`` turn (HH-RLHF).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import AlignbenchError, validation_error, where
from ..io import iter_jsonl, require_str
from ..safe_yaml import load_yaml_file
from .base import Pair, Prompt, TaskData
from .jsonl import load_jsonl_task


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TaskFiles(_Strict):
    pairs: str  # relative to the YAML, or absolute
    # trl only: {prompt[, prompt_id][, reference]}; without it the split holds out pairs
    test_prompts: str | None = None


class TaskSplit(_Strict):
    n_test: int = Field(64, gt=0)  # held-out pairs (at most half the data)
    n_eval: int | None = Field(None, gt=0)  # methods generate on the first n_eval held-out prompts; None: all


class TaskSpec(_Strict):
    name: str
    version: str | int  # recorded in the run manifest: change it when the files or the split change
    description: str = ""
    format: Literal["trl", "transcripts"] = "trl"
    files: TaskFiles
    fields: dict[str, str] = Field(default_factory=dict)
    split: TaskSplit = Field(default_factory=TaskSplit)
    turn_marker: str = "\n\nAssistant:"  # transcripts: the prompt ends with the last one
    id_prefix: str = "p-"  # transcripts: prompt ids are <id_prefix><sha1 of the prompt, 12 hex digits>


@dataclasses.dataclass(frozen=True)
class DeclaredTask:
    """A task YAML, loaded and checked; called with the run's ``task.options`` it returns the TaskData."""

    spec: TaskSpec
    source: Path

    @classmethod
    def from_yaml(cls, path) -> "DeclaredTask":
        path = Path(path)
        data = load_yaml_file(path, "task")
        if not isinstance(data, dict):
            raise AlignbenchError(f"{path}: a task YAML is a mapping (name, version, files, "
                                  f"...), got {type(data).__name__}")
        try:
            spec = TaskSpec.model_validate(data)
        except ValidationError as e:
            raise validation_error(e, path) from None
        if spec.format == "transcripts" and (spec.files.test_prompts or set(spec.fields) - {"chosen", "rejected"}):
            raise AlignbenchError(f"{path}: format transcripts reads only files.pairs and the fields chosen, rejected")
        return cls(spec, path)

    @property
    def task_name(self) -> str:
        return self.spec.name

    def option_types(self) -> dict[str, Any]:
        """What a run may set under ``task.options``."""
        types = {"path": str | None, "n_test": int, "n_eval": int | None, "seed": int}
        return {**types, "max_pairs": int | None} if self.spec.format == "transcripts" else types

    def file(self, relative: str | None) -> str | None:
        return None if relative is None else os.path.normpath(self.source.parent / relative)

    def __call__(self, path: str | None = None, n_test: int | None = None, n_eval: int | None = None, seed: int = 0,
                 max_pairs: int | None = None) -> TaskData:
        spec = self.spec
        pairs_path = path or self.file(spec.files.pairs)
        n_test = spec.split.n_test if n_test is None else n_test
        n_eval = spec.split.n_eval if n_eval is None else n_eval
        if spec.format == "transcripts":
            task = _transcripts_task(spec, Path(pairs_path), n_test, n_eval, seed, max_pairs)
        else:
            task = load_jsonl_task(pairs_path, self.file(spec.files.test_prompts), spec.name, n_test, seed,
                                   spec.fields or None)
            if n_eval:
                task.test_prompts = task.test_prompts[:n_eval]
                kept = {p.prompt_id for p in task.test_prompts}
                task.test_references = {k: v for k, v in task.test_references.items() if k in kept}
        task.meta["task_version"] = str(spec.version)
        task.meta["task_file"] = str(self.source)
        return task


def _transcripts_task(
    spec: TaskSpec, path: Path, n_test: int, n_eval: int | None, seed: int, max_pairs: int | None
) -> TaskData:
    fields = {"chosen": "chosen", "rejected": "rejected", **spec.fields}
    pairs, mismatched, duplicates = read_transcript_pairs(path, fields["chosen"], fields["rejected"], spec.turn_marker,
                                                          spec.id_prefix, max_pairs)
    train, test = split_pairs(pairs, n_test, seed)
    shown = test[: n_eval or len(test)]
    return TaskData(
        name=spec.name,
        train_pairs=train,
        test_pairs=test,
        train_prompts=[Prompt(p.prompt_id, p.prompt) for p in train],
        test_prompts=[Prompt(p.prompt_id, p.prompt) for p in shown],
        test_references={p.prompt_id: p.chosen for p in shown},
        meta={"source": str(path), "pairs": len(pairs), "left_out_mismatched_prefix": mismatched,
              "duplicate_prompts": duplicates,
              "notes": [f"{path.name}: left out {len(mismatched)} pair(s) whose conversations differ before the last "
                        f"assistant turn (lines {', '.join(map(str, mismatched))})"] if mismatched else []},
    )


def split_conversation(text: str, marker: str) -> tuple[str, str]:
    i = text.rfind(marker)
    if i < 0:
        raise ValueError(f"no {marker!r} turn")
    return text[: i + len(marker)], text[i + len(marker):].strip()


def read_transcript_pairs(path: Path, chosen_field: str, rejected_field: str, marker: str, id_prefix: str,
                          max_pairs: int | None = None) -> tuple[list[Pair], list[int], int]:
    """Pairs of whole conversations that share everything up to the last ``marker``: the prompt is that shared
    part and the responses are the two last turns. A pair whose conversations differ earlier is left out and
    its line returned. Also returns how many prompts repeat (their ids get ``-2``, ``-3``, ...)."""
    if not path.exists():
        raise AlignbenchError(f"{path}: file not found")
    pairs: list[Pair] = []
    mismatched: list[int] = []
    seen: dict[str, int] = {}
    for lineno, rec in iter_jsonl(path):
        chosen, rejected = require_str(rec, chosen_field, path, lineno), require_str(rec, rejected_field, path, lineno)
        try:
            prompt, good = split_conversation(chosen, marker)
            prompt_r, bad = split_conversation(rejected, marker)
        except ValueError:
            raise AlignbenchError(f"{where(path, lineno)}: a conversation has no {marker!r} turn") from None
        if prompt != prompt_r:
            mismatched.append(lineno)
            continue
        base = hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:12]
        seen[base] = seen.get(base, 0) + 1
        pid = f"{id_prefix}{base}" if seen[base] == 1 else f"{id_prefix}{base}-{seen[base]}"
        pairs.append(Pair(pid, prompt, good, bad))
        if max_pairs and len(pairs) >= max_pairs:
            break
    if not pairs:
        raise AlignbenchError(f"{path}: no usable preference pairs")
    return pairs, mismatched, sum(v - 1 for v in seen.values())


def split_pairs(pairs: list[Pair], n_test: int, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(train, test): ``n_test`` pairs (at most half) drawn by the seed, each side in file order."""
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_test = min(n_test, len(pairs) // 2)
    return [pairs[i] for i in sorted(order[n_test:])], [pairs[i] for i in sorted(order[:n_test])]
