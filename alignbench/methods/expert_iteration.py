"""Expert iteration (ARM Alg. 2): SNIS samples from π* ∝ π_sft·exp(r/β), then MLE on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..training import losses
from ._offline import train_on_groups, training_prompts
from .base import Method
from .params import BETA_HELP, SampledParams, param
from .registry import register
from .sampling import snis_groups


@dataclass(frozen=True)
class ExpertIterationParams(SampledParams):
    beta: float = param(0.1, BETA_HELP, positive=True)
    n: int = param(32, "SNIS proposals from π_sft per draw from π*", positive=True)
    samples_per_prompt: int = param(1, "draws from π* per training prompt", positive=True)
    # token: token-level mean over the batch, as SFT | sequence: mean of per-response means | sum: ARM Eq. 7
    normalization: Literal["token", "sequence", "sum"] = param("token",
                                                               "how the NLL of the draws is "
                                                               "averaged: token, sequence or sum")


@register
class ExpertIteration(Method):
    name = "expert-iteration"
    kind = "offline-group"
    description = "ARM Alg. 2: draw from π* by self-normalised importance sampling (n = 32), then SFT on the draws"
    Params = ExpertIterationParams

    def fit(self, ctx):
        _, data, _, _ = snis_groups(ctx, int(self.params.n), 1, self.params.beta, ctx.seed,
                                    int(self.params.samples_per_prompt), training_prompts(ctx, self.params))
        norm = self.params.normalization
        return train_on_groups(ctx, self, data,
                               lambda logps, b: losses.sft_nll_loss(logps[:, 0], b["response_lengths"][:, 0], norm),
                               needs_reference=False)

    def target_beta(self, task=None):
        return self.params.beta
