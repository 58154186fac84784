"""RAFT (Dong et al. 2023): rounds of sample K from the current policy, keep the reward's best, SFT on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..training import losses
from ._offline import rounds_trainer, sampled_rounds
from .base import Method
from .params import RoundsParams, param
from .registry import register
from .sampling import take


@dataclass(frozen=True)
class RAFTParams(RoundsParams):
    renamed: ClassVar[dict[str, str]] = {"k": "n"}

    n: int = param(8, "samples from the current policy per prompt (the paper's K); the reward model's best is kept",
                   positive=True)


@register
class RAFT(Method):
    name = "raft"
    kind = "offline-group"
    description = ("RAFT: each round samples K from the current policy for a batch of prompts, keeps "
                   "the RM's best, fine-tunes on them")
    # rounds × steps_per_round optimiser steps; prompts_per_round is the paper's b. The paper's output
    # temperature λ is left at 1 (the backend's sampling).
    Params = RAFTParams

    def fit(self, ctx):
        params = self.params
        policy = ctx.sft_policy.clone()
        trainer = rounds_trainer(ctx, self, policy)
        for _, _, data, texts, rewards in sampled_rounds(ctx, params, policy, int(params.n)):
            best, _, best_rewards = take(data, texts, rewards, rewards.argmax(dim=1, keepdim=True))
            best.tensors["rewards"] = best_rewards
            trainer.fit(best, lambda lp, b: losses.raft_loss(lp, b["rewards"], b["response_lengths"]),
                        steps=int(params.steps_per_round))
        trainer.finish()
        return policy
