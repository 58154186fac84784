"""RSO (Liu et al. 2023): pairs drawn from π*_β by statistical rejection sampling, labelled by the reward model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ..training import losses
from ._offline import scored_sft_groups, train_on_groups, winner_first
from .base import Method
from .params import BETA_HELP, SampledParams, param
from .registry import register

LOSSES = {"sigmoid": "dpo_loss", "hinge": "hinge_loss"}  # looked up at call time (tests patch the losses module)


@dataclass(frozen=True)
class RSOParams(SampledParams):
    beta: float = param(0.1, BETA_HELP, positive=True)
    n: int = param(64, "proposals from π_sft per prompt", positive=True)
    num_accepted: int = param(8, "draws accepted per prompt (paired in acceptance order)", positive=True)
    loss: Literal["sigmoid", "hinge"] = param("sigmoid", "pair loss: sigmoid (DPO) or hinge (SLiC)")


@register
class RSO(Method):
    name = "rso"
    kind = "offline-group"
    description = ("RSO: n proposals from π_sft, rejection-sampled to π*_β (accept w.p. exp((r − M)/β)), "
                   "RM-labelled pairs, DPO or hinge loss")
    # RSO Alg. 1 with the paper's 64 proposals and 8 accepted per prompt; accepted draws are paired in
    # acceptance order (y1, y2), (y3, y4), … and each pair labelled by the reward model.
    Params = RSOParams

    def fit(self, ctx):
        beta, k = self.params.beta, int(self.params.num_accepted)
        proposals, rewards = scored_sft_groups(ctx, self.params, int(self.params.n))
        gen = torch.Generator().manual_seed(ctx.seed + 1)
        pairs = []
        for i in range(len(proposals)):
            accepted = losses.rso_rejection_sample(rewards[i], beta, k, gen)
            pairs += [(i, a, b) for a, b in zip(accepted[0::2], accepted[1::2])]
        data, _ = winner_first(proposals, rewards, pairs)
        ctx.progress.log(f"{self.label}: {len(data)} labelled pairs from rejection sampling "
                         f"({len(pairs) - len(data)} ties left out)")
        loss = getattr(losses, LOSSES[self.params.loss])

        def loss_fn(logps, batch):
            h = logps - batch["ref_logps"]
            return loss(h[:, 0], h[:, 1], beta), losses.preference_metrics(h[:, 0], h[:, 1], beta)

        return train_on_groups(ctx, self, data, loss_fn)

    def target_beta(self, task=None):
        return self.params.beta
