"""ORPO (Hong et al. 2024): SFT on the chosen response plus an odds-ratio penalty, no reference model."""

from __future__ import annotations

from dataclasses import dataclass

from ..training import losses
from ._offline import pair_groups, train_on_groups
from .base import Method
from .params import OfflineParams, param
from .registry import register


@dataclass(frozen=True)
class ORPOParams(OfflineParams):
    lam: float = param(0.1, "λ: weight of the odds-ratio term next to the chosen response's NLL")


@register
class ORPO(Method):
    name = "orpo"
    kind = "offline-group"
    description = ("ORPO on the dataset's pairs: −log P(y_w) − λ log σ(log odds(y_w) − log "
                   "odds(y_l)), token-averaged, no reference")
    Params = ORPOParams

    def fit(self, ctx):
        data = pair_groups(ctx.sft_policy, ctx.task.train_pairs)
        lam = self.params.lam
        return train_on_groups(ctx, self, data, lambda logps, b: losses.orpo_loss(logps[:, 0], logps[:, 1], lam),
                               length_average=True, needs_reference=False)
