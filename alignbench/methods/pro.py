"""PRO (Song et al. 2023, arXiv:2306.17492): Plackett–Luce over the ranking with the policy's own likelihoods, as
restated in Santos, "Aligning Language Models with Human Feedback without Reinforcement Learning" (IST Lisbon MSc
report), Eq. 17–18."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ..training import losses
from ._offline import ranked_groups, train_on_groups
from .base import Method
from .params import RankedParams, param
from .registry import register


@dataclass(frozen=True)
class PROParams(RankedParams):
    # Eq. 17's β (PRO uses 0.05); named apart from the run's β, a KL temperature PRO has not.
    sft_weight: float = param(0.05, "weight of the SFT term on the top-ranked response (Eq. 17's β)")
    # Santos's Eq. 17 adds β·(−p_top) with p token-averaged (token-mean); the authors' code (PRO/train/utils/
    # process_manager.py, compute_loss) adds sft_weight·(K − 1)²·(−Σ_t log π(top)), summed over tokens.
    sft_term: Literal["token-mean", "summed"] = param(
        "token-mean", "SFT term: β·(−token-averaged log-lik.), or as the authors' code: β·(K−1)²·(−summed log-lik.)")
    renamed_values: ClassVar[dict[str, dict[str, str]]] = {"sft_term": {"thesis": "token-mean", "authors": "summed"}}


@register
class PRO(Method):
    name = "pro"
    kind = "offline-group"
    description = ("PRO (Song et al. 2023; Santos Eq. 17–18): −Σ_k log softmax over {k…K} of token-averaged log-probs "
                   "in the RM's ranking, + β·SFT on the top")
    Params = PROParams

    def fit(self, ctx):
        data = ranked_groups(ctx, self.params)
        w = self.params.sft_weight
        if self.params.sft_term == "token-mean":
            def loss_fn(lp, b):
                return losses.pro_loss(lp, b["rewards"], w)
        else:
            def loss_fn(lp, b):  # summed log-likelihoods = token averages × lengths
                return losses.pro_loss(lp, b["rewards"], w * (lp.shape[1] - 1) ** 2,
                                       sft_logps=lp * b["response_lengths"])
        return train_on_groups(ctx, self, data, loss_fn, length_average=True, needs_reference=False)
