"""ARM: alignment with a residual energy-based model (ARM Alg. 3 with soft labels; ARM-PL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ..training import losses
from ._offline import scored_sft_groups, train_on_groups, training_prompts
from .base import Method
from .params import BETA_HELP, SampledParams, param
from .registry import register
from .sampling import snis_groups


@dataclass(frozen=True)
class ARMParams(SampledParams):
    beta: float = param(0.1, BETA_HELP, positive=True)
    n: int = param(32, "SNIS proposals from π_sft per draw from π*", positive=True)
    pairs_per_prompt: int = param(1, "pairs (two SNIS draws each) per training prompt")


@dataclass(frozen=True)
class ARMPLParams(SampledParams):
    beta: float = param(0.1, BETA_HELP, positive=True)
    group_size: int = param(4, "K: responses ranked per group", positive=True)
    n: int = param(32, "SNIS proposals per draw (sampler snis only)", positive=True)
    sampler: Literal["sft", "snis"] = param("sft",
                                            "where the K responses come from: π_sft samples "
                                            "(ARM §4.2.5) or SNIS draws from π*")
    groups_per_prompt: int = param(1, "groups drawn per training prompt")


@register
class ARM(Method):
    name = "arm"
    kind = "offline-group"
    description = "ARM-BT (ARM Alg. 3): two SNIS draws from π*, soft label ρ = σ(r1 − r0), DPO-style loss against π_sft"
    Params = ARMParams

    def fit(self, ctx):
        beta = self.params.beta
        _, data, _, rewards = snis_groups(ctx, int(self.params.n), 2, beta, ctx.seed, int(self.params.pairs_per_prompt),
                                          training_prompts(ctx, self.params))
        data.tensors["rho"] = losses.arm_soft_label(rewards[:, 0], rewards[:, 1])

        def loss_fn(logps, batch):
            h = logps - batch["ref_logps"]
            return losses.arm_bt_loss(h[:, 0], h[:, 1], batch["rho"], beta)

        return train_on_groups(ctx, self, data, loss_fn)

    def target_beta(self, task=None):
        return self.params.beta


@register
class ARMPL(Method):
    name = "arm-pl"
    kind = "offline-group"
    description = ("ARM-PL (ARM Eq. 10–12): cross-entropy between reward- and β·h-induced "
                   "Plackett–Luce rankings of K samples")
    # ARM §4.2.5 samples the K responses from π_sft; SNIS samples from π* are offered as well.
    Params = ARMPLParams

    def fit(self, ctx):
        beta, K = self.params.beta, int(self.params.group_size)
        reps = int(self.params.groups_per_prompt)
        if self.params.sampler == "sft":
            data, rewards = scored_sft_groups(ctx, self.params, K, reps)
        else:  # snis (the choices are checked when the config loads)
            _, data, _, rewards = snis_groups(ctx, int(self.params.n), K, beta, ctx.seed, reps,
                                              training_prompts(ctx, self.params))
        data.tensors["rewards"] = rewards
        gen = torch.Generator().manual_seed(ctx.seed)

        def loss_fn(logps, batch):
            return losses.plackett_luce_loss(logps - batch["ref_logps"], batch["rewards"], beta, generator=gen)

        return train_on_groups(ctx, self, data, loss_fn)

    def target_beta(self, task=None):
        return self.params.beta
