"""One optimiser step, as every trainer here takes it: the group trainer, PPO and reward-model training."""

from __future__ import annotations

import math
from typing import Iterable

import torch

from ..errors import AlignbenchError


def optimizer_step(optimizer, params: Iterable[torch.Tensor], loss: float, label: str, step: int,
                   max_grad_norm: float | None = None, scheduler=None) -> tuple[float | None, float]:
    """After the step's backward pass(es): clip the gradient norm of ``params`` to ``max_grad_norm`` (0 or None:
    no clipping), stop on a loss or norm that is not finite (before the step, so the weights stay finite), step,
    advance the schedule and clear the gradients (the caller clears them once before its first step).

    Returns the gradient norm before clipping (None when not clipped) and the learning rate the step used."""
    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_grad_norm)) if max_grad_norm else None
    lr = optimizer.param_groups[0]["lr"]
    check_finite(label, step, loss, grad_norm, lr)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm, lr


def lr_setting(label: str) -> str:
    """The config setting behind a trainer's learning rate, from its label ('sft', 'reward model (…)', a method's)."""
    if label == "sft":
        return "sft.lr"
    if label.startswith("reward model"):
        return "reward_model.lr"
    return f"methods.{label.split('@')[0]}.lr"


def check_finite(label: str, step: int, loss: float, grad_norm: float | None, lr: float) -> None:
    """Training stops at the first loss (or gradient) that is not a finite number, naming where and what to change."""
    if math.isfinite(loss) and (grad_norm is None or math.isfinite(grad_norm)):
        return
    what = f"the loss is {loss}" if not math.isfinite(loss) else f"the gradient norm is {grad_norm}"
    raise AlignbenchError(f"{label}: training diverged at step {step}: {what}; lower setting '{lr_setting(label)}' "
                          f"(the learning rate was {lr:g}); the steps before it are kept in the run directory")
