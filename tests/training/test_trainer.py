"""The shared trainer's guards."""

from __future__ import annotations

import json
import math

import pytest


def test_divergent_training_stops_at_the_first_non_finite_loss_with_a_valid_log(tmp_path):
    import torch

    from alignbench.errors import AlignbenchError
    from alignbench.methods.base import MethodContext
    from alignbench.methods.registry import get_method
    from alignbench.models.factory import build_policy
    from alignbench.models.policy import TinyGPT2Spec
    from alignbench.tasks.oracle import OracleSpec, load_oracle

    task = load_oracle(OracleSpec(n_test_prompts=8, pairs_per_train_prompt=1))
    torch.manual_seed(0)
    sft = build_policy(task, None, TinyGPT2Spec(n_layer=1, n_embd=16, n_head=2), seed=0)
    method = get_method("dpo")({"steps": 20, "lr": 1e30, "batch_size": 8, "checkpoint_every": 0}, label="dpo")
    with pytest.raises(AlignbenchError, match=r"dpo: training diverged at step \d+: .*lower setting 'methods.dpo.lr'"):
        method.fit(MethodContext(task=task, sft_policy=sft, reward_fn=task.gold_reward, run_dir=tmp_path, seed=0))
    log = [json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in train_log.jsonl"))
           for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert 1 <= len(log) < 20 and all(math.isfinite(r["loss"]) for r in log)  # stopped at the first non-finite loss
