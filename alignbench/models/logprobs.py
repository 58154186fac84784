"""Batched sequence log-probabilities with prompt and padding tokens masked."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def build_batch(prompt_ids: list[list[int]], response_ids: list[list[int]], pad_id: int):
    """Right-padded ``prompt + response`` batch.

    Returns ``input_ids [B, T]``, ``attention_mask [B, T]`` and ``response_mask [B, T]`` where
    ``response_mask[b, t] = 1`` iff token ``t`` of row ``b`` is a response token.
    """
    lengths = [len(p) + len(r) for p, r in zip(prompt_ids, response_ids)]
    T = max(lengths)
    B = len(lengths)
    input_ids = torch.full((B, T), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((B, T), dtype=torch.long)
    response_mask = torch.zeros((B, T), dtype=torch.float32)
    for b, (p, r) in enumerate(zip(prompt_ids, response_ids)):
        n = len(p) + len(r)
        input_ids[b, :n] = torch.tensor(list(p) + list(r), dtype=torch.long)
        attention_mask[b, :n] = 1
        response_mask[b, len(p):n] = 1.0
    return input_ids, attention_mask, response_mask


def allowed_bias(vocab_size: int, allowed_ids, device=None) -> torch.Tensor | None:
    """Additive logit bias that restricts a distribution to ``allowed_ids`` (-inf elsewhere)."""
    if allowed_ids is None:
        return None
    bias = torch.full((vocab_size,), float("-inf"), device=device)
    bias[torch.as_tensor(list(allowed_ids), device=device)] = 0.0
    return bias


def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor, response_mask: torch.Tensor, bias=None):
    """Log-prob of each next token under ``logits``; returns ``(logps [B, T-1], mask [B, T-1])``."""
    logits = logits[:, :-1].float()
    if bias is not None:
        logits = logits + bias.to(logits.device)
    targets = input_ids[:, 1:]
    mask = response_mask[:, 1:]
    # Fused cross-entropy: no second [B, T, V] tensor of log-probabilities is materialised.
    logps = -F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    # Masked positions may hold -inf (a pad target outside the allowed set); zero them, not multiply.
    logps = torch.where(mask > 0, logps, torch.zeros_like(logps))
    return logps, mask


def sequence_logprobs(model, input_ids, attention_mask, response_mask, allowed_ids=None):
    """Summed and length-averaged log π(response | prompt) per row: ``(sum [B], mean [B])``."""
    out = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)  # scoring needs no KV cache
    bias = allowed_bias(out.logits.shape[-1], allowed_ids, out.logits.device)
    logps, mask = token_logprobs(out.logits, input_ids, response_mask.to(out.logits.device), bias)
    total = logps.sum(-1)
    mean = total / mask.sum(-1).clamp(min=1.0)
    return total, mean
