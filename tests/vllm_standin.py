"""A stand-in ``vllm`` module for CPU tests: it holds the weights it was handed (the directory the engine
was built from, then whatever ``load_weights`` pushed in), fingerprints them at every ``generate`` and answers
with seeded random tokens from the allowed alphabet (so rewards vary and online methods train)."""

from __future__ import annotations

import hashlib
import random
import sys
import types
from pathlib import Path

import torch
from safetensors.torch import load_file


def fingerprint(named_tensors) -> str:
    h = hashlib.sha256()
    for name, t in sorted(dict(named_tensors).items()):
        h.update(name.encode())
        h.update(t.detach().to(torch.float32).cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def policy_fingerprint(policy) -> str:
    """The weights a sample from ``policy`` must come from: its live parameters (tied ones once)."""
    return fingerprint(getattr(policy.model, "module", policy.model).named_parameters())


class StandInModel:
    def __init__(self, weights: dict):
        self.weights = weights

    def load_weights(self, weights):
        for name, tensor in weights:
            if name not in self.weights or self.weights[name].shape != tensor.shape:
                raise KeyError(f"stand-in vLLM model has no weight {name} of shape {tuple(tensor.shape)}")
            self.weights[name] = tensor.detach().clone()


class StandInLLM:
    instances: list = []

    def __init__(self, model, tokenizer, seed, **kw):
        assert (Path(model) / "config.json").exists() and (Path(model) / "tokenizer.json").exists()
        self.model_dir, self.kwargs = model, kw
        self.model = StandInModel(load_file(str(Path(model) / "model.safetensors")))
        worker = types.SimpleNamespace(model_runner=types.SimpleNamespace(model=self.model))
        self.llm_engine = types.SimpleNamespace(model_executor=types.SimpleNamespace(driver_worker=worker))
        self.generated_with: list[str] = []  # the fingerprint of the weights behind each generate call
        self.prefix_cache_resets = 0
        StandInLLM.instances.append(self)

    def reset_prefix_cache(self):
        self.prefix_cache_resets += 1

    def generate(self, requests, params, use_tqdm=False):
        self.params = params
        self.generated_with.append(fingerprint(self.model.weights))
        out = []
        for i, r in enumerate(requests):
            assert r["prompt_token_ids"][0] == 1  # BOS first, as alignbench encodes prompts
            rng = random.Random(params.seed * 7919 + i)
            alphabet = params.allowed_token_ids or [5, 6]
            rows = [[rng.choice(alphabet) for _ in range(params.max_tokens)] for _ in range(params.n)]
            out.append(types.SimpleNamespace(outputs=[types.SimpleNamespace(token_ids=ids) for ids in rows]))
        return out


class StandInSamplingParams:
    def __init__(self, **kw):
        self.__dict__.update(kw)
        self.allowed_token_ids = kw.get("allowed_token_ids")


def install(monkeypatch):
    mod = types.ModuleType("vllm")
    mod.LLM, mod.SamplingParams = StandInLLM, StandInSamplingParams
    monkeypatch.setitem(sys.modules, "vllm", mod)
    StandInLLM.instances.clear()
    return mod


class FreshnessChecked:
    """The generation backend as a method sees it; every sample must come from the sampled policy's current weights."""

    def __init__(self, inner):
        self.inner = inner
        self.samples = 0

    def sample(self, policy, prompts, n, seed, temperature=1.0):
        out = self.inner.sample(policy, prompts, n, seed, temperature)
        engine = StandInLLM.instances[-1]
        assert engine.generated_with[-1] == policy_fingerprint(policy), \
            (f"sample {self.samples} came from stale weights (engine {engine.generated_with[-1]}, "
             f"policy {policy_fingerprint(policy)})")
        self.samples += 1
        return out
