"""Groups of K responses per prompt and their sequence log-probs under a policy: the data every trainer,
method and the policy's own KL estimate share (a leaf below the trainer)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .logprobs import build_batch, materialises_logits, sequence_logprobs


@dataclass
class GroupData:
    """G groups of K responses (token ids) with per-group tensors of leading dim G."""

    prompt_ids: list[list[int]]
    response_ids: list[list[list[int]]]
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.prompt_ids)

    @property
    def group_size(self) -> int:
        return len(self.response_ids[0])

    def select(self, index: list[int]) -> "GroupData":
        idx = torch.tensor(index, dtype=torch.long)
        return GroupData(
            [self.prompt_ids[i] for i in index],
            [self.response_ids[i] for i in index],
            {k: v[idx] for k, v in self.tensors.items()},
        )


LOGIT_BUDGET = 1 << 22  # logits held at once (16 MB of float32): peak memory of reference caching, not speed


def group_logprobs(
    policy, data: GroupData, length_average: bool = False, grad: bool = True, chunk: int = 512
) -> torch.Tensor:
    """Sequence log-probs of every response in ``data`` under ``policy``: ``[G, K]``.

    Rows go through the model in chunks of at most ``chunk`` sequences and, for models whose
    logits are materialised, ``LOGIT_BUDGET`` logits, so caching reference log-probs over a whole
    data set never holds a data-set-sized logit tensor."""
    K = data.group_size
    flat_p = [p for p in data.prompt_ids for _ in range(K)]
    flat_r = [r for group in data.response_ids for r in group]
    model = getattr(policy.model, "module", policy.model)  # DDP / accelerate wrappers keep the model in .module
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    # Floats per token held at once: the logits when materialised; with the fused head and no
    # gradient, the MLP's 4 × width activations (with a gradient every chunk's graph lives anyway).
    hidden = getattr(getattr(model, "config", None), "hidden_size", None)
    per_token = vocab if materialises_logits(model) else (4 * hidden if hidden and not grad else None)
    if flat_p and vocab and per_token:
        longest = max(len(p) + len(r) for p, r in zip(flat_p, flat_r))
        chunk = max(1, min(chunk, LOGIT_BUDGET // (longest * per_token)))
    outs = []
    # Scoring passes (grad=False: reference, proposal, KL) run in eval mode — no dropout — whatever
    # mode the model was left in; training passes keep the caller's (train) mode.
    was_training = policy.model.training
    if not grad:
        policy.model.eval()
    try:
        with torch.enable_grad() if grad else torch.no_grad():
            for s in range(0, len(flat_p), chunk):
                ids, attn, rmask = build_batch(flat_p[s : s + chunk], flat_r[s : s + chunk], policy.pad_id)
                dev = policy.device
                total, mean = sequence_logprobs(policy.model, ids.to(dev), attn.to(dev), rmask.to(dev),
                                                policy.format.allowed_token_ids)
                outs.append(mean if length_average else total)
    finally:
        policy.model.train(was_training)
    return torch.cat(outs).view(len(data), K)


def response_lengths(data: GroupData) -> torch.Tensor:
    """Token count of every response: ``[G, K]`` (for token-level normalisation of losses)."""
    return torch.tensor([[len(r) for r in group] for group in data.response_ids], dtype=torch.float32)


def cache_logprobs(policy, data: GroupData, key: str, length_average: bool = False) -> None:
    """Compute log-probs once without gradients and store them in ``data.tensors[key]``.

    Used for the reference (π_sft) and proposal log-probs, so only the trained model needs to be
    resident while training.
    """
    data.tensors[key] = group_logprobs(policy, data, length_average=length_average, grad=False).detach().cpu()
