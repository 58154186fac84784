"""BRAIn (BRAIn Alg. 1): distil the reward-conditioned posterior with a self-normalised baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..training import losses
from ..training.trainer import GroupData, cache_logprobs
from ._offline import concat_groups, rounds_trainer, sampled_rounds
from .base import Method
from .params import RoundsParams, param
from .registry import register


@dataclass(frozen=True)
class BRAInParams(RoundsParams):
    lr: float = param(1e-5, "learning rate (AdamW)", positive=True)
    gamma: float = param(1.0, "γ: reward temperature of the posterior π_sft·exp(r/γ)", positive=True)
    n: int = param(32, "proposal samples per prompt and round", positive=True)
    length_average: bool = param(True, "token-averaged log-probs (β = γ/L on fixed-length tasks) instead of summed")
    baseline: Literal["self-normalized", "unnormalized", "none"] = param(
        "self-normalized", "the baseline β̂ subtracted from α̂ in the gradient Σ(α̂ − β̂)∇log π_θ"
    )


@register
class BRAIn(Method):
    name = "brain"
    kind = "offline-group"
    description = ("BRAIn Alg. 1: n proposal samples, α̂ = softmax(r/γ + log π_sft − log "
                   "q′), gradient Σ(α̂ − β̂)∇log π_θ")
    # rounds × steps_per_round = BRAIn's e × k; the proposal q′ is refreshed to π_θ after each round.
    Params = BRAInParams

    def fit(self, ctx):
        params = self.params
        avg = bool(params.length_average)
        policy = ctx.sft_policy.clone()
        trainer = rounds_trainer(ctx, self, policy)
        pool: GroupData | None = None  # D_t = D_{t-1} ∪ S_t (Alg. 1 line 12)
        proposal = policy  # q′ ← π_θ after each round; π_sft in the first (Alg. 1 lines 1, 21)
        for t, _, data, _, rewards in sampled_rounds(ctx, params, proposal, int(params.n)):
            cache_logprobs(proposal, data, "proposal_logps", length_average=avg)
            if t == 0:
                data.tensors["sft_logps"] = data.tensors["proposal_logps"].clone()
            else:
                cache_logprobs(ctx.sft_policy, data, "sft_logps", length_average=avg)
            data.tensors["alpha"] = losses.brain_alpha(rewards, params.gamma, data.tensors["sft_logps"],
                                                       data.tensors["proposal_logps"])
            pool = data if pool is None else concat_groups(pool, data)
            if trainer.step >= (t + 1) * int(params.steps_per_round):
                continue  # resumed past this round
            baseline = params.baseline
            trainer.fit(
                pool,
                lambda logps, b: losses.brain_loss(logps, b["proposal_logps"], b["alpha"], baseline=baseline),
                steps=(t + 1) * int(params.steps_per_round) - trainer.step,
                length_average=avg,
            )
        trainer.finish()
        return policy

    def target_beta(self, task=None):
        # At the optimum log π_θ − log q′ matches r/γ up to a constant. With length-averaged log-probs
        # over responses of fixed length L that becomes π_θ ∝ π_sft·exp(L·r/γ), i.e. β = γ/L.
        L = getattr(task, "response_length", None)
        if self.params.length_average:
            return self.params.gamma / L if L else None
        return self.params.gamma
