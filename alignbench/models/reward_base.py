"""``RewardModelBase``: the interface every reward-model kind implements (a leaf, so a kind in its own module
subclasses it without importing the table of kinds that registers it)."""

from __future__ import annotations

import torch
from torch import nn


class RewardModelBase(nn.Module):
    kind = "base"

    def scores(self, prompts: list[str], outputs: list[str]) -> torch.Tensor:
        raise NotImplementedError

    score_batch_size = 256

    @torch.no_grad()
    def score(self, prompts: list[str], outputs: list[str], batch_size: int | None = None) -> list[float]:
        """One reward per (prompt, output), in eval mode. Each distinct pair is scored once, so identical
        responses to a prompt always tie: two copies of a row in one padded batch can differ in their last bits."""
        batch_size = batch_size or self.score_batch_size
        distinct = list(dict.fromkeys(zip(prompts, outputs)))
        was = self.training
        self.eval()
        values: list[float] = []
        for i in range(0, len(distinct), batch_size):
            chunk = distinct[i : i + batch_size]
            values.extend(self.scores([p for p, _ in chunk], [o for _, o in chunk]).tolist())
        self.train(was)
        by_pair = dict(zip(distinct, values))
        return [by_pair[pair] for pair in zip(prompts, outputs)]

    def truncated(self, prompts: list[str], outputs: list[str]) -> list[bool]:
        """Which responses the model had to cut to fit its context (scored on what was left)."""
        return [False] * len(outputs)

    def as_reward_fn(self):
        def reward_fn(samples, prompts, outputs):
            return self.score(list(prompts), list(outputs))

        reward_fn.reward_model = self
        return reward_fn
