"""``Comparison``: one evaluator's per-prompt results, the type every evaluator, benchmark reader and the
evaluation flow share (a leaf, so the readers need not import the evaluators)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Comparison:
    """Per-prompt results of one method against one baseline, by one evaluator, on one seed."""

    method: str
    baseline: str
    evaluator: str  # the leaderboard's 'evaluator' column
    judge: str  # the evaluator's identity (the 'judge' column)
    seed: int
    prompt_ids: list[str]
    outcome: np.ndarray  # 1 / ½ / 0 / NaN, from the method's side
    first: np.ndarray | None = None  # LLM judges: the method-first order's outcomes
    second: np.ndarray | None = None  # LLM judges: the baseline-first order's (None: one order only)
    method_reward: np.ndarray | None = None  # pointwise evaluators: both sides' scores
    baseline_reward: np.ndarray | None = None
    method_length: np.ndarray | None = None  # characters, for the length-controlled win rate
    baseline_length: np.ndarray | None = None
    n_truncated: int | None = None  # responses the reward model cut to fit its context
    n_request_failures: int | None = None  # LLM judges: requests that failed after retries
    template_sha: str | None = None
    # alpaca_eval's preferences are graded (any value in [0, 1]): wins and losses are counted as above and
    # below ½ there, where a seed-averaged outcome strictly between 0 and 1 counts as a tie.
    graded: bool = False

    ARRAYS = ("outcome", "first", "second", "method_reward", "baseline_reward", "method_length", "baseline_length")

    def to_json(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in self.ARRAYS}
        for k in self.ARRAYS:
            v = getattr(self, k)
            out[k] = None if v is None else [None if x != x else float(x) for x in np.asarray(v, float)]
        return out

    @classmethod
    def from_json(cls, d: dict) -> "Comparison":
        values = dict(d)
        for k in cls.ARRAYS:
            if values.get(k) is not None:
                values[k] = np.array([np.nan if x is None else x for x in values[k]], dtype=float)
        return cls(**values)
