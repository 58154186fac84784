"""hh-harmless: the Anthropic HH-RLHF harmless-base test split (2,312 real preference pairs, MIT), declared in
``hh-harmless.yaml`` and read by :mod:`alignbench.tasks.declared`. This name stays for the judge audit and tests."""

from __future__ import annotations

from ..registry import TASKS
from .base import TaskData


def load_hh_harmless(path: str | None = None, n_test: int = 256, n_eval: int | None = None, seed: int = 0,
                     max_pairs: int | None = None) -> TaskData:
    """``n_test`` held-out pairs (reward-model accuracy); methods generate on the first ``n_eval`` of them."""
    return TASKS.get("hh-harmless")(path=path, n_test=n_test, n_eval=n_eval, seed=seed, max_pairs=max_pairs)
