"""Supervised fine-tuning on the oracle task."""

from __future__ import annotations

import torch
from oracle_fixtures import oracle_world

from alignbench.training.trainer import GroupData, group_logprobs


def test_sft_lowers_heldout_nll():
    task, sft, *_ = oracle_world()
    from alignbench.models.factory import build_policy
    from alignbench.models.policy import TinyGPT2Spec

    fresh = build_policy(task, None, TinyGPT2Spec(n_layer=2, n_embd=64, n_head=4), seed=0)
    held = task.test_pairs
    data = GroupData([sft.encode_prompt(p.prompt) for p in held], [[sft.encode_response(p.chosen)] for p in held])
    before = float(-group_logprobs(fresh, data, length_average=True, grad=False).mean())
    after = float(-group_logprobs(sft, data, length_average=True, grad=False).mean())
    print(f"held-out token NLL: untrained {before:.3f} → SFT {after:.3f} (uniform over 8 symbols = "
          f"{torch.log(torch.tensor(8.0)):.3f})")
    assert after < before - 0.3
