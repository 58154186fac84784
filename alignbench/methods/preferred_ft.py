"""Preferred-FT (DPO §6's baseline): supervised fine-tuning on the dataset's chosen responses only."""

from __future__ import annotations

from ..training import losses
from ..training.trainer import GroupData
from ._offline import train_on_groups
from .base import Method
from .params import OfflineParams
from .registry import register


@register
class PreferredFT(Method):
    name = "preferred-ft"
    kind = "supervised"
    description = ("Preferred-FT (DPO's baseline): token cross-entropy on the dataset's chosen "
                   "responses, continuing from π_sft")
    Params = OfflineParams

    def fit(self, ctx):
        pairs = ctx.task.train_pairs
        data = GroupData([ctx.sft_policy.encode_prompt(p.prompt) for p in pairs],
                         [[ctx.sft_policy.encode_response(p.chosen)] for p in pairs])
        return train_on_groups(ctx, self, data,
                               lambda logps, b: losses.sft_nll_loss(logps[:, 0], b["response_lengths"][:, 0]),
                               needs_reference=False)
