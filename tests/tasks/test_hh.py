"""hh-harmless: the real HH-RLHF split and the MiniLM reward model (offline)."""

from __future__ import annotations

import pytest
import torch

from alignbench.models.encoder_reward import EncoderRewardModel
from alignbench.tasks.hh import load_hh_harmless


def test_split_is_deterministic_and_well_formed():
    a, b = load_hh_harmless(seed=0), load_hh_harmless(seed=0)
    assert [p.prompt_id for p in a.test_pairs] == [p.prompt_id for p in b.test_pairs]
    assert len(a.train_pairs) + len(a.test_pairs) + len(a.meta["left_out_mismatched_prefix"]) == 2312
    assert len(a.test_pairs) == 256 and a.meta["left_out_mismatched_prefix"] == [1255, 1689, 1951, 1953, 2037]
    ids = [p.prompt_id for p in a.train_pairs + a.test_pairs]
    assert len(ids) == len(set(ids))
    assert all(p.prompt.endswith("\n\nAssistant:") for p in a.train_pairs)
    assert "left out 5 pair(s)" in a.meta["notes"][0]
    c = load_hh_harmless(seed=1)
    assert [p.prompt_id for p in c.test_pairs] != [p.prompt_id for p in a.test_pairs]


def test_minilm_reward_model_loads_offline_and_its_head_learns(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from alignbench.models.encoder_reward import EncoderRewardModel
    from alignbench.models.reward import load_reward_model
    from alignbench.training.reward_training import RewardTrainConfig, train_reward_model

    pairs = load_hh_harmless().train_pairs[:48]
    torch.manual_seed(0)
    rm = EncoderRewardModel(finetune="head")
    scores = rm.score([p.prompt for p in pairs[:4]], [p.chosen for p in pairs[:4]])
    assert len(scores) == 4 and all(abs(s) < 100 for s in scores)
    hist = train_reward_model(rm, pairs, RewardTrainConfig(steps=60, lr=3e-3, batch_size=16))
    assert sum(hist[-10:]) / 10 < sum(hist[:10]) / 10 - 0.05  # memorises a few pairs: the head trains
    rm.save(tmp_path / "rm")
    again = load_reward_model(tmp_path / "rm")
    assert again.score([pairs[0].prompt], [pairs[0].chosen]) == pytest.approx(
        rm.score([pairs[0].prompt], [pairs[0].chosen]), abs=1e-5
    )


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["bradley-terry", "pointwise"])
def test_minilm_reward_model_heldout_accuracy(loss):
    import time

    from alignbench.models.encoder_reward import EncoderRewardModel
    from alignbench.training.reward_training import RewardTrainConfig, pairwise_accuracy, train_reward_model

    task = load_hh_harmless()
    torch.manual_seed(0)
    rm = EncoderRewardModel(finetune="head")
    t0 = time.time()
    train_reward_model(rm, task.train_pairs, RewardTrainConfig(loss=loss, steps=600, lr=1e-3, batch_size=64))
    acc = pairwise_accuracy(rm, task.test_pairs)
    print(f"MiniLM head reward model ({loss}): held-out pairwise accuracy {acc:.3f} on {len(task.test_pairs)} pairs "
          f"({time.time() - t0:.0f} s incl. embedding)")
    assert acc > (0.6 if loss == "bradley-terry" else 0.5)


def test_minilm_embedding_does_not_depend_on_what_it_was_batched_with():
    """Padded beside a longer text, an embedding changed in its last bits, and the cache kept whichever batch came
    first: a resumed hh-harmless run (empty cache) scored best-of-n and sft 5e-8 away from a fresh run."""
    torch.manual_seed(0)
    pairs = load_hh_harmless().train_pairs
    short, long = min(pairs[:50], key=lambda p: len(p.chosen)), max(pairs[:50], key=lambda p: len(p.prompt + p.chosen))
    alone = EncoderRewardModel().eval().embed_cached([short.prompt], [short.chosen])
    rm = EncoderRewardModel().eval()
    beside = rm.embed_cached([short.prompt, long.prompt], [short.chosen, long.chosen])
    assert torch.equal(alone[0], beside[0])
    assert rm.score([short.prompt] * 2, [short.chosen] * 2)[0] == rm.score([short.prompt], [short.chosen])[0]
