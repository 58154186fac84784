"""vLLM follows training: one engine per run, weights pushed in place whenever the sampled policy's
weights_version moved (every optimiser step moves it). Checked against the stand-in in vllm_standin.py."""

from __future__ import annotations

import sys

import pytest
import vllm_standin
from oracle_fixtures import tiny_policy
from vllm_standin import FreshnessChecked, StandInLLM, install, policy_fingerprint

from alignbench.errors import AlignbenchError
from alignbench.methods.base import MethodContext
from alignbench.methods.registry import get_method
from alignbench.models.factory import build_policy
from alignbench.models.generation import get_backend
from alignbench.models.policy import TinyGPT2Spec, load_policy
from alignbench.tasks.oracle import OracleSpec, load_oracle

ROUNDS = {"rounds": 2, "steps_per_round": 2, "prompts_per_round": 4, "batch_size": 4, "lr": 1e-2}
METHODS = {
    "raft": {**ROUNDS, "n": 4},
    "brain": {**ROUNDS, "n": 4},
    "online-dpo": {**ROUNDS, "n": 4},
    "ppo": {"iterations": 2, "rollout_batch": 4, "minibatch": 4, "ppo_epochs": 1, "lr": 1e-2},
    # samples π_sft, then its trained policy is sampled: the engine swaps weights between two policies
    "expert-iteration": {"steps": 2, "batch_size": 4, "lr": 1e-2, "n": 4, "max_prompts": 8, "checkpoint_every": 0},
}


@pytest.fixture(scope="module")
def world():
    task = load_oracle(OracleSpec(n_test_prompts=4, pairs_per_train_prompt=2, pairs_per_test_prompt=1))
    return task, build_policy(task, None, TinyGPT2Spec(1, 16, 2, 16), seed=0)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_sample_comes_from_the_current_weights(name, world, monkeypatch, tmp_path):
    install(monkeypatch)
    task, sft = world
    backend = FreshnessChecked(get_backend("vllm"))
    ctx = MethodContext(task=task, sft_policy=sft, reward_fn=task.gold_reward, run_dir=tmp_path, seed=0,
                        backend=backend)
    policy = get_method(name)(METHODS[name]).fit(ctx)
    policy.sample([p.text for p in task.test_prompts], n=1, seed=10_000, backend=backend)  # the run's test samples
    assert backend.samples >= 2  # the rounds / rollouts / π_sft's proposals, and the test samples
    assert len(StandInLLM.instances) == 1  # one engine for the whole fit
    # pushed in place after each training phase: round 1 (or rollout 1) before round 2, the last before the test samples
    assert backend.inner.weight_syncs == (1 if name == "expert-iteration" else 2)
    assert StandInLLM.instances[0].prefix_cache_resets == backend.inner.weight_syncs


def test_unchanged_weights_are_not_pushed_again_and_a_second_policy_is_swapped_in(world, monkeypatch):
    install(monkeypatch)
    task, sft = world
    backend = get_backend("vllm")
    prompts = [p.text for p in task.test_prompts]
    other = sft.clone()
    for p in other.model.parameters():
        p.data.add_(0.01)
    other.weights_changed()
    for policy in (sft, sft, other, other, sft):
        backend.sample(policy, prompts, n=2, seed=0)
        assert StandInLLM.instances[-1].generated_with[-1] == policy_fingerprint(policy)
    assert len(StandInLLM.instances) == 1 and backend.weight_syncs == 2


def test_tensor_parallel_is_refused_with_the_reason(monkeypatch):
    install(monkeypatch)
    with pytest.raises(AlignbenchError, match="tensor_parallel_size 2"):
        get_backend("vllm", tensor_parallel_size=2)


@pytest.fixture
def fake_vllm(monkeypatch):
    return vllm_standin.install(monkeypatch)


def test_vllm_backend_hands_off_weights_and_enforces_the_response_format(fake_vllm, tmp_path):
    pol = tiny_policy()
    backend = get_backend("vllm", gpu_memory_utilization=0.3)
    s = backend.sample(pol, ["x y", "y"], n=4, seed=7)
    assert len(s.texts) == 2 and all(len(row) == 4 for row in s.texts)
    assert all(len(text.split()) == 3 and set(text.split()) <= {"a", "b", "c"} for row in s.texts for text in row)
    llm = StandInLLM.instances[0]
    assert llm.kwargs["gpu_memory_utilization"] == 0.3
    # a saved policy is read from its own directory, not snapshotted again
    pol.save(tmp_path / "p")
    loaded = load_policy(tmp_path / "p")
    get_backend("vllm").sample(loaded, ["x"], n=1, seed=0)
    assert StandInLLM.instances[-1].model_dir == str(tmp_path / "p")
    params = backend.sampling_params(pol, 4, 7)
    assert (params.n, params.seed, params.temperature, params.top_p, params.top_k) == (4, 7, 1.0, 1.0, -1)
    assert params.min_tokens == params.max_tokens == 3 and params.ignore_eos
    assert params.allowed_token_ids == pol.format.allowed_token_ids


def test_vllm_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    from alignbench.errors import AlignbenchError

    with pytest.raises(AlignbenchError, match=r"alignbench\[vllm\]"):
        get_backend("vllm")
