"""Batched sequence log-probabilities with prompt and padding tokens masked."""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F


def build_batch(prompt_ids: list[list[int]], response_ids: list[list[int]], pad_id: int):
    """Right-padded ``prompt + response`` batch.

    Returns ``input_ids [B, T]``, ``attention_mask [B, T]`` and ``response_mask [B, T]`` where
    ``response_mask[b, t] = 1`` iff token ``t`` of row ``b`` is a response token.
    """
    prompt_len = torch.tensor([len(p) for p in prompt_ids], dtype=torch.long)
    lengths = prompt_len + torch.tensor([len(r) for r in response_ids], dtype=torch.long)
    positions = torch.arange(int(lengths.max()))
    filled = positions < lengths[:, None]
    input_ids = torch.full(filled.shape, pad_id, dtype=torch.long)
    # one tensor of every row's tokens, scattered row-major into the filled positions
    input_ids[filled] = torch.tensor([t for p, r in zip(prompt_ids, response_ids) for seq in (p, r) for t in seq],
                                     dtype=torch.long)
    response_mask = (filled & (positions >= prompt_len[:, None])).float()
    return input_ids, filled.long(), response_mask


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


HEAD_CHUNK_LOGITS = 1 << 23  # logits held at once by the fused head (32 MB of float32)
FUSED_HEAD_MIN_VOCAB = 1024


class _LinearTokenLogprobs(torch.autograd.Function):
    """``log_softmax(h Wᵀ + bias)[target]`` per row of ``h``, a few rows at a time.

    Only each row's log-sum-exp is kept for backward, which recomputes the logits chunk by chunk:
    no ``[rows, vocab]`` tensor (nor its gradient) outlives one chunk.
    """

    @staticmethod
    def forward(ctx, hidden, weight, targets, bias):
        rows = max(1, HEAD_CHUNK_LOGITS // weight.shape[0])
        out = hidden.new_empty(hidden.shape[0], dtype=torch.float32)
        lse = torch.empty_like(out)
        for s in range(0, hidden.shape[0], rows):
            logits = _chunk_logits(hidden[s : s + rows], weight, bias)
            lse[s : s + rows] = torch.logsumexp(logits, dim=-1)
            out[s : s + rows] = logits.gather(1, targets[s : s + rows, None]).squeeze(1) - lse[s : s + rows]
        ctx.save_for_backward(hidden, weight, targets, bias, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        hidden, weight, targets, bias, lse = ctx.saved_tensors
        rows = max(1, HEAD_CHUNK_LOGITS // weight.shape[0])
        grad_hidden = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        grad_weight = (
            torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if ctx.needs_input_grad[1] else None
        )
        for s in range(0, hidden.shape[0], rows):
            h, g_out = hidden[s : s + rows], grad_out[s : s + rows].float()
            # d logp[target] / d logits = onehot(target) − softmax
            g = torch.exp(_chunk_logits(h, weight, bias) - lse[s : s + rows, None]).mul_(-g_out[:, None])
            g.scatter_add_(1, targets[s : s + rows, None], g_out[:, None])
            if grad_hidden is not None:
                grad_hidden[s : s + rows] = (g @ weight.float()).to(hidden.dtype)
            if grad_weight is not None:
                grad_weight.addmm_(g.t(), h.float())
        if grad_weight is not None:
            grad_weight = grad_weight.to(weight.dtype)
        return grad_hidden, grad_weight, None, None


def _chunk_logits(h, weight, bias):
    logits = h.float() @ weight.float().t()
    return logits + bias if bias is not None else logits


def _fused_head(model):
    """``(body, lm_head)`` when the logits are exactly ``lm_head(body(...).last_hidden_state)``, else None.

    Limited to plain GPT-2 (the policies alignbench builds) with a vocabulary of at least
    ``FUSED_HEAD_MIN_VOCAB``; other architectures (logit scaling, soft-capping), wrapped models
    (LoRA, DDP) and small vocabularies (the oracle's) take the materialised-logits path.
    """
    if type(model).__name__ != "GPT2LMHeadModel" or model.lm_head.bias is not None:
        return None
    if model.config.vocab_size < FUSED_HEAD_MIN_VOCAB:
        return None  # tiny vocabularies (the oracle's ~20 tokens) keep the plain path: published results bit for bit
    return model.transformer, model.lm_head


def materialises_logits(model) -> bool:
    """Whether :func:`sequence_logprobs` holds ``[batch, length, vocab]`` logits for ``model``."""
    return _fused_head(model) is None


def sequence_logprobs(model, input_ids, attention_mask, response_mask, allowed_ids=None):
    """Summed and length-averaged log π(response | prompt) per row: ``(sum [B], mean [B])``.

    On GPT-2 the LM head runs on response positions only, through :class:`_LinearTokenLogprobs`;
    prompt and padding positions never get logits.
    """
    fused = _fused_head(model)
    if fused is None:
        out = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)  # scoring needs no KV cache
        bias = allowed_bias(out.logits.shape[-1], allowed_ids, out.logits.device)
        logps, mask = token_logprobs(out.logits, input_ids, response_mask.to(out.logits.device), bias)
        total = logps.sum(-1)
    else:
        body, head = fused
        hidden = body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        mask = response_mask[:, 1:].to(hidden.device)
        picked = mask > 0
        bias = allowed_bias(head.weight.shape[0], allowed_ids, hidden.device)
        lp = _LinearTokenLogprobs.apply(hidden[:, :-1][picked], head.weight, input_ids[:, 1:][picked], bias)
        total = torch.zeros(mask.shape, dtype=lp.dtype, device=lp.device).index_put((picked,), lp).sum(-1)
    mean = total / mask.sum(-1).clamp(min=1.0)
    return total, mean


def returned_cache(out):
    """The KV cache a forward returned: ``cache`` in transformers 5.x, ``past_key_values`` before."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def cache_kwarg(model) -> str:
    """transformers 5.x renames ``past_key_values`` to ``cache``; use whichever forward takes."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def last_logits_only(model) -> dict:
    """The forward's keyword that computes logits for the last position alone (``logits_to_keep=1``), where the
    model takes it: sampling reads no other position, and a prompt's [P, vocabulary] logits are its largest tensor."""
    return {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
