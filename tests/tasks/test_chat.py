"""Chat templates exactly as training sees them, on a tiny Qwen2 whose ChatML template starts with BOS while its
tokenizer adds one too, with no pad token and ``generation_config.eos_token_id`` a list. Each classic fault has a
test here; where the broken variant is one line, the test runs it too and checks that it is caught."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import alignbench.models.groups as groups_mod
from alignbench.models.generation import TransformersBackend
from alignbench.models.logprobs import build_batch
from alignbench.models.policy import ResponseFormat, load_policy
from alignbench.tasks.chat import Chat
from alignbench.tasks.jsonl import read_pairs
from alignbench.training.trainer import GroupData, group_logprobs
from chat_fixtures import chat_tokenizer, conversations, implicit, write_chat_data, write_chat_policy

MARKUP = ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("chat")
    return {"policy": write_chat_policy(root / "policy"), **write_chat_data(root / "data", n_pairs=24)}


def chat_policy(world, max_new_tokens=12):
    return load_policy(world["policy"], ResponseFormat(max_new_tokens=max_new_tokens, max_prompt_tokens=256))


def test_prompt_has_one_bos_though_template_and_tokenizer_both_add_it(world):
    policy = chat_policy(world)
    tok, bos = policy.tokenizer, policy.tokenizer.bos_token_id
    msgs = [{"role": "user", "content": "hi"}]
    ids = policy.encode_prompt(Chat(msgs))
    assert ids[0] == bos and ids.count(bos) == 1
    # the trap is real in this fixture: rendering to text and tokenising with the tokenizer's defaults doubles it
    broken = tok(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))["input_ids"]
    assert broken[:2] == [bos, bos]


def test_plain_string_prompt_is_one_user_turn(world):
    policy = chat_policy(world)
    assert policy.encode_prompt("Tell me "
                                "a joke") == policy.encode_prompt(Chat([{"role": "user", "content": "Tell me a joke"}]))


def test_responses_end_with_the_templates_end_of_turn_and_it_is_trained(world):
    policy = chat_policy(world)
    im_end = policy.tokenizer.convert_tokens_to_ids("<|im_end|>")
    ids = policy.encode_response("It is blue.")
    assert im_end in ids[-2:] and policy.tokenizer.decode(ids[:-2]) == "It is blue."
    # every response token, the end-of-turn included, is in the trained log-prob (its mask), not just the text
    prompt = policy.encode_prompt("What colour is the sky?")
    with_end = group_logprobs(policy, GroupData([prompt], [[ids]]), grad=False)
    text_only = group_logprobs(policy, GroupData([prompt], [[ids[:-2]]]), grad=False)
    assert float(with_end - text_only) < -1e-3
    # a response cut at max_new_tokens keeps its end-of-turn
    short = chat_policy(world, max_new_tokens=5).encode_response("a long answer " * 20)
    assert len(short) == 5 and short[-2:] == ids[-2:]


def _mask_by_pad_id(prompt_ids, response_ids, pad_id):
    """The classic fault: padding found by comparing ids with pad (= EOS here) rather than by length."""
    ids, attn, rmask = build_batch(prompt_ids, response_ids, pad_id)
    keep = (ids != pad_id).long()
    return ids, attn * keep, rmask * keep


def _pad_checks(policy) -> tuple[float, float]:
    """(log p(EOS) as trained, change of a short row's log-prob when batched with a longer one)."""
    eos = policy.tokenizer.eos_token_id
    assert policy.pad_id == eos  # no pad token: pad = EOS, as TRL does
    prompt = policy.encode_prompt("Say something.")
    text = policy.tokenizer("fine", add_special_tokens=False)["input_ids"]
    longer = policy.tokenizer("a much longer answer than that", add_special_tokens=False)["input_ids"]
    alone = group_logprobs(policy, GroupData([prompt], [[text + [eos]]]), grad=False)
    without_eos = group_logprobs(policy, GroupData([prompt], [[text]]), grad=False)
    batched = group_logprobs(policy, GroupData([prompt, prompt], [[text + [eos]], [longer + [eos]]]), grad=False)
    return float(alone - without_eos), float((batched[0] - alone).abs())


def test_pad_is_never_trained_or_attended_and_the_ending_eos_always_is(world, monkeypatch):
    policy = chat_policy(world)
    eos_logp, batch_shift = _pad_checks(policy)
    assert eos_logp < -1e-3  # the EOS that ends the response is scored
    assert batch_shift < 1e-4  # the padding after the short row changes nothing
    monkeypatch.setattr(groups_mod, "build_batch", _mask_by_pad_id)
    broken_eos, _ = _pad_checks(policy)
    assert abs(broken_eos) < 1e-6, "the broken variant (mask by pad id) should drop the EOS"


def test_sampling_left_pads_and_matches_the_unbatched_model(world):
    """Greedy continuations (temperature → 0) of a short prompt are the same alone and left-padded beside a long one."""
    policy = chat_policy(world, max_new_tokens=6)
    short, long = "Hi.", Chat(conversations(1)[0]["prompt"])
    backend = TransformersBackend()
    gen = torch.Generator().manual_seed(0)
    alone = backend._sample_batch(policy, [policy.encode_prompt(short)], gen, 1e-4)[0]
    both = backend._sample_batch(policy, [policy.encode_prompt(long), policy.encode_prompt(short)], gen, 1e-4)
    assert both[1] == alone
    # and the sampled ids score the same through the training path (right padding)
    data = GroupData([policy.encode_prompt(long), policy.encode_prompt(short)], [[both[0]], [both[1]]])
    single = group_logprobs(policy, GroupData([policy.encode_prompt(short)], [[alone]]), grad=False)
    assert float((group_logprobs(policy, data, grad=False)[1] - single).abs()) < 1e-4


def _force_token(policy, token_id, boost=12.0):
    def hook(module, inputs, output):
        output[..., token_id] += boost
        return output
    return policy.model.lm_head.register_forward_hook(hook)


def test_generation_stops_at_the_end_of_turn_token_from_a_list_eos(world):
    policy = chat_policy(world, max_new_tokens=20)
    im_end, eot = policy.tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    assert policy.model.generation_config.eos_token_id == [im_end, eot] and policy.tokenizer.eos_token_id == eot
    handle = _force_token(policy, im_end, boost=6.0)
    try:
        samples = policy.sample([f"Question {i}?" for i in range(16)], n=2, seed=0)
    finally:
        handle.remove()
    rows = [ids for row in samples.token_ids for ids in row]
    assert sum(im_end in ids for ids in rows) >= 8
    for ids in rows:
        if im_end in ids:
            assert ids.index(im_end) == len(ids) - 1, "sampling went on past the end-of-turn"
    kl = policy.kl_to_reference(policy, [f"Question {i}?" for i in range(16)], samples)
    assert kl["kl_to_sft"] == 0.0


def test_output_text_has_no_template_control_tokens(world):
    policy = chat_policy(world)
    tok = policy.tokenizer
    word = tok("hello there", add_special_tokens=False)["input_ids"]
    start, end = tok.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    ids = [tok.bos_token_id] + word + [start] + word + [end] + word
    text = policy.decode_response(ids)
    assert text == "hello therehello there" and not any(m in text for m in MARKUP)
    # control tokens added as plain (non-special) added tokens, as some checkpoints ship them
    plain = chat_tokenizer()
    plain.add_tokens(["<|tool|>"])
    policy.tokenizer = plain
    tool = plain.convert_tokens_to_ids("<|tool|>")
    assert "<|tool|>" not in policy.decode_response(word + [tool] + word)
    # what skip_special_tokens alone leaves
    assert "<|tool|>" in plain.decode(word + [tool] + word, skip_special_tokens=True)


def test_token_ids_equal_trls_dpo_tokenization(world):
    """For 24 conversational pairs (a third multi-turn), the prompt and chosen/rejected ids alignbench trains on are
    the ids TRL 1.16's DPOTrainer._prepare_dataset produces (extract_prompt → chat template → common prefix)."""
    from datasets import Dataset

    trl = pytest.importorskip("trl")
    policy = chat_policy(world, max_new_tokens=256)
    rows = implicit(conversations(24))
    args = SimpleNamespace(dataset_num_proc=None, max_length=None, truncation_mode="keep_start")
    ref = trl.DPOTrainer._prepare_dataset(SimpleNamespace(_tokenizer=policy.tokenizer), Dataset.from_list(rows),
                                          policy.tokenizer, args, "train")
    pairs = read_pairs(world["disk"])
    assert len(pairs) == len(ref) == 24
    for pair, expected in zip(pairs, ref):
        assert policy.encode_prompt(pair.prompt) == expected["prompt_ids"]
        assert policy.encode_response(pair.chosen) == expected["chosen_ids"]
        assert policy.encode_response(pair.rejected) == expected["rejected_ids"]


def test_vllm_stops_at_the_same_ids_and_puts_back_the_one_that_stopped_it(world, monkeypatch):
    """vLLM is handed the policy's stop ids (end-of-turn included) and drops the stop token from its ids; the
    backend puts back the one that stopped it (``stop_reason``), so the KL scores what was sampled."""
    import sys
    import types

    policy = chat_policy(world, max_new_tokens=8)
    im_end = policy.tokenizer.convert_tokens_to_ids("<|im_end|>")
    word = policy.tokenizer("hello", add_special_tokens=False)["input_ids"]

    class FakeLLM:
        def __init__(self, model, tokenizer, seed, **kw):
            pass

        def generate(self, requests, params, use_tqdm=False):
            assert params.stop_token_ids == policy.stop_ids and im_end in params.stop_token_ids
            done = types.SimpleNamespace(token_ids=word, stop_reason=im_end)
            return [types.SimpleNamespace(outputs=[done]) for _ in requests]

    mod = types.ModuleType("vllm")
    mod.LLM, mod.SamplingParams = FakeLLM, lambda **kw: types.SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "vllm", mod)
    from alignbench.models.generation import get_backend

    samples = get_backend("vllm").sample(policy, ["Hi."], n=1, seed=0)
    assert samples.token_ids == [[word + [im_end]]] and samples.texts == [["hello"]]
