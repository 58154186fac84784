"""EXO (efficient exact optimisation): EXO-rw, EXO-pref, and its forward-KL baseline DPO-rw."""

from __future__ import annotations

from dataclasses import dataclass

from ..training import losses
from ._offline import pair_groups, scored_sft_groups, train_on_groups
from .base import Method
from .params import OfflineParams, SampledParams, param
from .registry import register


@dataclass(frozen=True)
class RewardGroupParams(SampledParams):
    beta_pi: float = param(0.1, "β_π: scale of the policy's log-ratio h (the target's β is β_π·β_r)", positive=True)
    beta_r: float = param(0.1, "β_r: reward temperature of softmax(r/β_r)", positive=True)
    group_size: int = param(4, "K: π_sft samples per group", positive=True)
    groups_per_prompt: int = param(1, "groups drawn per training prompt")


@dataclass(frozen=True)
class EXOPrefParams(OfflineParams):
    beta_pi: float = param(0.1, "β_π: scale of the policy's log-ratio h", positive=True)
    eps: float = param(1e-3, "ε: label smoothing of the preference [1 − ε, ε]", positive=True)


class _RewardGroups(Method):
    """K samples per prompt from π_sft scored by the reward model, one loss over the K."""

    loss_name = "exo_loss"  # looked up at call time: one place defines each loss
    Params = RewardGroupParams

    def fit(self, ctx):
        data, rewards = scored_sft_groups(ctx, self.params, int(self.params.group_size),
                                          int(self.params.groups_per_prompt))
        data.tensors["rewards"] = rewards
        bp, br, name = self.params.beta_pi, self.params.beta_r, self.loss_name

        def loss_fn(logps, batch):
            return getattr(losses, name)(logps - batch["ref_logps"], batch["rewards"], bp, br)

        return train_on_groups(ctx, self, data, loss_fn)

    def target_beta(self, task=None):
        # EXO Thm 3.1: the optimum is π*_β with β = β_π·β_r.
        return self.params.beta_pi * self.params.beta_r


@register
class EXO(_RewardGroups):
    name = "exo"
    kind = "offline-group"
    description = "EXO-rw: reverse KL(softmax_K(β_π·h) ‖ softmax_K(r/β_r)) over K samples from π_sft"
    loss_name = "exo_loss"


@register
class DPORW(_RewardGroups):
    name = "dpo-rw"
    kind = "offline-group"
    description = "DPO-rw (EXO's baseline): forward cross-entropy −Σ softmax(r/β_r)·log softmax(β_π·h) over K samples"
    loss_name = "dpo_rw_loss"


@register
class EXOPref(Method):
    name = "exo-pref"
    kind = "offline-group"
    description = "EXO-pref: K = 2 on the dataset's pairs, KL(p_f ‖ [1 − ε, ε]), ε = 1e-3"
    Params = EXOPrefParams

    def fit(self, ctx):
        data = pair_groups(ctx.sft_policy, ctx.task.train_pairs)
        bp, eps = self.params.beta_pi, self.params.eps

        def loss_fn(logps, batch):
            h = logps - batch["ref_logps"]
            return losses.exo_pref_loss(h[:, 0], h[:, 1], bp, eps), losses.preference_metrics(h[:, 0], h[:, 1], bp)

        return train_on_groups(ctx, self, data, loss_fn)
