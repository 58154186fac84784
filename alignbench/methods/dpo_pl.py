"""DPO-PL: DPO's implicit reward in a Plackett–Luce ranking likelihood, the method proposed in
Santos, "Aligning Language Models with Human Feedback without Reinforcement Learning" (IST Lisbon MSc report), Eq.
19–20."""

from __future__ import annotations

from dataclasses import dataclass

from ..training import losses
from ._offline import ranked_groups, train_on_groups
from .base import Method
from .params import BETA_HELP, RankedParams, param
from .registry import register


@dataclass(frozen=True)
class DPOPLParams(RankedParams):
    beta: float = param(0.1, BETA_HELP, positive=True)


@register
class DPOPL(Method):
    name = "dpo-pl"
    kind = "offline-group"
    description = ("DPO-PL (Santos, IST MSc report, Eq. 19–20): Plackett–Luce likelihood of the RM's hard ranking of "
                   "K π_sft samples with scores β·h")
    Params = DPOPLParams

    def fit(self, ctx):
        data = ranked_groups(ctx, self.params)
        beta = self.params.beta
        return train_on_groups(ctx, self, data,
                               lambda lp, b: losses.dpo_pl_loss(lp - b["ref_logps"], b["rewards"], beta))

    def target_beta(self, task=None):
        return self.params.beta
