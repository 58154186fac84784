"""Typed hyper-parameters: one frozen dataclass per method, each field with a default and a one-line help.

A field's annotation is its check: ``int`` is a count in [0, MAX_COUNT] (never a bool or 2.5), ``float`` a
finite, non-negative number, ``bool`` a flag, ``Literal[...]`` a fixed set of names, ``int | None`` an
optional count. ``param(..., positive=True)`` also refuses 0. Shared groups of fields are base classes
(:class:`OfflineParams` for every method trained by the shared trainer).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..errors import AlignbenchError

MAX_COUNT = 10**9  # steps, samples, batch sizes: anything larger is a typo (steps=1e30), not a plan


def param(default, help: str, positive: bool = False):
    """A hyper-parameter field: its default, a one-line help, and whether it must be > 0."""
    return field(default=default, metadata={"help": help, "positive": positive})


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _choices(annotation) -> tuple | None:
    return typing.get_args(annotation) if typing.get_origin(annotation) is Literal else None


def _is_optional_int(annotation) -> bool:
    return (typing.get_origin(annotation) in (typing.Union, types.UnionType)
            and set(typing.get_args(annotation)) == {int, type(None)})


@functools.cache
def _annotations(cls) -> dict:
    return typing.get_type_hints(cls)  # resolved once per class: the annotations are strings here


def type_name(annotation) -> str:
    """How ``alignbench methods`` shows a field's type."""
    choices = _choices(annotation)
    if choices is not None:
        return " | ".join(choices)
    if _is_optional_int(annotation):
        return "int | null"
    return getattr(annotation, "__name__", str(annotation))


def _check(setting: str, value, annotation) -> None:
    """A value has its field's type: integers stay integers (2.5 steps is an error, not 2), numbers are
    finite and not negative, flags are booleans, names are one of the field's choices."""
    choices = _choices(annotation)
    if choices is not None:
        if value not in choices:
            raise AlignbenchError(f"{setting} must be one of {', '.join(choices)}, got {value!r}")
        return
    if annotation is bool:
        ok, want = isinstance(value, bool), "true or false"
    elif annotation is int:
        ok, want = _is_count(value), f"an integer in [0, {MAX_COUNT}]"
    elif _is_optional_int(annotation):
        ok, want = value is None or _is_count(value), f"null or an integer in [0, {MAX_COUNT}]"
    elif annotation is float:
        ok, want = _is_number(value) and math.isfinite(value) and value >= 0, "a finite, non-negative number"
    elif annotation is str:
        ok, want = isinstance(value, str), "a string"
    else:
        raise TypeError(f"{setting}: no check for the annotation {annotation!r}")
    if not ok:
        raise AlignbenchError(f"{setting} must be {want}, got {type(value).__name__} {str(value)[:40]!r}")


@dataclass(frozen=True)
class Params:
    """Base of every method's hyper-parameters (a method without any uses it as is)."""

    # Inherited fields a group of methods never reads, with the reason (``{value}`` is the value given):
    # setting one is a one-line error, and ``alignbench methods`` does not list it.
    unused: ClassVar[dict[str, str]] = {}
    # Names and values a config may still use from before a rename (old → new): each is a one-line error
    # that says the new spelling, never silently ignored. ``renamed_values``: field → {old value: new value}.
    renamed: ClassVar[dict[str, str]] = {}
    renamed_values: ClassVar[dict[str, dict[str, str]]] = {}

    @classmethod
    def fields(cls) -> tuple[dataclasses.Field, ...]:
        return dataclasses.fields(cls)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in cls.fields()]

    @classmethod
    def has(cls, name: str) -> bool:
        return name in cls.names()

    @classmethod
    def annotation(cls, name: str):
        return _annotations(cls)[name]

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """(name, type, default, help) of every field a user can set, in declaration order."""
        return [(f.name, type_name(cls.annotation(f.name)), f.default, f.metadata.get("help", ""))
                for f in cls.fields() if f.name not in cls.unused]

    @classmethod
    def from_dict(cls, values: dict | None, label: str) -> "Params":
        """Defaults overridden by ``values``; every value checked, errors one line naming ``methods.<label>.<key>``."""
        values = dict(values or {})
        ignored = next((k for k in cls.unused if k in values), None)
        if ignored is not None:
            raise AlignbenchError(f"methods.{label}: " + cls.unused[ignored].format(value=values[ignored]))
        old = next((k for k in cls.renamed if k in values), None)
        if old is not None:
            raise AlignbenchError(f"methods.{label}.{old} is now called {cls.renamed[old]}: write "
                                  f"methods.{label}.{cls.renamed[old]}")
        for name, renames in cls.renamed_values.items():
            if isinstance(values.get(name), str) and values[name] in renames:
                raise AlignbenchError(f"methods.{label}.{name}: {values[name]!r} is now "
                                      f"called {renames[values[name]]!r}")
        unknown = sorted(set(values) - set(cls.names()))
        if unknown:
            raise AlignbenchError(
                f"methods.{label}: unknown hyper-parameter(s) {', '.join(unknown)} (known: "
                f"{', '.join(sorted(set(cls.names()) - set(cls.unused))) or 'none'})"
            )
        for f in cls.fields():
            if f.name not in values:
                continue
            value, setting = values[f.name], f"methods.{label}.{f.name}"
            if f.metadata.get("positive") and _is_number(value) and (not math.isfinite(value) or value <= 0):
                raise AlignbenchError(f"{setting} must be a positive number, got {value}")
            _check(setting, value, cls.annotation(f.name))
        try:
            return cls(**values)
        except AlignbenchError as e:  # a check across fields (__post_init__)
            raise AlignbenchError(f"methods.{label}: {e}") from None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


# --- shared groups of fields ------------------------------------------------------------------------


@dataclass(frozen=True)
class OfflineParams(Params):
    """Every method trained by the shared GroupTrainer on a copy of π_sft."""

    steps: int = param(200, "optimiser steps", positive=True)
    lr: float = param(1e-6, "learning rate (AdamW)", positive=True)
    batch_size: int = param(16, "groups per optimiser step", positive=True)
    grad_accum: int = param(1, "micro-batches each step's batch is split into (same gradient, less memory)",
                            positive=True)
    warmup_steps: int = param(0, "steps of linear learning-rate warm-up")
    schedule: Literal["constant", "linear", "cosine"] = param("constant", "learning-rate schedule after warm-up")
    checkpoint_every: int = param(50, "steps between resumable checkpoints (0: only at the end)")


@dataclass(frozen=True)
class SampledParams(OfflineParams):
    """Methods that sample responses for the training prompts (the dataset-pair methods use every pair and
    have no ``max_prompts``: setting it there is an unknown hyper-parameter, not a silent no-op)."""

    max_prompts: int | None = param(None, "use only the first this many training prompts (null: all)", positive=True)


@dataclass(frozen=True)
class RankedParams(SampledParams):
    """Methods that rank K π_sft samples by reward (RRHF, PRO, DPO-PL)."""

    group_size: int = param(4, "K: π_sft samples per group, ranked by the reward model", positive=True)
    groups_per_prompt: int = param(1, "groups drawn per training prompt")


@dataclass(frozen=True)
class RoundsParams(SampledParams):
    """Methods that train in rounds, sampling each round from the policy being trained."""

    unused: ClassVar[dict[str, str]] = {
        "steps": "steps ({value}) is not used by a method that trains in rounds: it takes rounds × "
                 "steps_per_round steps; set those",
        # A resumed run would draw its early rounds from the wrong policy.
        "checkpoint_every": "checkpoint_every is not used by a method that trains in "
                            "rounds (no mid-method checkpoints: a resumed run would sample its "
                            "early rounds from the wrong policy)",
    }
    rounds: int = param(4, "sampling rounds", positive=True)
    steps_per_round: int = param(50, "optimiser steps per round (total steps = rounds × steps_per_round)",
                                 positive=True)
    prompts_per_round: int = param(64, "training prompts drawn (without replacement) per round")


BETA_HELP = "β: KL temperature of the target π*_β ∝ π_sft·exp(r/β) (unset: the run's beta)"
