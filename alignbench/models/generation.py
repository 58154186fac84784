"""Generation backends behind one interface: transformers now, vLLM when selected.

A backend samples ``n`` responses for each prompt with a seed and returns token ids and text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import torch

from ..distributed import on_main_then_share
from ..errors import AlignbenchError
from .logprobs import allowed_bias, cache_kwarg, last_logits_only, returned_cache
from .samples import Samples
from .vllm_backend import VLLMBackend

if TYPE_CHECKING:  # annotations only: the policy imports this module to sample
    from .policy import Policy


class GenerationBackend(Protocol):
    def sample(self, policy: Policy, prompts: list[str], n: int, seed: int, temperature: float = 1.0) -> Samples: ...


DEFAULT_MEMORY_BUDGET_MB = 256.0
MAX_SEQUENCES_PER_BATCH = 16384  # beyond this a bigger batch saves no per-call overhead worth having
# The KV cache is copied (torch.cat) at every step: past ~32 MB those copies fall out of the CPU's caches and a bigger
# batch of a tiny model gets slower (tiny GPT-2, one thread: 64-token responses peak near 500 sequences, 4-token ones
# near 2,000; benchmarks/bench_generation.py). A model whose weights are bigger than that reads them at every step
# anyway, and a small batch would repeat that read per sequence: its cap is the weights' size.
KV_CACHE_CAP_MB = 32.0


def kv_cache_bytes(model, tokens: int) -> int:
    """Bytes of one sequence's KV cache over ``tokens`` positions."""
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    layers = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer")
    width = getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd")
    heads = getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_head")
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    head_dim = getattr(cfg, "head_dim", None) or width // heads
    return 2 * layers * kv_heads * head_dim * tokens * next(model.parameters()).element_size()


def bytes_per_sequence(model, prompt_tokens: int, new_tokens: int) -> int:
    """What one sequence of a sampling batch holds at its peak, estimated from the model's shape: its KV cache
    over prompt + response, the last position's logits (and their float copy and softmax), and the prefill's
    activations (MLP width ≈ 4·d and one layer's attention scores at a time)."""
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    width = getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd")
    heads = getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_head")
    kv_cache = kv_cache_bytes(model, prompt_tokens + new_tokens)
    logits = 3 * cfg.vocab_size * 4
    prefill = prompt_tokens * (8 * width + heads * prompt_tokens) * 4
    return kv_cache + logits + prefill


class TransformersBackend:
    """Ancestral sampling with a KV cache, left-padded batches, a private seeded generator.

    Samples from the model's exact distribution (no top-k/top-p), restricted to the response
    alphabet when the task has one, so sampling and exact enumeration agree. A batch holds as many
    sequences as ``memory_budget_mb`` allows (:func:`bytes_per_sequence`) and as keep its KV cache under
    ``KV_CACHE_CAP_MB``: thousands of short oracle responses at once, hundreds of 64-token ones, a handful
    of 256-token prompts of a 124 M-parameter model.
    """

    def __init__(self, memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB):
        if not memory_budget_mb > 0:
            raise AlignbenchError(f"generation memory budget must be positive, got {memory_budget_mb} MB")
        self.memory_budget_mb = memory_budget_mb

    def sequences_per_batch(self, policy: Policy, prompt_tokens: int) -> int:
        fmt = policy.format
        model = getattr(policy.model, "module", policy.model)  # the model inside a DDP wrapper
        new_tokens = fmt.fixed_length or fmt.max_new_tokens
        per_sequence = bytes_per_sequence(model, prompt_tokens, new_tokens)
        by_budget = self.memory_budget_mb * 2**20 // per_sequence
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        by_cache = max(KV_CACHE_CAP_MB * 2**20, weights) // kv_cache_bytes(model, prompt_tokens + new_tokens)
        return int(min(MAX_SEQUENCES_PER_BATCH, max(1, min(by_budget, by_cache))))

    def sample(self, policy: Policy, prompts: list[str], n: int, seed: int, temperature: float = 1.0) -> Samples:
        # Under `accelerate launch` every process holds the same weights: rank 0 samples, the others receive.
        return on_main_then_share(lambda: self._sample(policy, prompts, n, seed, temperature))

    @torch.no_grad()
    def _sample(self, policy: Policy, prompts: list[str], n: int, seed: int, temperature: float) -> Samples:
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        encoded = [policy.encode_prompt(p) for p in prompts]
        flat_prompts = [ids for ids in encoded for _ in range(n)]
        flat_ids: list[list[int]] = []
        batch = self.sequences_per_batch(policy, max((len(ids) for ids in encoded), default=1))
        for start in range(0, len(flat_prompts), batch):
            flat_ids.extend(self._sample_batch(policy, flat_prompts[start : start + batch], gen, temperature))
        token_ids = [flat_ids[i * n : (i + 1) * n] for i in range(len(prompts))]
        texts = [[policy.decode_response(ids) for ids in row] for row in token_ids]
        return Samples(texts=texts, token_ids=token_ids)

    def _sample_batch(self, policy: Policy, prompt_ids: list[list[int]], gen: torch.Generator, temperature: float):
        # a DDP wrapper's forward would wait for the other processes
        model = getattr(policy.model, "module", policy.model)
        was_training = model.training
        model.eval()
        fmt = policy.format
        device = policy.device
        B = len(prompt_ids)
        P = max(len(p) for p in prompt_ids)
        input_ids = torch.full((B, P), policy.pad_id, dtype=torch.long)
        attn = torch.zeros((B, P), dtype=torch.long)
        for b, p in enumerate(prompt_ids):  # left padding
            input_ids[b, P - len(p):] = torch.tensor(p)
            attn[b, P - len(p):] = 1
        input_ids, attn = input_ids.to(device), attn.to(device)
        steps = fmt.fixed_length or fmt.max_new_tokens
        stops = torch.tensor(policy.stop_ids, dtype=torch.long)
        bias = None
        out_tokens = torch.full((B, steps), policy.pad_id, dtype=torch.long)
        done = torch.zeros(B, dtype=torch.bool)
        past = None
        cur_ids, cur_attn = input_ids, attn
        position_ids = (attn.cumsum(-1) - 1).clamp(min=0)
        last_only = last_logits_only(model)
        for t in range(steps):
            out = model(input_ids=cur_ids, attention_mask=cur_attn, position_ids=position_ids, use_cache=True,
                        **{cache_kwarg(model): past}, **last_only)
            past = returned_cache(out)
            logits = out.logits[:, -1].float()
            if bias is None:
                bias = allowed_bias(logits.shape[-1], fmt.allowed_token_ids, logits.device)
            if bias is not None:
                logits = logits + bias
            probs = torch.softmax(logits / temperature, dim=-1).cpu()
            nxt = torch.multinomial(probs, 1, generator=gen).squeeze(-1)
            if fmt.fixed_length is None:
                nxt = torch.where(done, torch.full_like(nxt, policy.pad_id), nxt)
            out_tokens[:, t] = nxt
            if fmt.fixed_length is None:
                done |= torch.isin(nxt, stops)
                if bool(done.all()):
                    break
            cur_ids = nxt.view(B, 1).to(device)
            cur_attn = torch.cat([cur_attn, torch.ones((B, 1), dtype=cur_attn.dtype, device=device)], dim=1)
            position_ids = position_ids[:, -1:] + 1
        model.train(was_training)
        result = []
        stop_set = set(policy.stop_ids)
        for b in range(B):
            row = out_tokens[b].tolist()
            if fmt.fixed_length is None:
                # Cut after the first stop token; a response cut at max_new_tokens keeps exactly the tokens sampled (no
                # EOS added).
                end = next((k for k, i in enumerate(row) if i in stop_set), None)
                row = row[: end + 1] if end is not None else row
            result.append(row)
        return result


def get_backend(name: str = "transformers", **kwargs) -> GenerationBackend:
    """Look up a generation backend by name; vLLM is imported only when selected."""
    if name == "transformers":
        return TransformersBackend(**kwargs)
    if name == "vllm":
        return VLLMBackend(**kwargs)
    raise AlignbenchError(f"unknown generation backend {name!r} (choose transformers or vllm)")
