"""Online iterative DPO's rounds: D ← D ∪ D_t (or the round's pairs only), and the restart from π_0."""

from __future__ import annotations

import pytest
import torch

from alignbench.errors import AlignbenchError
from alignbench.methods.base import MethodContext
from alignbench.methods.registry import get_method
from alignbench.training.trainer import GroupTrainer
from oracle_fixtures import oracle_world

SMALL = {"rounds": 3, "steps_per_round": 2, "prompts_per_round": 16, "n": 4, "batch_size": 8, "lr": 1e-2, "beta": 0.5}


def run_rounds(tmp_path, monkeypatch, **params):
    """Fit online DPO; per round, the number of pairs trained on and the weights it started from."""
    task, sft = oracle_world()[:2]
    rounds = []
    real_fit = GroupTrainer.fit

    def spying_fit(self, data, loss_fn, steps=None, length_average=False):
        start = {k: v.clone() for k, v in self.policy.model.state_dict().items()}
        rounds.append({"pairs": len(data), "start": start, "ref": data.tensors["ref_logps"].clone()})
        return real_fit(self, data, loss_fn, steps, length_average)

    monkeypatch.setattr(GroupTrainer, "fit", spying_fit)
    method = get_method("online-dpo")({**SMALL, **params})
    torch.manual_seed(0)
    method.fit(MethodContext(task=task, sft_policy=sft, reward_fn=task.gold_reward, run_dir=tmp_path, seed=0))
    return rounds, sft


def same_weights(a, b) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_pairs_accumulate_across_rounds_and_round_mode_keeps_only_the_new_ones(tmp_path, monkeypatch):
    acc, _ = run_rounds(tmp_path / "a", monkeypatch)
    monkeypatch.undo()
    own, _ = run_rounds(tmp_path / "r", monkeypatch, pairs="round")
    # every group of 4 samples gives one best-vs-worst pair unless the gold reward ties all 4 (then none)
    assert [r["pairs"] for r in acc] == [sum(r["pairs"] for r in own[: t + 1]) for t in range(3)]
    assert all(0 < r["pairs"] <= 16 for r in own)
    # the earlier rounds' π_sft log-probs are kept, not recomputed differently
    assert torch.equal(acc[1]["ref"][: acc[0]["pairs"]], acc[0]["ref"])


def test_restart_trains_every_round_from_pi_sft(tmp_path, monkeypatch):
    restarted, sft = run_rounds(tmp_path / "s", monkeypatch, restart=True)
    sft_weights = sft.model.state_dict()
    assert all(same_weights(r["start"], sft_weights) for r in restarted)
    monkeypatch.undo()
    continued, _ = run_rounds(tmp_path / "c", monkeypatch)
    assert same_weights(continued[0]["start"], sft_weights) and not same_weights(continued[1]["start"], sft_weights)


def test_restart_with_the_previous_policy_as_reference_is_refused():
    with pytest.raises(AlignbenchError, match="restart: true trains every round from π_sft"):
        get_method("online-dpo")({"restart": True, "reference": "previous"})
