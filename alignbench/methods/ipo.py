"""IPO (Azar et al. 2023, arXiv:2310.12036;
Guo & Xiong, "Alignment Guidebook" (2024) §3.2): squared loss to a fixed log-ratio margin 1/(2τ)."""

from __future__ import annotations

from dataclasses import dataclass

from ..training import losses
from ._offline import pair_groups, train_on_groups
from .base import Method
from .params import OfflineParams, param
from .registry import register


@dataclass(frozen=True)
class IPOParams(OfflineParams):
    tau: float = param(0.1, "τ: the loss pulls h_w − h_l towards 1/(2τ)", positive=True)
    # False sums token log-probs as in the paper's Eq. 17; True averages them as TRL does.
    length_average: bool = param(False, "token-averaged log-probs (TRL) instead of summed (the paper)")


@register
class IPO(Method):
    name = "ipo"
    kind = "offline-group"
    description = "IPO on the dataset's pairs: (h_w − h_l − 1/(2τ))², summed log-probs (paper) or token-averaged (TRL)"
    Params = IPOParams

    def fit(self, ctx):
        data = pair_groups(ctx.sft_policy, ctx.task.train_pairs)
        tau = self.params.tau

        def loss_fn(logps, batch):
            h = logps - batch["ref_logps"]
            return losses.ipo_loss(h[:, 0], h[:, 1], tau), losses.preference_metrics(h[:, 0], h[:, 1])

        return train_on_groups(ctx, self, data, loss_fn, length_average=bool(self.params.length_average))
