"""SLiC-HF (Zhao et al. 2023, arXiv:2305.10425;
Guo & Xiong, "Alignment Guidebook" (2024) §3.3): rank calibration hinge plus cross-entropy on a target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ..errors import AlignbenchError
from ..training import losses
from ._offline import pair_groups, scored_sft_groups, train_on_groups, winner_first
from .base import Method
from .params import SampledParams, param
from .registry import register


@dataclass(frozen=True)
class SLiCParams(SampledParams):
    renamed: ClassVar[dict[str, str]] = {"lam": "sft_weight"}  # the SFT term's weight, as PRO's

    delta: float = param(1.0, "δ: margin of the rank-calibration hinge", positive=True)
    sft_weight: float = param(0.5, "λ: weight of the cross-entropy (SFT term) on the target y_ref")
    pairs: Literal["dataset", "sft-rm"] = param("sft-rm",
                                                "pairs from the dataset, or π_sft samples ranked by the reward model")
    pairs_per_prompt: int = param(1, "π_sft sample pairs per training prompt (pairs sft-rm)", positive=True)

    def __post_init__(self):
        if self.pairs == "dataset" and (self.max_prompts is not None or self.pairs_per_prompt != 1):
            raise AlignbenchError("max_prompts and pairs_per_prompt apply to pairs: sft-rm (pairs: "
                                  "dataset trains on every dataset pair)")


@register
class SLiC(Method):
    name = "slic"
    kind = "offline-group"
    description = ("SLiC-HF: max(0, δ − log π(y_w) + log π(y_l)) − λ log π(y_ref); pairs from the "
                   "dataset or π_sft + reward model")
    # pairs: sft-rm = SLiC-HF sample-and-rank (pairs from π_sft labelled by the reward model, the paper's
    # main variant); dataset = SLiC-HF direct on the human pairs. y_ref, the regularisation target, is the
    # pair's winner in both (the Alignment Guidebook §3.3 allows y_ref sampled from π_sft).
    Params = SLiCParams

    def fit(self, ctx):
        if self.params.pairs == "dataset":
            data = pair_groups(ctx.sft_policy, ctx.task.train_pairs)
        else:  # sft-rm (the choices are checked when the config loads)
            sampled, rewards = scored_sft_groups(ctx, self.params, 2, int(self.params.pairs_per_prompt))
            data, _ = winner_first(sampled, rewards, [(i, 0, 1) for i in range(len(sampled))])
        delta, sft_weight = self.params.delta, self.params.sft_weight

        def loss_fn(logps, batch):
            return losses.slic_loss(logps[:, 0], logps[:, 1], logps[:, 0], delta, sft_weight)

        return train_on_groups(ctx, self, data, loss_fn, needs_reference=False)
