"""RAFT (Dong et al. 2023): rounds of sample K from the current policy, keep the reward's best, SFT on them."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..training import losses
from ..training.trainer import GroupTrainer
from ._offline import train_config, training_prompts
from .base import Method
from .params import RoundsParams, param
from .registry import register
from .sampling import sample_groups, score_groups, take


@dataclass(frozen=True)
class RAFTParams(RoundsParams):
    k: int = param(8, "samples from the current policy per prompt; the reward model's best is kept", positive=True)


@register
class RAFT(Method):
    name = "raft"
    kind = "offline-group"
    description = "RAFT: each round samples K from the current policy for a batch of prompts, keeps the RM's best, fine-tunes on them"
    # rounds × steps_per_round optimiser steps; prompts_per_round is the paper's b. The paper's output
    # temperature λ is left at 1 (the backend's sampling).
    Params = RAFTParams

    def fit(self, ctx):
        params = self.params
        policy = ctx.sft_policy.clone()
        cfg = train_config(params, ctx.seed, steps=int(params.rounds) * int(params.steps_per_round))
        # No mid-method checkpoints: a resumed RAFT would draw its early rounds from the wrong policy.
        trainer = GroupTrainer(policy, cfg, ctx.progress, None, label=self.label, log_path=ctx.run_dir / "train_log.jsonl")
        gen = torch.Generator().manual_seed(ctx.seed)
        prompts_all = training_prompts(ctx, params)
        for t in range(int(params.rounds)):
            pick = torch.randperm(len(prompts_all), generator=gen)[: int(params.prompts_per_round)].tolist()
            prompts = [prompts_all[i] for i in pick]
            data, texts = sample_groups(policy, prompts, int(params.k), ctx.seed + 1000 * t, ctx.backend)
            rewards = score_groups(ctx.reward_fn, prompts, texts)
            best, _, best_rewards = take(data, texts, rewards, rewards.argmax(dim=1, keepdim=True))
            best.tensors["rewards"] = best_rewards
            trainer.fit(best, lambda lp, b: losses.raft_loss(lp, b["rewards"], b["response_lengths"]), steps=int(params.steps_per_round))
        trainer.finish()
        return policy
