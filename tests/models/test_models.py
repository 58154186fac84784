"""Model utilities: masked log-probs, exact enumeration, sampling, persistence."""

import math

import pytest
import torch

from alignbench.models.exact import (
    best_of_n_logprobs,
    exact_logprobs,
    exact_metrics,
    kl,
    response_grid,
    target_logprobs,
)
from alignbench.models.generation import TransformersBackend
from alignbench.models.logprobs import build_batch, sequence_logprobs
from alignbench.models.policy import Policy, ResponseFormat, TinyGPT2Spec, build_tiny_gpt2, load_policy
from alignbench.models.reward import CausalLMRewardModel
from alignbench.models.tokenizers import build_symbol_tokenizer
from hf_fixtures import write_hf_gpt2


class FixedLogits(torch.nn.Module):
    """A 'model' whose next-token logits depend only on the current token: logits = table[token]."""

    def __init__(self, table):
        super().__init__()
        self.table = torch.nn.Parameter(torch.tensor(table, dtype=torch.float32))

    def forward(self, input_ids, attention_mask=None, **kw):
        return type("Out", (), {"logits": self.table[input_ids]})()


def test_sequence_logprobs_masks_prompt_and_padding_by_hand():
    # vocab 3; logits row per current token.
    table = [[0.0, 0.0, 0.0], [math.log(2), 0.0, 0.0], [0.0, math.log(3), 0.0]]
    model = FixedLogits(table)
    # row 0: prompt [1], response [2, 1]; row 1: prompt [2, 2], response [0] (+1 pad)
    ids, attn, rmask = build_batch([[1], [2, 2]], [[2, 1], [0]], pad_id=0)
    assert ids.tolist() == [[1, 2, 1], [2, 2, 0]]
    assert rmask.tolist() == [[0, 1, 1], [0, 0, 1]]
    total, mean = sequence_logprobs(model, ids, attn, rmask)
    # row 0: P(2|1) from logits [ln2,0,0] = 1/4 ; P(1|2) from [0,ln3,0] = 3/5
    r0 = math.log(1 / 4) + math.log(3 / 5)
    # row 1: only the response token 0 after token 2: P(0|2) = 1/5; the prompt transition 2→2 is not counted
    r1 = math.log(1 / 5)
    assert total.tolist() == pytest.approx([r0, r1], abs=1e-6)
    assert mean.tolist() == pytest.approx([r0 / 2, r1], abs=1e-6)


def test_allowed_ids_renormalise_over_alphabet_by_hand():
    table = [[0.0, 0.0, 0.0], [math.log(2), 0.0, 0.0], [0.0, math.log(3), 0.0]]
    model = FixedLogits(table)
    ids, attn, rmask = build_batch([[1]], [[2]], pad_id=0)
    total, _ = sequence_logprobs(model, ids, attn, rmask, allowed_ids=[1, 2])
    # from token 1 logits [ln2, 0, 0] restricted to {1, 2}: P(2) = 1/2
    assert float(total) == pytest.approx(math.log(0.5))


def _toy_policy(length=2, n_sym=3, seed=0):
    syms = ["x", "y"] + ["a", "b", "c"][:n_sym]
    tok = build_symbol_tokenizer(syms)
    model = build_tiny_gpt2(len(tok), TinyGPT2Spec(n_layer=1, n_embd=16, n_head=2, n_positions=16), seed=seed)
    fmt = ResponseFormat(allowed_token_ids=tok.convert_tokens_to_ids(["a", "b", "c"][:n_sym]), fixed_length=length,
                         max_new_tokens=length)
    return Policy(model, tok, fmt)


def test_exact_logprobs_match_brute_force_and_sum_to_one():
    pol = _toy_policy(length=3, n_sym=3)
    prompts = ["x y", "y y"]
    lp = exact_logprobs(pol, prompts)
    assert lp.shape == (2, 27)
    assert torch.logsumexp(lp, -1).tolist() == pytest.approx([0.0, 0.0], abs=1e-5)
    # brute force: score every full response separately with masked sequence log-probs
    names = ["a", "b", "c"]
    for i, p in enumerate(prompts):
        resp = [" ".join(names[j] for j in row) for row in response_grid(3, 3).tolist()]
        ids, attn, rmask = build_batch([pol.encode_prompt(p)] * len(resp), [pol.encode_response(r) for r in resp],
                                       pol.pad_id)
        total, _ = sequence_logprobs(pol.model, ids, attn, rmask, pol.format.allowed_token_ids)
        assert torch.allclose(total, lp[i], atol=1e-5)


def test_exact_metrics_against_hand_computation():
    # two responses; π = (0.5, 0.5), π_sft = (0.25, 0.75), rewards (1, 0), β = 1
    lp = torch.log(torch.tensor([[0.5, 0.5]]))
    sft = torch.log(torch.tensor([[0.25, 0.75]]))
    gold = torch.tensor([[1.0, 0.0]])
    m = exact_metrics(lp, sft, gold, beta=1.0)
    assert m["exact_reward"] == pytest.approx(0.5)
    assert m["kl_to_sft"] == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3))
    z = 0.25 * math.e + 0.75
    star = [0.25 * math.e / z, 0.75 / z]
    assert m["kl_to_target"] == pytest.approx(0.5 * math.log(0.5 / star[0]) + 0.5 * math.log(0.5 / star[1]), abs=1e-6)
    assert float(kl(target_logprobs(sft, gold, 1.0), target_logprobs(sft, gold, 1.0))) == pytest.approx(0.0, abs=1e-7)


def test_best_of_n_exact_law_by_hand():
    # π_sft = (0.5, 0.3, 0.2) with rewards (0, 1, 2); n = 2:
    # P(best = y3) = 1 − 0.8² = 0.36; P(best = y2) = 0.8² − 0.5² = 0.39; P(best = y1) = 0.25
    sft = torch.log(torch.tensor([[0.5, 0.3, 0.2]]))
    lp = best_of_n_logprobs(sft, torch.tensor([[0.0, 1.0, 2.0]]), 2)
    assert lp.exp().tolist()[0] == pytest.approx([0.25, 0.39, 0.36], abs=1e-6)
    # ties share their level: rewards (0, 1, 1) → P(y1) = 0.25, y2/y3 split 0.75 in proportion 0.3 : 0.2
    lp = best_of_n_logprobs(sft, torch.tensor([[0.0, 1.0, 1.0]]), 2)
    assert lp.exp().tolist()[0] == pytest.approx([0.25, 0.45, 0.30], abs=1e-6)


def test_sampling_is_seeded_and_matches_exact_distribution():
    pol = _toy_policy(length=2, n_sym=3, seed=3)
    backend = TransformersBackend()
    a = backend.sample(pol, ["x y"], 4000, seed=7)
    b = backend.sample(pol, ["x y"], 4000, seed=7)
    assert a.texts == b.texts
    lp = exact_logprobs(pol, ["x y"])[0].exp()
    names = ["a", "b", "c"]
    order = [" ".join(names[j] for j in row) for row in response_grid(3, 2).tolist()]
    freq = torch.tensor([a.texts[0].count(r) / 4000 for r in order])
    assert torch.allclose(freq, lp, atol=0.03)


def test_policy_save_load_roundtrip(tmp_path):
    pol = _toy_policy()
    pol.save(tmp_path / "p")
    again = load_policy(tmp_path / "p")
    assert again.format == pol.format
    assert torch.allclose(exact_logprobs(pol, ["x y"]), exact_logprobs(again, ["x y"]))


def test_variable_length_sampling_stops_at_eos():
    tok = build_symbol_tokenizer(["x", "y", "a", "b"])
    model = build_tiny_gpt2(len(tok), TinyGPT2Spec(n_layer=1, n_embd=16, n_head=2, n_positions=32), seed=1)
    pol = Policy(model, tok, ResponseFormat(max_new_tokens=6))
    s = TransformersBackend().sample(pol, ["x", "y y y"], 5, seed=0)
    for row in s.token_ids:
        for ids in row:
            assert 1 <= len(ids) <= 6
            assert tok.eos_token_id not in ids[:-1]


@pytest.mark.parametrize("pooling", ["last", "sum", "next-token"])
def test_identical_responses_always_tie_under_the_reward_model(pooling, tmp_path):
    """Two copies of one (prompt, response) in a padded batch could score differently in their last bits (seen
    with sum pooling), turning what must be a tie in the reward-model win rate into a win or a loss."""
    torch.manual_seed(0)
    rm = CausalLMRewardModel.from_policy(load_policy(write_hf_gpt2(tmp_path / "m", vocab_size=16_384)), pooling)
    p, o = "Human: how do I bake bread?\n\nAssistant:", " Mix flour, water and yeast."
    longer = (p + " And then?" * 8, o * 6)
    for batch in ([p, p], [p, longer[0], p], [longer[0], p, p]):
        outputs = [o if q == p else longer[1] for q in batch]
        scores = rm.score(batch, outputs)
        mine = [s for q, s in zip(batch, scores) if q == p]
        assert mine[0] == mine[1], (pooling, batch)
