"""KTO (Ethayarajh et al. 2024, arXiv:2402.01306;
Guo & Xiong, "Alignment Guidebook" (2024) §5.3): unpaired desirable / undesirable examples."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..training import losses
from ..training.trainer import GroupData
from ._offline import train_on_groups
from .base import Method
from .params import BETA_HELP, OfflineParams, param
from .registry import register


@dataclass(frozen=True)
class KTOParams(OfflineParams):
    beta: float = param(0.1, BETA_HELP, positive=True)
    lambda_d: float = param(1.0, "λ_D: weight of the desirable examples", positive=True)
    lambda_u: float = param(1.0, "λ_U: weight of the undesirable examples", positive=True)


@register
class KTO(Method):
    name = "kto"
    kind = "offline-group"
    description = ("KTO: λ_D(1 − σ(β(h − z₀))) on desirable, λ_U(1 − σ(β(z₀ − h))) on undesirable, "
                   "z₀ a detached batch KL estimate")
    # Unpaired {prompt, completion, label} data is trained on directly. Otherwise the dataset's pairs are split
    # into unpaired examples (chosen → desirable, rejected → undesirable), as in the paper's comparison with DPO. Each
    # example carries a mismatched response (another example's)
    # whose log-ratio under its prompt feeds z₀ = max(0, mean over the batch), KTO §4.1.
    Params = KTOParams

    def fit(self, ctx):
        policy = ctx.sft_policy
        task = ctx.task
        if task.train_unpaired:  # KTO's own input: {prompt, completion, label} as given
            examples = [(x.prompt, x.completion, 1.0 if x.label else 0.0) for x in task.train_unpaired]
        else:
            examples = [(p.prompt, y, d) for p in task.train_pairs for y, d in ((p.chosen, 1.0), (p.rejected, 0.0))]
        mismatch = torch.randperm(len(examples), generator=torch.Generator().manual_seed(ctx.seed)).tolist()
        data = GroupData(
            [policy.encode_prompt(x) for x, _, _ in examples],
            [
                [policy.encode_response(y), policy.encode_response(examples[j][1])]
                for (_, y, _), j in zip(examples, mismatch)
            ],
            {"desirable": torch.tensor([d for _, _, d in examples])},
        )
        beta, ld, lu = self.params.beta, self.params.lambda_d, self.params.lambda_u

        def loss_fn(logps, batch):
            h = logps - batch["ref_logps"]
            return losses.kto_loss(h[:, 0], batch["desirable"], losses.kto_reference_point(h[:, 1]), beta, ld, lu)

        return train_on_groups(ctx, self, data, loss_fn)
