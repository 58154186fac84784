"""PRO (Song et al. 2023; thesis Eq. 17–18): Plackett–Luce over the ranking with the policy's own likelihoods."""

from __future__ import annotations

from dataclasses import dataclass

from ..training import losses
from ._offline import ranked_groups, train_on_groups
from .base import Method
from .params import RankedParams, param
from .registry import register


@dataclass(frozen=True)
class PROParams(RankedParams):
    # Eq. 17's β (PRO uses 0.05); named apart from the run's β, a KL temperature PRO has not.
    sft_weight: float = param(0.05, "weight of the SFT term on the top-ranked response (Eq. 17's β)")


@register
class PRO(Method):
    name = "pro"
    kind = "offline-group"
    description = "PRO (thesis Eq. 17–18): −Σ_k log softmax over {k…K} of token-averaged log-probs in the RM's ranking, + β·SFT on the top"
    Params = PROParams

    def fit(self, ctx):
        data = ranked_groups(ctx, self.params)
        w = self.params.sft_weight
        return train_on_groups(ctx, self, data, lambda lp, b: losses.pro_loss(lp, b["rewards"], w),
                               length_average=True, needs_reference=False)
