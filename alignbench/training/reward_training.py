"""Reward-model training: Bradley–Terry on pairs, or the ARM paper's non-pairwise (pointwise) loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..progress import NullProgress
from ..tasks.base import Pair
from . import losses
from .optim import optimizer_step


@dataclass
class RewardTrainConfig:
    loss: str = "bradley-terry"  # bradley-terry | pointwise
    steps: int = 300
    lr: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 0.0
    seed: int = 0


def train_reward_model(
    rm, pairs: list[Pair], cfg: RewardTrainConfig, progress=None, label: str = "reward model"
) -> list[float]:
    """Train ``rm`` in place; returns per-step losses.

    ``pointwise`` simulates non-pairwise feedback as in ARM §5.3: each pair contributes one of its
    two responses at random, labelled z = 1 if it was the chosen one.
    """
    if cfg.loss not in ("bradley-terry", "pointwise"):
        raise ValueError(f"unknown reward loss {cfg.loss!r} (bradley-terry or pointwise)")
    progress = progress or NullProgress()
    gen = torch.Generator().manual_seed(cfg.seed)
    params = [p for p in rm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    if cfg.loss == "pointwise":
        pick = torch.rand(len(pairs), generator=gen) < 0.5
        points = [(p.prompt, p.chosen if c else p.rejected, 1.0 if c else 0.0) for p, c in zip(pairs, pick.tolist())]
    history = []
    task = progress.add_task(label, total=cfg.steps)
    rm.train()
    opt.zero_grad(set_to_none=True)
    order: list[int] = []
    for step in range(cfg.steps):
        idx = []
        while len(idx) < cfg.batch_size:
            if not order:
                order = torch.randperm(len(pairs), generator=gen).tolist()
            idx.append(order.pop())
        if cfg.loss == "bradley-terry":
            batch = [pairs[i] for i in idx]
            prompts = [p.prompt for p in batch]
            r = rm.scores(prompts + prompts, [p.chosen for p in batch] + [p.rejected for p in batch])
            loss = losses.bradley_terry_loss(r[: len(batch)], r[len(batch):])
        else:
            batch = [points[i] for i in idx]
            r = rm.scores([b[0] for b in batch], [b[1] for b in batch])
            loss = losses.pointwise_bce_loss(r, torch.tensor([b[2] for b in batch], device=r.device))
        loss.backward()
        optimizer_step(opt, params, float(loss.detach()), label, step + 1)
        history.append(float(loss.detach()))
        progress.update(task, completed=step + 1, info=f"loss {history[-1]:.4f}")
    rm.eval()
    return history


@torch.no_grad()
def pairwise_accuracy(rm, pairs: list[Pair]) -> float:
    """Fraction of pairs where the chosen response scores strictly higher (ties count ½)."""
    prompts = [p.prompt for p in pairs]
    chosen = torch.tensor(rm.score(prompts, [p.chosen for p in pairs]))
    rejected = torch.tensor(rm.score(prompts, [p.rejected for p in pairs]))
    return float(((chosen > rejected).float() + 0.5 * (chosen == rejected).float()).mean())
