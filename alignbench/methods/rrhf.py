"""RRHF (Yuan et al. 2023): rank the K responses' likelihoods like the reward model does, plus SFT on the best."""

from __future__ import annotations

import torch

from ..training import losses
from ._offline import ranked_groups, train_on_groups
from .base import Method
from .params import RankedParams
from .registry import register


@register
class RRHF(Method):
    name = "rrhf"
    kind = "offline-group"
    description = ("RRHF: Σ_{r_i<r_j} max(0, p_i − p_j) over K π_sft samples ranked by the RM (p "
                   "token-averaged), plus SFT on the best")
    # The paper mixes responses from several sources; here the K come from π_sft (the seeds' setting).
    Params = RankedParams

    def fit(self, ctx):
        data = ranked_groups(ctx, self.params)
        data.tensors["lengths"] = torch.tensor([[len(r) for r in group] for group in data.response_ids],
                                               dtype=torch.float32)
        return train_on_groups(ctx, self, data, lambda lp, b: losses.rrhf_loss(lp, b["rewards"], b["lengths"]),
                               length_average=True, needs_reference=False)
