"""Reward-model (or any reward function) win rate: strictly higher wins, equal is a tie (½)."""

from __future__ import annotations

import numpy as np

from ..tasks.base import call_reward


def reward_outcomes(pairs, reward_fn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-prompt outcome (1 / ½ / 0) of the method vs the reference, and both sides' rewards."""
    prompts = [m.prompt for m, _ in pairs]
    scores = call_reward(reward_fn, prompts + prompts, [m.output for m, _ in pairs] + [r.output for _, r in pairs])
    mine, ref = np.array(scores[: len(pairs)]), np.array(scores[len(pairs):])
    outcome = np.where(mine > ref, 1.0, np.where(mine < ref, 0.0, 0.5))
    return outcome, mine, ref


def judge_with_reward(pairs, reward_fn, *, evaluator: str, seed: int = 0, n_bootstrap: int = 2000):
    """Summary row fields and per-prompt records for one method against one reference."""
    from ..stats import summarize

    outcome, mine, ref = reward_outcomes(pairs, reward_fn)
    row = summarize(outcome, n_bootstrap, seed)
    row.update({"evaluator": evaluator, "mean_reward": float(mine.mean()), "baseline_mean_reward": float(ref.mean())})
    per_prompt = [{"prompt_id": m.prompt_id, "score": float(o), "reward": float(a), "baseline_reward": float(b)}
                  for (m, _), o, a, b in zip(pairs, outcome, mine, ref)]
    return row, per_prompt
