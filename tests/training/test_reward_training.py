"""Reward-model training on the oracle task."""

from __future__ import annotations

import pytest
import torch
from oracle_fixtures import oracle_world

from alignbench.models.reward import CausalLMRewardModel, load_reward_model
from alignbench.training.reward_training import RewardTrainConfig, pairwise_accuracy, train_reward_model


# Bradley–Terry labels on the oracle's held-out pairs are right 72% of the time (the true reward's
# own accuracy), which caps accuracy; chance is 0.50 ± 0.03 on 256 pairs. Measured: BT 0.746,
# pointwise (ARM §5.3: one response of a pair, z = chosen?) 0.711.
@pytest.mark.parametrize("loss, pooling, floor",
                         [("bradley-terry", "next-token", 0.65), ("pointwise", "next-token", 0.62)])
def test_reward_model_beats_chance_on_oracle(loss, pooling, floor, tmp_path):
    task, sft, *_ = oracle_world()
    torch.manual_seed(0)
    rm = CausalLMRewardModel.from_policy(sft, pooling=pooling)
    train_reward_model(rm, task.train_pairs, RewardTrainConfig(loss=loss, steps=300, lr=1e-3, batch_size=64))
    acc = pairwise_accuracy(rm, task.test_pairs)
    print(f"oracle reward model ({loss}, {pooling} pooling): held-out pairwise accuracy {acc:.3f} "
          f"on {len(task.test_pairs)} pairs")
    assert acc > floor
    rm.save(tmp_path / "rm")
    again = load_reward_model(tmp_path / "rm")
    assert again.score(["P1 P2 P3"], ["a b c d"]) == pytest.approx(rm.score(["P1 P2 P3"], ["a b c d"]), abs=1e-5)
