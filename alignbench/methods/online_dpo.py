"""Online iterative DPO (Xiong et al. 2023, arXiv:2312.11456;
Guo & Xiong, "Alignment Guidebook" (2024) §2.2, §3.5): best-of-n vs worst-of-n pairs each round."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import AlignbenchError
from ..training.trainer import cache_logprobs
from ._offline import concat_groups, rounds_trainer, sampled_rounds, winner_first
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
    reference: Literal["sft", "previous"] = param("sft",
                                                  "DPO's reference each round: π_sft, or "
                                                  "the policy the round started from")
    pairs: Literal["accumulate", "round"] = param(
        "accumulate", "train each round on every pair so far, D ← D ∪ D_t (the paper), or on the round's pairs only")
    restart: bool = param(False, "train each round afresh from π_0 = π_sft (new optimiser) instead of continuing")

    def __post_init__(self):
        if self.restart and self.reference == "previous":
            raise AlignbenchError("restart: true trains every round from π_sft, so its DPO reference is π_sft: "
                                  "use reference: sft")


@register
class OnlineDPO(Method):
    name = "online-dpo"
    kind = "offline-group"
    description = ("iterative DPO: each round samples n from the current policy, pairs the RM's "
                   "best-of-n with its worst-of-n, adds them to every earlier round's pairs, DPO steps")
    # The Alignment Guidebook's iterative DPO (§3.5, after Xiong et al. 2023): D ← D ∪ D_t each round and π_t trained
    # with DPO on D; "from π_0" there is the restart option (Claude's online RLHF restarts too, §2.2).
    # pairs: round with restart: false is the earlier behaviour (each round's own pairs, continuing).
    Params = OnlineDPOParams

    def fit(self, ctx):
        params = self.params
        policy = ctx.sft_policy.clone()
        trainer = rounds_trainer(ctx, self, policy)
        loss_fn = dpo_loss_fn(params.beta)
        pool = None  # D: every round's pairs so far
        for t, _, sampled, _, rewards in sampled_rounds(ctx, params, policy, int(params.n)):
            best, worst = rewards.argmax(dim=1).tolist(), rewards.argmin(dim=1).tolist()
            new, _ = winner_first(sampled, rewards, [(i, b, w) for i, (b, w) in enumerate(zip(best, worst))])
            if len(new) == 0:
                ctx.progress.log(f"{self.label}: round {t + 1}: every group tied, no pairs")
            elif params.reference == "sft":  # π_sft's log-probs are cached once per pair, kept across rounds
                cache_logprobs(ctx.sft_policy, new, "ref_logps")
            if params.pairs == "round" or pool is None:
                data = new
            else:
                data = concat_groups(pool, new) if len(new) else pool
            if len(data) == 0:
                continue
            if params.reference == "previous":  # the round's starting policy is the reference of every pair
                cache_logprobs(policy, data, "ref_logps")
            pool = data
            if params.restart and t > 0:
                trainer.restart_from(ctx.sft_policy)
            trainer.fit(data, loss_fn, steps=int(params.steps_per_round))
            if params.reference == "previous":
                pool.tensors.pop("ref_logps")  # next round's reference is the policy trained now
        trainer.finish()
        return policy

    def target_beta(self, task=None):
        # Against π_sft every round targets π*_β. Against the previous policy, round t's optimum is
        # π_{t−1}·exp(r/β): after T converged rounds π_sft·exp(T·r/β), i.e. β/T.
        if self.params.reference == "sft":
            return self.params.beta
        return self.params.beta / int(self.params.rounds)
