"""SFT: the reference policy itself (trained once by the pipeline's SFT stage)."""

from __future__ import annotations

from .base import Method
from .registry import register


@register
class SFT(Method):
    name = "sft"
    kind = "reference"
    description = ("the supervised fine-tuned policy π_sft (token cross-entropy on chosen "
                   "responses); the reference for all methods")

    def fit(self, ctx):
        return ctx.sft_policy
