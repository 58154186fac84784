"""Online iterative DPO (Xiong et al. 2023; guidebook §2.2, §3.5): best-of-n vs worst-of-n pairs each round."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..training.trainer import cache_logprobs
from ._offline import rounds_trainer, sampled_rounds, winner_first
from .base import Method
from .dpo import dpo_loss_fn
from .params import BETA_HELP, RoundsParams, param
from .registry import register


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
        policy = ctx.sft_policy.clone()
        trainer = rounds_trainer(ctx, self, policy)
        loss_fn = dpo_loss_fn(params.beta)
        for t, _, sampled, _, rewards in sampled_rounds(ctx, params, policy, int(params.n)):
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
