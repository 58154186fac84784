"""Length normalisation, method by method, on the variable-length oracle (responses of 0–6 tokens with EOS).

On the fixed-length oracle every response has 4 tokens, so a summed and a token-averaged log-probability
differ by a constant factor and no test can tell them apart. Here they differ row by row. Each method's
first loss call is intercepted and its sequence scores compared with the summed and the token-averaged
log-probabilities of the same batch, computed independently: the adapter must hand its loss what its paper
uses (``NORMALISATION``, with the source). The trained copy of π_sft is perturbed first, so that
h = log π_θ − log π_sft is not 0 at the first step and reference-based losses show their normalisation too.

``tests/methods/test_mutants.py`` flips every adapter's normalisation and checks that this test then fails.
"""

from __future__ import annotations

import functools

import pytest
import torch

from alignbench.methods.base import MethodContext
from alignbench.methods.registry import all_methods, get_method
from alignbench.models.exact import variable_response_ids
from alignbench.models.policy import Policy, TinyGPT2Spec
from alignbench.tasks.oracle import OracleSpec
from alignbench.training import losses, trainer
from alignbench.training.trainer import TrainConfig
from oracle_fixtures import sft_world

VARIABLE = OracleSpec(n_response_symbols=3, response_length=5, variable_length=True, n_test_prompts=32,
                      pairs_per_train_prompt=1)

# What each method's loss is handed, per its source: "sum" of token log-probs, or their "mean" over the response.
NORMALISATION = {
    "dpo": "sum",  # DPO Eq. 7: log π(y|x) of the whole response
    "dpo-sft": "sum",
    "expert-iteration": "sum",  # SFT: summed log-probs, token-normalised inside sft_nll_loss (ARM Alg. 2)
    "arm": "sum",  # ARM Eq. 9
    "arm-pl": "sum",  # ARM Eq. 10–12
    "brain": "mean",  # BRAIn §4: length-averaged log-probs (length_average: true, the default)
    "exo": "sum",  # EXO Eq. 13
    "exo-pref": "sum",  # EXO Eq. 16
    "dpo-rw": "sum",  # EXO §3.3
    "rso": "sum",  # RSO Eq. 9 (DPO's sigmoid loss)
    "ipo": "sum",  # IPO Eq. 17 sums (length_average: false, the default; TRL averages)
    "slic": "sum",  # SLiC-HF Eq. 2: log π(y|x), unnormalised
    "kto": "sum",  # KTO Eq. 8: log π(y|x)/π_ref(y|x)
    "orpo": "mean",  # ORPO Eq. 2: P(y|x) = exp(mean token log-prob)
    "rrhf": "mean",  # RRHF Eq. 1: p_i = Σ_t log P / ‖y_i‖
    "raft": "sum",  # RAFT: SFT on the best (token-normalised inside the loss)
    "pro": "mean",  # PRO Eq. 3 (Song et al.): length-normalised log-likelihood
    "dpo-pl": "sum",  # Santos (IST MSc report) Eq. 19–20: DPO's β·h
    "preferred-ft": "sum",  # SFT on the chosen (token-normalised inside the loss)
    "online-dpo": "sum",  # DPO each round
}
# Methods the shared trainer does not train: nothing to normalise.
NOT_TRAINED = {"sft": "π_sft itself", "best-of-n": "trains nothing",
               "ppo": "per-token loss in its own loop (training/ppo.py)"}

# Small settings so that one method reaches its first loss call in a second or two.
SMALL = {"batch_size": 8, "max_prompts": 8, "n": 4, "num_accepted": 4, "group_size": 3, "pairs_per_prompt": 1,
         "rounds": 1, "steps_per_round": 1, "prompts_per_round": 8, "samples_per_prompt": 1, "steps": 1,
         "checkpoint_every": 0, "beta": 2.0}


@functools.lru_cache(maxsize=1)
def variable_world():
    """The variable-length oracle and a π_sft trained briefly on its chosen responses."""
    return sft_world(VARIABLE, TinyGPT2Spec(n_layer=2, n_embd=32, n_head=2),
                     TrainConfig(steps=40, lr=3e-3, batch_size=32))


def small_params(name: str) -> dict:
    params = get_method(name).Params
    return {k: v for k, v in SMALL.items() if params.has(k) and k not in params.unused}


class _FirstLossCall(Exception):
    pass


def loss_input_normalisation(name: str, tmp_path, monkeypatch) -> str:
    """``"sum"`` or ``"mean"``: what the first tensor argument of the method's first loss call is made of."""
    task, sft = variable_world()
    real_clone, real_group_logprobs = Policy.clone, trainer.group_logprobs
    seen: dict = {}

    def perturbed_clone(self):
        new = real_clone(self)
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in new.model.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
        return new

    def spying_group_logprobs(policy, data, length_average=False, grad=True, chunk=512):
        out = real_group_logprobs(policy, data, length_average=length_average, grad=grad, chunk=chunk)
        if grad:  # a training pass: the candidates for what the loss is about to see
            both = {avg: (real_group_logprobs(policy, data, length_average=avg, grad=False),
                          real_group_logprobs(sft, data, length_average=avg, grad=False)) for avg in (False, True)}
            seen["candidates"] = {"sum" if not avg else "mean": [pol, pol - ref] for avg, (pol, ref) in both.items()}
            seen["lengths"] = torch.tensor([[len(r) for r in g] for g in data.response_ids])
        return out

    def recording(real):
        def loss(*args, **kw):
            if "candidates" in seen and "input" not in seen:
                seen["input"] = next(a for a in args if torch.is_tensor(a)).detach()
                raise _FirstLossCall
            return real(*args, **kw)

        return loss

    monkeypatch.setattr(Policy, "clone", perturbed_clone)
    monkeypatch.setattr(trainer, "group_logprobs", spying_group_logprobs)
    for attr in dir(losses):
        if attr.endswith("_loss"):
            monkeypatch.setattr(losses, attr, recording(getattr(losses, attr)))
    method = get_method(name)(small_params(name))
    ctx = MethodContext(task=task, sft_policy=sft, reward_fn=task.gold_reward, run_dir=tmp_path, seed=0)
    with pytest.raises(_FirstLossCall):
        method.fit(ctx)
    assert len(set(seen["lengths"].flatten().tolist())) > 1, f"{name}: the batch's responses all have one length"
    x = seen["input"]
    found = set()
    for kind, tensors in seen["candidates"].items():
        for full in tensors:
            for candidate in [full] + [full[:, k] for k in range(full.shape[1])]:
                if candidate.shape == x.shape and torch.allclose(candidate.to(x.dtype), x, atol=1e-4, rtol=1e-4):
                    found.add(kind)
    assert len(found) == 1, (f"{name}: the loss's input matches {sorted(found) or 'neither'} of "
                             "summed / token-averaged log-probs")
    return found.pop()


def test_every_trained_method_declares_its_normalisation():
    """A new method must say here what its paper does (the contract for every registered method)."""
    assert set(NORMALISATION) | set(NOT_TRAINED) == set(all_methods())
    assert not set(NORMALISATION) & set(NOT_TRAINED)


def test_the_variable_length_oracle_is_exactly_enumerable():
    """1,093 responses per prompt (0–5 symbols then EOS, or 6 cut at max_new_tokens); π_sft's law sums to 1
    over them, and the reward depends on length: the best response has L*(x) symbols."""
    task, sft = variable_world()
    responses = variable_response_ids(sft.format, sft.tokenizer.eos_token_id)
    assert len(responses) == sum(3**k for k in range(6)) + 3**6
    lp = sft.exact_logprobs([p.text for p in task.train_prompts[:2]])
    assert lp.shape == (2, len(responses))
    assert torch.allclose(lp.logsumexp(-1), torch.zeros(2), atol=1e-4)
    prompt = task.train_prompts[0].text
    texts = [sft.decode_response(r) for r in responses]
    r = task.gold_reward(texts, [prompt] * len(texts), texts)
    best = texts[max(range(len(texts)), key=r.__getitem__)]
    syms = [int(s[1:]) for s in prompt.split()]
    assert len(best.split()) == task.gold_reward.target_length(syms)


@pytest.mark.parametrize("name", sorted(NORMALISATION))
def test_adapter_hands_its_loss_the_papers_normalisation(name, tmp_path, monkeypatch):
    assert loss_input_normalisation(name, tmp_path, monkeypatch) == NORMALISATION[name]
