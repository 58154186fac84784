"""Fits run by tests/test_distributed.py, once as one plain process and once under
``accelerate launch --multi_gpu --num_processes 2`` (gloo on CPU). Each process writes ``rank<r>.json``:
the loss curves it saw, how many times it sampled and wrote a checkpoint, and how many groups it trained on.

    python tests/ddp_fits.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from alignbench import distributed
from alignbench.methods.base import MethodContext
from alignbench.methods.registry import get_method
from alignbench.models import generation
from alignbench.models.factory import build_policy
from alignbench.models.policy import TinyGPT2Spec
from alignbench.tasks.oracle import OracleSpec, load_oracle
from alignbench.training import trainer as trainer_module
from alignbench.training.trainer import GroupData, GroupTrainer, TrainConfig


def run_fits(out: Path) -> dict:
    """The loss curves (and final weight sums) of the fits, with run files under ``out``."""
    task = load_oracle(OracleSpec(n_test_prompts=4, pairs_per_train_prompt=2, pairs_per_test_prompt=1))
    sft = build_policy(task, None, TinyGPT2Spec(1, 16, 2, 16), seed=0)
    curves = {}

    # The shared trainer: 6 steps at once, and 3 + 3 with a checkpoint and a resume into a fresh policy in between.
    pairs = task.train_pairs[:32]
    data = GroupData([sft.encode_prompt(p.prompt) for p in pairs], [[sft.encode_response(p.chosen)] for p in pairs])
    loss = lambda lp, b: -(lp[:, 0] / b["response_lengths"][:, 0]).mean()  # noqa: E731
    cfg = TrainConfig(steps=6, lr=1e-2, batch_size=8, seed=3)
    curves["trainer"] = list(GroupTrainer(sft.clone(), cfg).fit(data, loss))
    resume_cfg = TrainConfig(steps=6, lr=1e-2, batch_size=8, seed=3, checkpoint_every=3)
    GroupTrainer(sft.clone(), resume_cfg, checkpoint_dir=out / "ckpt").fit(data, loss, steps=3)
    resumed = GroupTrainer(sft.clone(), resume_cfg, checkpoint_dir=out / "ckpt")
    curves["resumed_from_step"] = resumed.step
    curves["trainer_resumed"] = list(resumed.fit(data, loss))

    # Whole method fits through their adapters: DPO (offline pairs) and RAFT (samples from the policy in rounds).
    for name, params in {"dpo": {"steps": 6, "batch_size": 8, "lr": 1e-2, "checkpoint_every": 3},
                         "raft": {"rounds": 2, "steps_per_round": 3, "prompts_per_round": 4, "n": 4, "batch_size": 4,
                                  "lr": 1e-2}}.items():
        run_dir = out / name
        run_dir.mkdir(parents=True, exist_ok=True)
        ctx = MethodContext(task=task, sft_policy=sft, reward_fn=task.gold_reward, run_dir=run_dir, seed=0)
        policy = get_method(name)(params).fit(ctx)
        log = run_dir / "train_log.jsonl"
        curves[name] = [json.loads(line)["loss"] for line in log.read_text().splitlines()] if log.exists() else []
        curves[name + "_weights_sum"] = float(sum(p.detach().double().sum() for p in policy.model.parameters()))

    return curves


if __name__ == "__main__":
    out = Path(sys.argv[1])
    counts = {"sample_calls": 0, "checkpoint_writes": 0, "trained_groups": 0}
    real_sample, real_write = generation.TransformersBackend._sample, trainer_module.atomic_write_torch
    real_logprobs = trainer_module.group_logprobs

    def counted_logprobs(policy, data, *args, grad=True, **kwargs):
        counts["trained_groups"] += len(data) if grad else 0
        return real_logprobs(policy, data, *args, grad=grad, **kwargs)

    def counted_sample(*args, **kwargs):
        counts["sample_calls"] += 1
        return real_sample(*args, **kwargs)

    def counted_write(*args, **kwargs):
        counts["checkpoint_writes"] += 1
        return real_write(*args, **kwargs)

    generation.TransformersBackend._sample = counted_sample
    trainer_module.atomic_write_torch = counted_write
    trainer_module.group_logprobs = counted_logprobs
    curves = run_fits(out)
    (out / f"rank{distributed.rank()}.json").write_text(json.dumps({"world_size": distributed.world_size(), **counts,
                                                                    **curves}))
