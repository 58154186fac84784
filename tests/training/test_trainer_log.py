"""The shared trainer logs every step (loss, gradient norm, lr, log-ratio to the reference and the
loss's own metrics) to train_log.jsonl, and a resumed run does not duplicate steps."""

from __future__ import annotations

import json

import torch

from alignbench.methods.base import MethodContext
from alignbench.methods.registry import get_method
from alignbench.models.factory import build_policy
from alignbench.models.policy import TinyGPT2Spec
from alignbench.tasks.oracle import OracleSpec, load_oracle
from alignbench.training.trainer import GroupData, GroupTrainer, TrainConfig


def _world():
    task = load_oracle(OracleSpec(n_test_prompts=8, pairs_per_train_prompt=1))
    torch.manual_seed(0)
    return task, build_policy(task, None, TinyGPT2Spec(n_layer=1, n_embd=16, n_head=2), seed=0)


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_dpo_logs_margins_and_accuracy_per_step(tmp_path):
    task, sft = _world()
    method = get_method("dpo")({"steps": 5, "lr": 1e-3, "batch_size": 8, "checkpoint_every": 0})
    method.fit(MethodContext(task=task, sft_policy=sft, reward_fn=task.gold_reward, run_dir=tmp_path, seed=0))
    log = _lines(tmp_path / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
    for r in log:
        assert {"loss", "grad_norm", "lr", "logratio_mean", "reward_margin", "reward_accuracy"} <= set(r)
        assert 0.0 <= r["reward_accuracy"] <= 1.0
    # first step: π_θ = π_sft, so every log-ratio and margin is 0 and the loss is ln 2
    assert abs(log[0]["logratio_mean"]) < 1e-6 and abs(log[0]["reward_margin"]) < 1e-6
    assert abs(log[0]["loss"] - 0.6931) < 1e-3


def test_resumed_trainer_drops_log_lines_past_its_checkpoint(tmp_path):
    task, sft = _world()
    data = GroupData([sft.encode_prompt(p.prompt) for p in task.train_pairs[:16]],
                     [[sft.encode_response(p.chosen)] for p in task.train_pairs[:16]])
    loss = lambda lp, b: -lp.mean()  # noqa: E731
    cfg = TrainConfig(steps=6, lr=1e-3, batch_size=4, checkpoint_every=2)
    log = tmp_path / "train_log.jsonl"
    # "killed" after step 3
    GroupTrainer(sft.clone(), cfg, checkpoint_dir=tmp_path / "ck", log_path=log).fit(data, loss, steps=3)
    assert [r["step"] for r in _lines(log)] == [1, 2, 3]
    resumed = GroupTrainer(sft.clone(), cfg, checkpoint_dir=tmp_path / "ck", log_path=log)  # checkpoint holds step 2
    assert resumed.step == 2 and [r["step"] for r in _lines(log)] == [1, 2]
    resumed.fit(data, loss)
    assert [r["step"] for r in _lines(log)] == [1, 2, 3, 4, 5, 6]


def test_every_pair_method_logs_its_implicit_reward_margin(tmp_path):
    """DPO, DPO-sft, IPO, EXO-pref and RSO log reward_margin / reward_accuracy: training curves a user can plot."""
    task, sft = _world()
    common = {"steps": 3, "lr": 1e-3, "batch_size": 8, "checkpoint_every": 0}
    sampled = {**common, "max_prompts": 16}
    for name, params in (("dpo-sft", sampled), ("ipo", common), ("exo-pref", common),
                         ("rso", {**sampled, "n": 8, "num_accepted": 4})):
        run_dir = tmp_path / name
        run_dir.mkdir()
        get_method(name)(params).fit(MethodContext(task=task, sft_policy=sft, reward_fn=task.gold_reward,
                                                   run_dir=run_dir, seed=0))
        log = _lines(run_dir / "train_log.jsonl")
        assert len(log) == 3, name
        assert all({"reward_margin", "reward_accuracy"} <= set(r) for r in log), name
        assert abs(log[0]["reward_margin"]) < 1e-6, name  # π_θ = π_sft at the first step
