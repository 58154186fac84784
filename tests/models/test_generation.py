"""Sampling in batches sized by a memory budget: the batch follows the model's shape, and whatever the batch, the
sampled law is the model's exact law (χ² against the enumeration)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare
from transformers import GPT2Config, GPT2LMHeadModel

from alignbench.errors import AlignbenchError
from alignbench.models.exact import exact_logprobs, response_grid
from alignbench.models.generation import KV_CACHE_CAP_MB, TransformersBackend, bytes_per_sequence, kv_cache_bytes
from alignbench.models.policy import Policy, ResponseFormat, TinyGPT2Spec, build_tiny_gpt2
from alignbench.models.tokenizers import build_symbol_tokenizer

DRAWS = 6000


def toy_policy() -> Policy:
    tok = build_symbol_tokenizer(["x", "y", "a", "b", "c"])
    model = build_tiny_gpt2(len(tok), TinyGPT2Spec(n_layer=1, n_embd=16, n_head=2, n_positions=16), seed=3)
    with torch.no_grad():
        # logits × 8: a peaked law, far from its tempered or other-prompt variants
        model.transformer.ln_f.weight.mul_(8.0)
    fmt = ResponseFormat(allowed_token_ids=tok.convert_tokens_to_ids(["a", "b", "c"]), fixed_length=2, max_new_tokens=2)
    return Policy(model, tok, fmt)


def chi_square_p(texts: list[str], logp: torch.Tensor) -> float:
    names = ["a", "b", "c"]
    order = [" ".join(names[j] for j in row) for row in response_grid(3, 2).tolist()]
    observed = np.array([texts.count(r) for r in order], float)
    expected = logp.double().exp().numpy()
    return float(chisquare(observed, expected / expected.sum() * len(texts)).pvalue)


@pytest.mark.parametrize("budget_mb", [0.15, 256.0])
def test_sampled_law_is_the_exact_law_at_any_batch_size(budget_mb):
    """6000 draws for each of two prompts, in batches of a few dozen sequences (0.15 MB) or all at once (256 MB),
    against the exact law: χ² does not reject (measured p: 0.15 MB 0.86 / 0.066, 256 MB 0.40 / 0.37). Broken
    variant on the same draws: the law at temperature 1.5 (a sampler that forgot to undo a temperature) is
    rejected at p < 1e-6, and so is the other prompt's law (a batch that mixed up its prompts)."""
    policy = toy_policy()
    backend = TransformersBackend(memory_budget_mb=budget_mb)
    batch = backend.sequences_per_batch(policy, 2)
    assert (batch < 200) if budget_mb < 1 else (batch >= 2 * DRAWS)
    prompts = ["x", "y y y y"]
    samples = backend.sample(policy, prompts, DRAWS, seed=11)
    exact = exact_logprobs(policy, prompts)
    for i, texts in enumerate(samples.texts):
        p = chi_square_p(texts, exact[i])
        print(f"budget {budget_mb} MB (batch {batch}), prompt {i}: χ² p = {p:.3g}")
        assert p > 1e-3
        print(f"  broken: tempered p = {chi_square_p(texts, torch.log_softmax(exact[i] / 1.5, dim=-1)):.3g}, "
              f"other prompt's p = {chi_square_p(texts, exact[1 - i]):.3g}")
        assert chi_square_p(texts, torch.log_softmax(exact[i] / 1.5, dim=-1)) < 1e-6
        assert chi_square_p(texts, exact[1 - i]) < 1e-6


def test_batch_follows_the_model_shape_and_budget():
    """A tiny oracle model fits thousands of sequences in 256 MB; GPT-2 small (12 × 768, vocabulary 50,257) with
    256-token prompts and 64 new tokens needs ~34 MB per sequence (KV cache 24 MB, prefill activations 9 MB), so 7; half
    the budget, half the batch; a longer prompt, a smaller batch."""
    tiny = toy_policy()
    assert TransformersBackend().sequences_per_batch(tiny, 2) > 4096
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=12, n_embd=768, n_head=12, vocab_size=50257))
    per_seq = bytes_per_sequence(gpt2, 256, 64)
    kv, logits, prefill = 2 * 12 * 768 * 320 * 4, 3 * 50257 * 4, 256 * (8 * 768 + 12 * 256) * 4
    assert per_seq == kv + logits + prefill
    policy = Policy(gpt2, None, ResponseFormat(max_new_tokens=64))
    assert TransformersBackend(256.0).sequences_per_batch(policy, 256) == 256 * 2**20 // per_seq == 7
    assert TransformersBackend(128.0).sequences_per_batch(policy, 256) == 3
    assert TransformersBackend(256.0).sequences_per_batch(policy, 16) > 7
    assert TransformersBackend(0.001).sequences_per_batch(policy, 256) == 1  # never zero
    with pytest.raises(AlignbenchError, match="memory budget"):
        TransformersBackend(0.0)


def test_a_tiny_models_batch_keeps_its_kv_cache_near_the_cpu_caches():
    """The budget alone would give the quickstart's tiny GPT-2 (2 × 64) thousands of 64-token sequences a batch,
    whose 140 MB KV cache is copied at every step, out of the CPU's caches (×0.72 the speed of 256 sequences,
    benchmarks/README.md): the batch's KV cache is capped at KV_CACHE_CAP_MB. GPT-2 small's weights (500 MB) are
    bigger than the cap, so its batches follow the budget alone (7 above)."""
    tok = build_symbol_tokenizer(["x", "y", "a", "b", "c"])
    model = build_tiny_gpt2(len(tok), TinyGPT2Spec(n_layer=2, n_embd=64, n_head=4, n_positions=128))
    free = Policy(model, tok, ResponseFormat(max_new_tokens=64))
    per_kv = kv_cache_bytes(model, 4 + 64)
    assert per_kv == 2 * 2 * 64 * 68 * 4
    batch = TransformersBackend(256.0).sequences_per_batch(free, 4)
    assert batch == int(KV_CACHE_CAP_MB * 2**20 // per_kv)
    assert 256 * 2**20 // bytes_per_sequence(model, 4, 64) > 4 * batch  # what the budget alone would have allowed
    oracle = Policy(model, tok, ResponseFormat(allowed_token_ids=[3, 4, 5], fixed_length=4, max_new_tokens=4))
    assert TransformersBackend(256.0).sequences_per_batch(oracle, 4) > 8 * batch  # short responses: big batches


def test_the_run_config_sets_the_budget_and_refuses_a_bad_one(tmp_path):
    from alignbench.config import load_config
    from alignbench.models.generation import get_backend

    cfg = load_config("quickstart", overrides=["generation.memory_budget_mb=8"])
    assert get_backend(cfg.generation.backend, memory_budget_mb=cfg.generation.memory_budget_mb).memory_budget_mb == 8
    assert load_config("quickstart").generation.memory_budget_mb == 256
    with pytest.raises(AlignbenchError, match="setting 'generation.memory_budget_mb'"):
        load_config("quickstart", overrides=["generation.memory_budget_mb=0"])
