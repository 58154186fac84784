"""Exact evaluation at speed: the prefix tree, the run's enumeration, the fused GPT-2 head.

Each test names the broken variant it catches."""

import pytest
import torch

from alignbench.methods.best_of_n import BestOfNPolicy
from alignbench.models import logprobs
from alignbench.models.exact import ExactEnumeration, enumerated_rewards, exact_logprobs, response_texts
from alignbench.models.policy import Policy, ResponseFormat, TinyGPT2Spec, build_tiny_gpt2
from alignbench.models.reward import CausalLMRewardModel
from alignbench.models.tokenizers import build_symbol_tokenizer

PROMPTS = ["x y", "y y", "x", "y x y", "x x"]  # three token lengths, interleaved


def _toy_policy(length=3, seed=0):
    tok = build_symbol_tokenizer(["x", "y", "a", "b", "c"])
    model = build_tiny_gpt2(len(tok), TinyGPT2Spec(n_layer=2, n_embd=16, n_head=2, n_positions=16), seed=seed)
    fmt = ResponseFormat(allowed_token_ids=tok.convert_tokens_to_ids(["a", "b", "c"]), fixed_length=length,
                         max_new_tokens=length)
    return Policy(model, tok, fmt)


def test_exact_logprobs_keep_no_autograd_graph_and_prompt_order():
    """Broken variants: without ``torch.no_grad`` the result requires grad (each chunk's graph stays
    alive: the quickstart's 8.9 GB); grouping prompts by length without putting rows back in order
    gives another prompt's row."""
    pol = _toy_policy()
    lp = exact_logprobs(pol, PROMPTS)
    assert not lp.requires_grad
    one_by_one = torch.cat([exact_logprobs(pol, [p]) for p in PROMPTS])
    assert torch.allclose(lp, one_by_one, atol=1e-6)
    assert torch.logsumexp(lp, -1).tolist() == pytest.approx([0.0] * len(PROMPTS), abs=1e-5)


@pytest.mark.parametrize("pooling", ["last", "sum", "next-token"])
def test_tree_rewards_equal_plain_scoring(pooling):
    """Broken variant: skipping the final (EOS) state for every pooling — 'last' and 'sum' read it."""
    pol = _toy_policy()
    torch.manual_seed(1)
    rm = CausalLMRewardModel.from_policy(pol, pooling)
    torch.nn.init.normal_(rm.head.weight, std=1.0)
    responses = response_texts(pol)
    fast = enumerated_rewards(rm.as_reward_fn(), PROMPTS, responses)
    plain = torch.tensor([rm.score([p] * len(responses), responses) for p in PROMPTS], dtype=torch.float64)
    assert fast.shape == (len(PROMPTS), 27)
    assert torch.allclose(fast, plain, atol=1e-5)
    assert plain.std() > 0.1  # the comparison is not between constants


def test_enumeration_scores_each_reward_once_and_gives_best_of_n_its_law():
    """Broken variant: every method (or every prompt) rescoring the enumeration: more than one call."""
    pol = _toy_policy()
    calls = []

    def count_as(samples, prompts, outputs):
        calls.append(len(outputs))
        return [float(o.count("a")) - 0.1 * float(o.count("c")) for o in outputs]

    enumeration = ExactEnumeration(pol, PROMPTS, gold_reward=lambda s, p, o: [0.0] * len(o))
    best_of_4 = BestOfNPolicy(pol, count_as, n=4)
    first, again = enumeration.logprobs(best_of_4), enumeration.logprobs(BestOfNPolicy(pol, count_as, n=4))
    assert calls == [len(PROMPTS) * 27]
    assert torch.equal(first, again)
    assert torch.allclose(first, best_of_4.exact_logprobs(PROMPTS), atol=1e-6)
    assert enumeration.logprobs(pol) is enumeration.sft_logp


def test_fused_head_log_probs_and_gradients_equal_materialised_logits(monkeypatch):
    """Broken variants: a backward that drops the one-hot term, or reads prompt positions."""
    torch.manual_seed(0)
    monkeypatch.setattr(logprobs, "FUSED_HEAD_MIN_VOCAB", 256)
    model = build_tiny_gpt2(300, TinyGPT2Spec(2, 32, 4, 64))
    assert not logprobs.materialises_logits(model)
    ids = torch.randint(3, 300, (5, 12))
    attn = torch.ones_like(ids)
    attn[1, 9:] = 0
    rmask = torch.zeros(5, 12)
    rmask[:, 4:] = 1
    rmask[1, 9:] = 0
    allowed = list(range(3, 300, 2))
    ids[:, 4:] = torch.tensor(allowed)[torch.randint(0, len(allowed), (5, 8))]
    results = []
    for fused in (True, False):
        if not fused:
            monkeypatch.setattr(logprobs, "_fused_head", lambda m: None)
        model.zero_grad()
        total, mean = logprobs.sequence_logprobs(model, ids, attn, rmask, allowed)
        (total.sum() + 3 * mean.sum()).backward()
        results.append((total.detach(), [p.grad.clone() for p in model.parameters()]))
    (fused_total, fused_grads), (plain_total, plain_grads) = results
    assert torch.allclose(fused_total, plain_total, atol=1e-4)
    for a, b in zip(fused_grads, plain_grads):
        assert torch.allclose(a, b, atol=1e-5)
