"""Plain records every task produces; nothing here knows about models or methods."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

from ..errors import AlignbenchError


@dataclass(frozen=True)
class Prompt:
    prompt_id: str
    text: str


@dataclass(frozen=True)
class Pair:
    """A preference pair: ``chosen`` was preferred over ``rejected`` for ``prompt``."""

    prompt_id: str
    prompt: str
    chosen: str
    rejected: str


@dataclass(frozen=True)
class Unpaired:
    """An unpaired preference example (KTO's input): ``completion`` is desirable for ``prompt`` iff ``label``."""

    prompt_id: str
    prompt: str
    completion: str
    label: bool


class NeedsPairs(AlignbenchError):
    """A method that trains on preference pairs was given unpaired data."""


class PairsUnavailable(list):
    """``train_pairs`` of a task whose training data is not pairs (unpaired examples, or prompts only): empty,
    and reading it is a one-line error saying why."""

    def __init__(self, source: str, holds: str):
        super().__init__()
        self.source, self.holds = source, holds

    def _refuse(self, *args, **kwargs):
        raise NeedsPairs(f"{self.source} holds {self.holds}: this method needs preference "
                         "pairs {prompt, chosen, rejected} (kto trains on unpaired data; "
                         "sampling methods need only prompts)")

    __iter__ = __getitem__ = _refuse

    def __bool__(self) -> bool:
        return True  # present (the task has training data) — only reading it as pairs is refused


@dataclass
class TaskData:
    """Everything a comparison needs from a task.

    ``train_pairs`` feed SFT (chosen responses), the reward model and pair-based methods;
    ``train_prompts`` feed the sampling-based methods; ``test_prompts`` are where every method
    generates; ``test_references`` maps prompt_id to the dataset's preferred response, the
    baseline of the "vs dataset" win rate. ``gold_reward`` is the true reward when the task knows
    it (the oracle task), in the trlx ``reward_fn`` convention.
    """

    name: str
    train_pairs: list[Pair]
    test_pairs: list[Pair]
    train_prompts: list[Prompt]
    test_prompts: list[Prompt]
    test_references: dict[str, str]
    gold_reward: "RewardFn | None" = None
    # For tasks with a fixed response alphabet and length (oracle): exact evaluation is possible.
    response_alphabet: Sequence[str] | None = None
    response_length: int | None = None
    # Variable-length responses over the alphabet: at most this many symbols, then EOS (exactly enumerable).
    max_response_length: int | None = None
    meta: dict = field(default_factory=dict)
    # Unpaired {prompt, completion, label} training examples (then train_pairs is a PairsUnavailable).
    train_unpaired: list[Unpaired] = field(default_factory=list)


class RewardFn(Protocol):
    """trlx convention: ``reward_fn(samples, prompts, outputs) -> list[float]``.

    ``samples[i] == prompts[i] + outputs[i]`` as text; most reward functions use prompts and outputs.
    """

    def __call__(self, samples: list[str], prompts: list[str], outputs: list[str]) -> list[float]: ...


def call_reward(reward_fn: Callable, prompts: list[str], outputs: list[str]) -> list[float]:
    """Call a trlx-style reward function and check what comes back (count and finiteness)."""
    samples = [p + o for p, o in zip(prompts, outputs)]
    scores = list(reward_fn(samples, prompts, outputs))
    if len(scores) != len(outputs):
        raise AlignbenchError(f"reward_fn returned {len(scores)} scores for {len(outputs)} outputs")
    out = []
    for i, s in enumerate(scores):
        s = float(s)
        if not math.isfinite(s):
            raise AlignbenchError(f"reward_fn returned a non-finite reward ({s}) for output "
                                  f"{i} (prompt {prompts[i][:40]!r})")
        out.append(s)
    return out
