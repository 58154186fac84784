"""Online iterative DPO (Xiong et al. 2023; guidebook §2.2, §3.5): best-of-n vs worst-of-n pairs each round."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ..training.trainer import GroupTrainer, cache_logprobs
from ._offline import train_config, training_prompts, winner_first
from .base import Method
from .dpo import dpo_loss_fn
from .params import BETA_HELP, RoundsParams, param
from .registry import register
from .sampling import sample_groups, score_groups


@dataclass(frozen=True)
class OnlineDPOParams(RoundsParams):
    beta: float = param(0.1, BETA_HELP, positive=True)
    n: int = param(8, "samples from the current policy per prompt and round (best vs worst form a pair)", positive=True)
    # sft keeps π_sft as DPO's reference in every round; previous uses the policy the round started from
    # (each round's own KL anchor).
    reference: Literal["sft", "previous"] = param("sft", "DPO's reference each round: π_sft, or the policy the round started from")


@register
class OnlineDPO(Method):
    name = "online-dpo"
    kind = "offline-group"
    description = "iterative DPO: each round samples n from the current policy, pairs the RM's best-of-n with its worst-of-n, DPO steps"
    Params = OnlineDPOParams

    def fit(self, ctx):
        params = self.params
        beta = params.beta
        policy = ctx.sft_policy.clone()
        cfg = train_config(params, ctx.seed, steps=int(params.rounds) * int(params.steps_per_round))
        # No mid-method checkpoints: a resumed run would draw its early rounds from the wrong policy.
        trainer = GroupTrainer(policy, cfg, ctx.progress, None, label=self.label, log_path=ctx.run_dir / "train_log.jsonl")
        gen = torch.Generator().manual_seed(ctx.seed)
        prompts_all = training_prompts(ctx, params)

        loss_fn = dpo_loss_fn(beta)
        for t in range(int(params.rounds)):
            pick = torch.randperm(len(prompts_all), generator=gen)[: int(params.prompts_per_round)].tolist()
            prompts = [prompts_all[i] for i in pick]
            sampled, texts = sample_groups(policy, prompts, int(params.n), ctx.seed + 1000 * t, ctx.backend)
            rewards = score_groups(ctx.reward_fn, prompts, texts)
            best, worst = rewards.argmax(dim=1).tolist(), rewards.argmin(dim=1).tolist()
            data, _ = winner_first(sampled, rewards, [(i, b, w) for i, (b, w) in enumerate(zip(best, worst))])
            if len(data) == 0:
                ctx.progress.log(f"{self.label}: round {t + 1}: every group tied, no pairs")
                continue
            cache_logprobs(ctx.sft_policy if params.reference == "sft" else policy, data, "ref_logps")
            trainer.fit(data, loss_fn, steps=int(params.steps_per_round))
        trainer.finish()
        return policy

    def target_beta(self, task=None):
        # Against π_sft every round targets π*_β. Against the previous policy, round t's optimum is
        # π_{t−1}·exp(r/β): after T converged rounds π_sft·exp(T·r/β), i.e. β/T.
        if self.params.reference == "sft":
            return self.params.beta
        return self.params.beta / int(self.params.rounds)
