"""Sampling throughput: alignbench's batched sampler (KV cache, left padding, many prompts × n
per batch) vs one prompt at a time (Hugging Face ``generate`` with num_return_sequences = n),
for n = 32 samples per prompt, on the oracle policy (4 tokens) and a free-length one (64 tokens).

Last line: ``generation ratio=R`` with R = batched tokens/s ÷ one-at-a-time tokens/s (free length).
"""

from __future__ import annotations

import argparse
import time

import torch

from alignbench.models.generation import TransformersBackend
from alignbench.models.policy import Policy, ResponseFormat, TinyGPT2Spec, build_tiny_gpt2
from alignbench.models.tokenizers import build_symbol_tokenizer


def one_at_a_time(policy, prompts, n, steps):
    tokens = 0
    for i, p in enumerate(prompts):
        ids = torch.tensor([policy.encode_prompt(p)])
        torch.manual_seed(i)
        out = policy.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, top_k=0, top_p=1.0,
                                    temperature=1.0,
                                    max_new_tokens=steps, min_new_tokens=steps, num_return_sequences=n,
                                    pad_token_id=policy.pad_id)
        tokens += (out.shape[1] - ids.shape[1]) * n
    return tokens


class FixedBatch(TransformersBackend):
    """The sampler as it was before batches followed a memory budget: 256 sequences per batch."""

    def sequences_per_batch(self, policy, prompt_tokens):
        return 256


def tokens_per_second(backend, policy, prompts, n) -> tuple[float, int]:
    t0 = time.perf_counter()
    s = backend.sample(policy, prompts, n, seed=0)
    return sum(len(x) for row in s.token_ids for x in row) / (time.perf_counter() - t0), \
        backend.sequences_per_batch(policy, len(policy.encode_prompt(prompts[0])))


def measure(policy, prompts, n, steps):
    TransformersBackend().sample(policy, prompts[:1], 2, seed=0)  # warm-up both paths
    one_at_a_time(policy, prompts[:1], 2, steps)
    ours, batch = tokens_per_second(TransformersBackend(), policy, prompts, n)
    fixed, _ = tokens_per_second(FixedBatch(), policy, prompts, n)
    t0 = time.perf_counter()
    base_tokens = one_at_a_time(policy, prompts, n, steps)
    base_t = time.perf_counter() - t0
    return ours, base_tokens / base_t, fixed, batch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    n_prompts = 4 if a.tiny else 64
    syms = [f"P{i}" for i in range(8)] + list("abcdefgh")
    tok = build_symbol_tokenizer(syms)
    model = build_tiny_gpt2(len(tok), TinyGPT2Spec(2, 64, 4, 128))
    prompts = [" ".join(f"P{(i * 7 + j) % 8}" for j in range(3)) for i in range(n_prompts)]
    oracle = Policy(model, tok,
                    ResponseFormat(allowed_token_ids=tok.convert_tokens_to_ids(list("abcdefgh")), fixed_length=4,
                                   max_new_tokens=4))
    o_ours, o_base, o_fixed, o_batch = measure(oracle, prompts, 32, 4)
    steps = 8 if a.tiny else 64
    free = Policy(model, tok, ResponseFormat(max_new_tokens=steps))
    model.config.eos_token_id = None  # sample full length on both sides: same token counts
    f_ours, f_base, f_fixed, f_batch = measure(free, prompts, 32, steps)
    for name, ours, base, fixed, batch in ((f"oracle ({4} tokens)", o_ours, o_base, o_fixed, o_batch),
                                           (f"free length ({steps} tokens)", f_ours, f_base, f_fixed, f_batch)):
        print(f"{name}: batched by the memory budget ({batch:,} sequences) {ours:,.0f} tokens/s vs the fixed batch "
              f"of 256 "
              f"{fixed:,.0f} (×{ours / fixed:.2f}) vs one prompt at a time {base:,.0f} tokens/s (×{ours / base:.1f}); "
              f"{len(prompts)} prompts × 32")
    print("vLLM vs transformers needs a GPU: see benchmarks/README.md for the command")
    print(f"generation ratio={f_ours / f_base:.2f}")


if __name__ == "__main__":
    main()
