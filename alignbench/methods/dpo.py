"""DPO on the dataset's human pairs, and DPO-sft on π_sft samples labelled by the reward model."""

from __future__ import annotations

from dataclasses import dataclass

from ..training import losses
from ._offline import pair_groups, scored_sft_groups, train_on_groups, winner_first
from .base import Method
from .params import BETA_HELP, OfflineParams, SampledParams, param
from .registry import register


def dpo_loss_fn(beta: float):
    def loss_fn(logps, batch):
        h = logps - batch["ref_logps"]
        return losses.dpo_loss(h[:, 0], h[:, 1], beta), losses.preference_metrics(h[:, 0], h[:, 1], beta)

    return loss_fn


@dataclass(frozen=True)
class DPOParams(OfflineParams):
    beta: float = param(0.1, BETA_HELP, positive=True)


@dataclass(frozen=True)
class DPOSFTParams(DPOParams, SampledParams):
    pairs_per_prompt: int = param(1, "π_sft sample pairs per training prompt")


@register
class DPO(Method):
    name = "dpo"
    kind = "offline-group"
    description = "Direct Preference Optimization on the dataset's human pairs: −log σ(β(h_w − h_l)), β = 0.1"
    Params = DPOParams

    def fit(self, ctx):
        data = pair_groups(ctx.sft_policy, ctx.task.train_pairs)
        return train_on_groups(ctx, self, data, dpo_loss_fn(self.params.beta))

    def target_beta(self, task=None):
        return self.params.beta


@register
class DPOSFT(Method):
    name = "dpo-sft"
    kind = "offline-group"
    description = "DPO on pairs sampled from π_sft and labelled by the reward model (BRAIn's DPO-sft)"
    Params = DPOSFTParams

    def fit(self, ctx):
        sampled, rewards = scored_sft_groups(ctx, self.params, 2, int(self.params.pairs_per_prompt))
        data, keep = winner_first(sampled, rewards, [(i, 0, 1) for i in range(len(rewards))])
        ctx.progress.log(f"{self.label}: {len(keep)} labelled pairs ({len(rewards) - len(keep)} "
                         "tied pairs carry no preference)")
        return train_on_groups(ctx, self, data, dpo_loss_fn(self.params.beta))

    def target_beta(self, task=None):
        return self.params.beta
