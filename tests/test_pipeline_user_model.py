"""Off the built-in path: a user's JSONL pairs with a separate test-prompt file, and a local Hugging
Face GPT-2 with dropout 0.1, a large vocabulary and a BPE tokenizer that does not round-trip.

Each test here failed on an earlier version of the code; the docstrings say how."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from alignbench.config import validate_config
from alignbench.errors import AlignbenchError
from alignbench.evaluation.judge_only import judge_outputs
from alignbench.models.generation import TransformersBackend
from alignbench.models.policy import ResponseFormat, load_policy
from alignbench.models.reward import CausalLMRewardModel
from alignbench.pipeline import run_comparison
from alignbench.training.ppo import PPOConfig, train_ppo
from alignbench.training.trainer import GroupData, group_logprobs
from hf_fixtures import write_hf_gpt2, write_user_data


@pytest.fixture(scope="module")
def user_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    pairs, prompts = write_user_data(root)
    model = write_hf_gpt2(root / "model", vocab_size=16_384)
    return root, pairs, prompts, model


def user_config(root, pairs, prompts, model, **extra):
    data = {
        "name": "user",
        "task": {"name": "jsonl", "options": {"pairs_path": str(pairs), "test_prompts_path": str(prompts)}},
        "policy": {"path": str(model), "max_new_tokens": 12},
        "sft": {"steps": 30, "lr": 3e-3, "batch_size": 16},
        "reward_model": {"backbone": "policy", "steps": 10, "batch_size": 16},
        "methods": {"sft": {}, "dpo": {"steps": 6, "lr": 1e-3, "batch_size": 8}, "best-of-n": {"n": 4},
                    "ppo": {"iterations": 2, "rollout_batch": 8, "minibatch": 4, "ppo_epochs": 1}},
        "evaluation": {"evaluators": ["reward-model"], "bootstrap": 200},
        "runs_dir": str(root / "runs"), "leaderboard_dir": str(root / "lb"),
    }
    data.update(extra)
    return validate_config(data)


def test_user_jsonl_run_with_dropout_model_finishes_first_time(user_world):
    """Before: `TypeError: unsupported format string passed to NoneType.__format__` at the SFT log line
    (no held-out pairs), and a KL of −6.27 from re-encoded text. Now the run ends on the first try, every
    sampled KL is labelled sampled with its SE and is not negative beyond it, and π_sft's KL to itself is 0."""
    root, pairs, prompts, model = user_world
    rows = run_comparison(user_config(root, pairs, prompts, model), quiet=True)
    assert {r["method"] for r in rows} == {"sft", "dpo", "best-of-n", "ppo"}
    for r in rows:
        if r["kl_kind"] == "sampled":
            assert r["kl_to_sft"] >= -3 * r["kl_to_sft_se"] - 1e-12, r
        assert r["n_truncated"] == 0
    sft = [r for r in rows if r["method"] == "sft"]
    assert sft and all(r["kl_to_sft"] == 0.0 and r["kl_kind"] == "sampled" for r in sft)
    bon = [r for r in rows if r["method"] == "best-of-n"]
    assert all(r["kl_kind"] == "upper-bound" and r["kl_to_sft"] == pytest.approx(math.log(4) - 3 / 4) for r in bon)
    csv = (root / "lb" / "custom.csv").read_text()
    assert "kl_kind" in csv.splitlines()[0] and "kl_to_sft_se" in csv.splitlines()[0]


def test_gold_evaluator_without_true_reward_fails_before_training(user_world, tmp_path):
    """Before: the run trained SFT (30 s) and only then found the task had no true reward."""
    root, pairs, prompts, model = user_world
    cfg = user_config(root, pairs, prompts, model, runs_dir=str(tmp_path),
                      evaluation={"evaluators": ["reward-model", "gold-reward"]})
    with pytest.raises(AlignbenchError, match="gold-reward needs a task with a true reward"):
        run_comparison(cfg, quiet=True)
    assert not (tmp_path / "user" / "sft").exists()


def _policy(model_dir, max_new_tokens=8):
    policy = load_policy(model_dir, ResponseFormat(max_new_tokens=max_new_tokens, max_prompt_tokens=64))
    policy.model.train()  # as a trainer would leave it: dropout on
    return policy


def test_scoring_passes_run_in_eval_mode(user_world):
    """Before: reference/KL passes ran in whatever mode the model was left in; with dropout 0.1 two
    calls gave different log-probs and π_sft's sampled KL to itself was not 0."""
    policy = _policy(user_world[3])
    prompts = ["Human: hi\n\nAssistant:", "Human: tell me about π\n\nAssistant:"]
    samples = policy.sample(prompts, n=3, seed=1)
    data = GroupData([policy.encode_prompt(p) for p in prompts], samples.token_ids)
    a, b = group_logprobs(policy, data, grad=False), group_logprobs(policy, data, grad=False)
    assert torch.equal(a, b)
    assert policy.model.training, "the scoring pass must restore the caller's mode"
    kl = policy.kl_to_reference(policy, prompts, samples)
    assert kl["kl_to_sft"] == 0.0 and kl["kl_kind"] == "sampled"


def test_sampled_kl_scores_the_sampled_token_ids(user_world):
    """Before: the KL re-encoded decoded text. A sample cut at max_new_tokens got an EOS appended and
    byte-level BPE decode → strip → encode does not round-trip, so the scored tokens were not the sampled
    ones. The fixture really has such samples (checked here), and the KL is computed on the ids."""
    policy = _policy(user_world[3], max_new_tokens=6)
    prompts = [f"Human: question {i}\n\nAssistant:" for i in range(16)]
    samples = TransformersBackend().sample(policy, prompts, 1, seed=3)
    reencoded = [policy.encode_response(t[0]) for t in samples.texts]
    assert any(r != ids[0] for r, ids in zip(reencoded, samples.token_ids)), "fixture no longer exercises the bug"
    kl = policy.kl_to_reference(policy, prompts, samples)
    assert kl["kl_to_sft"] == 0.0


def test_ppo_first_ratio_is_one_with_a_dropout_model(user_world):
    """Before: π_old came from an eval pass and the update from a train pass with dropout 0.1, so the
    first minibatch's ratio π_θ/π_old was not 1 (here up to ~0.5 off)."""
    sft = _policy(user_world[3])
    sft.model.eval()
    policy = sft.clone()
    prompts = [f"Human: question {i}\n\nAssistant:" for i in range(8)]
    reward = lambda samples, prompts, outputs: [float(len(o)) for o in outputs]  # noqa: E731
    history = train_ppo(policy, sft, reward, prompts,
                        PPOConfig(iterations=1, rollout_batch=8, minibatch=8, ppo_epochs=1))
    assert history[0]["first_ratio_max_dev"] < 1e-5
    # the broken variant: dropout left on in the update
    policy = sft.clone()
    history = train_ppo(policy, sft, reward, prompts,
                        PPOConfig(iterations=1, rollout_batch=8, minibatch=8, ppo_epochs=1,
                                                                disable_dropout=False))
    assert history[0]["first_ratio_max_dev"] > 1e-3


def _write_outputs(path: Path, generator: str, prompt: str, outputs: list[str]):
    path.write_text(
        "".join(
            json.dumps({"prompt_id": f"p{i}", "prompt": prompt, "output": o, "generator": generator}) + "\n"
            for i, o in enumerate(outputs)
        ),
        encoding="utf-8",
    )


def test_rm_judge_reads_past_the_policys_max_new_tokens(user_world, tmp_path):
    """Before: the RM cut every response to the policy's max_new_tokens (16 here), so two outputs that
    differ only after their 60th token got identical rewards. Now the RM reads up to its own context and
    counts the responses it had to cut (column n_truncated)."""
    policy = _policy(user_world[3], max_new_tokens=16)
    torch.manual_seed(0)
    rm = CausalLMRewardModel.from_policy(policy, pooling="sum")
    tok = policy.tokenizer
    prompt = "Human: tell me a story\n\nAssistant:"
    body = " the tram" * 40
    assert len(tok(body)["input_ids"]) > 60
    a, b = body + " and it was lovely.", body + " and it was awful!!"
    sa, sb = rm.score([prompt, prompt], [a, b])
    assert sa != sb
    assert rm.truncated([prompt, prompt], [a, b]) == [False, False]
    huge = " tram" * (rm.context_length + 10)
    assert rm.truncated([prompt], [huge]) == [True]
    rm.save(tmp_path / "rm")
    _write_outputs(tmp_path / "m.jsonl", "method", prompt, [a, huge])
    _write_outputs(tmp_path / "r.jsonl", "reference", prompt, [b, b])
    rows = judge_outputs([tmp_path / "m.jsonl"], tmp_path / "r.jsonl", f"rm:{tmp_path / 'rm'}", tmp_path / "out",
                         quiet=True, n_bootstrap=100)
    assert rows[0]["n_truncated"] == 1


def test_user_run_with_an_llm_judge_reports_length_controlled_win_rate(user_world, tmp_path):
    """The LLM-judge path of `alignbench run` off the oracle: a scripted judge that prefers the longer
    answer, served on 127.0.0.1; judge rows carry consistency, the one-order rate, and — because output
    lengths vary here — the length-controlled win rate, which pulls a length-driven win rate towards 50."""
    import yaml

    from alignbench.evaluation.local_server import JudgeServer, ScriptedJudge, prefer_longer

    root, pairs, prompts, model = user_world
    with JudgeServer(ScriptedJudge(prefer_longer)) as srv:
        judge = yaml.safe_load(Path("judges/local-scripted.yaml").read_text())
        judge.update({"base_url": srv.base_url, "template": str(Path("judges/templates/pairwise.txt").resolve())})
        judge_path = tmp_path / "scripted.yaml"
        judge_path.write_text(yaml.safe_dump(judge))
        cfg = user_config(root, pairs, prompts, model, runs_dir=str(tmp_path / "runs"),
                          leaderboard_dir=str(tmp_path / "lb"), methods={"sft": {}, "best-of-n": {"n": 4}},
                          evaluation={"evaluators": ["reward-model"], "judges": [str(judge_path)], "bootstrap": 200})
        rows = run_comparison(cfg, quiet=True)
    judged = [r for r in rows if str(r["evaluator"]).startswith("llm:")]
    assert judged, "no LLM-judge rows"
    for r in judged:
        assert r["consistency"] is not None and r["one_order_win_rate"] is not None
        if r["baseline"] == "dataset":
            assert r.get("lc_win_rate") is not None and r["lc_ci_low"] <= r["lc_win_rate"] <= r["lc_ci_high"]
