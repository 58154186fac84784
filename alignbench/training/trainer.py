"""The one trainer every offline method shares.

A method hands it *groups*: for each prompt, K responses plus per-group tensors (rewards, soft
labels, importance weights, cached reference log-probs …) and a pure loss over tensors
``loss_fn(policy_logps [b, K], batch: dict[str, Tensor]) -> scalar`` or ``(scalar, metrics)``, where
``metrics`` maps names to scalar tensors (reward margins, accuracies …). Every step's loss, gradient
norm, learning rate, mean log-ratio to the reference and the loss's metrics go to ``train_log.jsonl``. The trainer owns
batching, masking (via sequence log-probs), reference log-prob caching, the optimiser and schedule,
gradient accumulation, checkpoints, seeding and progress.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..errors import AlignbenchError
from ..io import atomic_write_text, atomic_write_torch
from ..models.groups import GroupData, cache_logprobs, group_logprobs, response_lengths  # noqa: F401  (also re-exported)
from ..progress import NullProgress
from .optim import optimizer_step


@dataclass
class TrainConfig:
    steps: int = 100
    lr: float = 1e-3
    batch_size: int = 16  # groups per optimiser step (before accumulation split)
    grad_accum: int = 1
    weight_decay: float = 0.0
    warmup_steps: int = 0
    schedule: str = "constant"  # constant | linear | cosine
    max_grad_norm: float = 1.0
    checkpoint_every: int = 0  # 0: only at the end
    seed: int = 0
    accelerate: bool | None = None  # None: on when launched by `accelerate launch` (WORLD_SIZE > 1)


LossFn = Callable[[torch.Tensor, dict], torch.Tensor]


def _accelerator(config: TrainConfig):
    use = config.accelerate if config.accelerate is not None else int(os.environ.get("WORLD_SIZE", "1")) > 1
    if not use:
        return None
    from accelerate import Accelerator  # lazy: only `accelerate launch` runs use it; ~0.2 s off every import

    # No GPU: the processes talk over gloo (`accelerate launch --multi_gpu` starts them; its `--cpu` needs MPI for more
    # than one).
    accelerator = Accelerator(gradient_accumulation_steps=1, cpu=not torch.cuda.is_available())
    micro = max(1, config.batch_size // config.grad_accum)
    if micro % accelerator.num_processes:
        raise AlignbenchError(f"batch_size {config.batch_size} / grad_accum {config.grad_accum} = "
                              f"{micro} groups per micro-batch cannot be split evenly across "
                              f"{accelerator.num_processes} processes")
    return accelerator


class GroupTrainer:
    def __init__(self, policy, config: TrainConfig, progress=None, checkpoint_dir: str | Path | None = None,
                 label: str = "train", log_path: str | Path | None = None):
        self.policy = policy
        self.log_path = Path(log_path) if log_path else None
        self.cfg = config
        self.progress = progress or NullProgress()
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.label = label
        self.step = 0
        self.history: list[float] = []
        self.generator = torch.Generator().manual_seed(config.seed)
        self.optimizer, self.scheduler = self._new_optimizer()
        self._order: list[int] = []
        self._order_size: int | None = None  # the data set size the current permutation was drawn for
        self.accelerator = _accelerator(config)
        if self.accelerator is not None:
            # DDP / FSDP / DeepSpeed come from the `accelerate launch --config_file` in use.
            # Every process draws the same global batch (same seed) and trains on its slice of it; DDP averages
            # the gradients, so N processes take the steps one process takes with the same batch_size.
            policy.model, self.optimizer = self.accelerator.prepare(policy.model, self.optimizer)
            sharded = self.accelerator.distributed_type.value in ("FSDP", "DEEPSPEED")
            if sharded and self.checkpoint_dir is not None and config.checkpoint_every:
                raise AlignbenchError(f"checkpoint_every {config.checkpoint_every} under "
                                      f"{self.accelerator.distributed_type.value}: resumable checkpoints are written "
                                      "for DDP only (rank 0 saves the whole state); set checkpoint_every: 0")
        self._maybe_resume()

    def _new_optimizer(self):
        # fused: one kernel per step over every tensor (the per-tensor loop cost a tiny model 10 % of its step)
        optimizer = torch.optim.AdamW(self.policy.model.parameters(), lr=self.cfg.lr,
                                      weight_decay=self.cfg.weight_decay, fused=True)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_lambda)

    def restart_from(self, start) -> None:
        """Continue from ``start``'s weights with a fresh optimiser and schedule (the step count and log go on):
        methods that retrain from π_0 each round (online DPO's ``restart``)."""
        getattr(self.policy.model, "module", self.policy.model).load_state_dict(start.model.state_dict())
        self.policy.weights_changed()
        self.optimizer, self.scheduler = self._new_optimizer()
        if self.accelerator is not None:
            self.optimizer = self.accelerator.prepare(self.optimizer)

    @property
    def is_main(self) -> bool:
        return self.accelerator is None or self.accelerator.is_main_process

    def _my_share(self, indices: list[int]) -> list[int]:
        if self.accelerator is None:
            return indices
        return indices[self.accelerator.process_index :: self.accelerator.num_processes]

    def _mean_over_processes(self, value: float) -> float:
        if self.accelerator is None:
            return value
        # NCCL reduces device tensors only
        local = torch.tensor([value], dtype=torch.float64, device=self.accelerator.device)
        return float(self.accelerator.reduce(local, reduction="mean")[0])

    def _lr_lambda(self, step: int) -> float:
        c = self.cfg
        if c.warmup_steps and step < c.warmup_steps:
            return (step + 1) / c.warmup_steps
        if c.schedule == "constant":
            return 1.0
        frac = min(1.0, (step - c.warmup_steps) / max(1, c.steps - c.warmup_steps))
        if c.schedule == "linear":
            return 1.0 - frac
        if c.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * frac))
        raise ValueError(f"unknown schedule {c.schedule!r}")

    def _next_indices(self, n: int, size: int) -> list[int]:
        out = []
        while len(out) < size:
            if not self._order:
                self._order = torch.randperm(n, generator=self.generator).tolist()
            out.append(self._order.pop())
        return out

    def fit(
        self, data: GroupData, loss_fn: LossFn, steps: int | None = None, length_average: bool = False
    ) -> list[float]:
        """Run ``steps`` optimiser steps (default: the configured total) of ``loss_fn`` over ``data``."""
        target = self.step + (steps if steps is not None else self.cfg.steps - self.step)
        if self.step >= target:
            return self.history
        if data.tensors and any(v.shape[0] != len(data) for v in data.tensors.values()):
            raise ValueError("every group tensor must have one row per group")
        if self._order_size is not None and self._order_size != len(data):
            self._order = []  # the data changed (BRAIn's pool grew): draw uniformly from all of it at once
        self._order_size = len(data)
        model = self.policy.model
        model.train()
        task = self.progress.add_task(self.label, total=target, completed=self.step)
        micro = max(1, self.cfg.batch_size // self.cfg.grad_accum)
        self.optimizer.zero_grad(set_to_none=True)
        while self.step < target:
            total_loss = 0.0
            metrics: dict[str, float] = {}
            for _ in range(self.cfg.grad_accum):
                batch = data.select(self._my_share(self._next_indices(len(data), micro)))
                logps = group_logprobs(self.policy, batch, length_average=length_average)
                tensors = {k: v.to(logps.device) for k, v in batch.tensors.items()}
                tensors["response_lengths"] = response_lengths(batch).to(logps.device)
                out = loss_fn(logps, tensors)
                loss, loss_metrics = out if isinstance(out, tuple) else (out, {})
                if "ref_logps" in tensors:
                    loss_metrics = {"logratio_mean": (logps - tensors["ref_logps"]).mean(), **loss_metrics}
                for name, value in loss_metrics.items():
                    metrics[name] = (
                        metrics.get(name, 0.0)
                        + float(value.detach() if torch.is_tensor(value) else value) / self.cfg.grad_accum
                    )
                loss = loss / self.cfg.grad_accum
                if self.accelerator is not None:
                    self.accelerator.backward(loss)
                else:
                    loss.backward()
                total_loss += float(loss.detach())
            total_loss = self._mean_over_processes(total_loss)  # one value on every rank: one verdict for all
            grad_norm, lr = optimizer_step(self.optimizer, model.parameters(), total_loss, self.label, self.step + 1,
                                           self.cfg.max_grad_norm, self.scheduler)
            self.policy.weights_changed()
            self.step += 1
            metrics = {name: self._mean_over_processes(value) for name, value in metrics.items()}
            self.history.append(total_loss)
            self._log_step({"step": self.step, "loss": total_loss, "grad_norm": grad_norm, "lr": lr, **metrics})
            self.progress.update(task, completed=self.step, info=f"loss {total_loss:.4f}")
            if self.cfg.checkpoint_every and self.step % self.cfg.checkpoint_every == 0:
                self.save_checkpoint()
        self.progress.remove_task(task)
        return self.history

    def finish(self):
        """End training: save a final checkpoint if asked, unwrap an accelerate-prepared model."""
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()
            self.policy.model = self.accelerator.unwrap_model(self.policy.model)
        self.policy.model.eval()
        return self.policy

    def _log_step(self, record: dict) -> None:
        if self.log_path is None or not self.is_main:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # A metric that is not finite is written as null: the log stays JSON (json.dumps would write NaN).
        record = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, allow_nan=False) + "\n")

    def _trim_log(self) -> None:
        """After a resume, drop log lines of steps the checkpoint does not contain (they will be redone)."""
        if self.log_path is None or not self.log_path.exists() or not self.is_main:
            return
        keep = [line for line in self.log_path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= self.step]
        atomic_write_text(self.log_path, "".join(line + "\n" for line in keep))

    # --- checkpoints ----------------------------------------------------------------------
    def _unwrapped(self):
        return self.policy.model if self.accelerator is None else self.accelerator.unwrap_model(self.policy.model)

    def save_checkpoint(self) -> None:
        """The trainer's state, written by the main process only (every process holds the same state)."""
        if self.checkpoint_dir is None:
            return
        if not self.is_main:
            self.accelerator.wait_for_everyone()
            return
        atomic_write_torch(self.checkpoint_dir / "trainer_state.pt", {
            "step": self.step,
            "model": self._unwrapped().state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "order": self._order,
            "order_size": self._order_size,
            "history": self.history,
        })
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()

    def _maybe_resume(self) -> None:
        if self.checkpoint_dir is None:
            self._trim_log()
            return
        path = self.checkpoint_dir / "trainer_state.pt"
        if not path.exists():
            self._trim_log()  # a fresh start: no lines from an earlier, unfinished attempt
            return
        state = torch.load(path, weights_only=False)
        self._unwrapped().load_state_dict(state["model"])
        self.policy.weights_changed()
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        self._order = list(state["order"])
        self._order_size = state.get("order_size")
        self.history = list(state["history"])
        self.step = int(state["step"])
        self._trim_log()
