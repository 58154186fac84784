"""The trainer's scale-out paths on CPU: LoRA training and hand-off, accelerate configs, accelerate with one process."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from oracle_fixtures import tiny_policy

from alignbench.models.policy import load_policy


def test_lora_trains_adapters_and_saves_merged_weights(tmp_path):
    pytest.importorskip("peft")
    from alignbench.training.trainer import GroupData, GroupTrainer, TrainConfig

    pol = tiny_policy()
    pol.lora = {"r": 4, "alpha": 8}
    clone = pol.clone()
    trainable = sum(p.numel() for p in clone.model.parameters() if p.requires_grad)
    assert 0 < trainable < sum(p.numel() for p in clone.model.parameters()) / 2  # only the adapters train
    data = GroupData([pol.encode_prompt("x y")] * 4, [[pol.encode_response("a b c")]] * 4)
    GroupTrainer(clone, TrainConfig(steps=60, lr=5e-2, batch_size=4)).fit(data, lambda lp, b: -lp.mean())
    clone.save(tmp_path / "lora")
    assert (tmp_path / "lora" / "adapter").is_dir()
    merged = load_policy(tmp_path / "lora")
    before, after = pol.exact_logprobs(["x y"]), merged.exact_logprobs(["x y"])
    idx = 0 * 9 + 1 * 3 + 2  # "a b c"
    assert after[0, idx] > before[0, idx] + 0.5


def test_accelerate_configs_ship_and_parse():
    root = Path(__file__).resolve().parents[2] / "alignbench" / "configs" / "accelerate"
    kinds = {}
    for f in ("deepspeed_zero2.yaml", "deepspeed_zero3.yaml", "fsdp.yaml"):
        cfg = yaml.safe_load((root / f).read_text())
        kinds[f] = cfg["distributed_type"]
    assert kinds == {"deepspeed_zero2.yaml": "DEEPSPEED", "deepspeed_zero3.yaml": "DEEPSPEED", "fsdp.yaml": "FSDP"}


def test_trainer_under_accelerate_single_process():
    from alignbench.training.trainer import GroupData, GroupTrainer, TrainConfig

    pol = tiny_policy()
    data = GroupData([pol.encode_prompt("x")] * 4, [[pol.encode_response("a a a")]] * 4)
    tr = GroupTrainer(pol, TrainConfig(steps=5, lr=1e-2, batch_size=4, accelerate=True))
    assert tr.accelerator is not None
    tr.fit(data, lambda lp, b: -lp.mean())
    tr.finish()
    assert isinstance(pol.model, torch.nn.Module) and tr.step == 5
