"""The one adapter interface every alignment method implements.

A method is a class registered under a name. The comparison driver builds a
:class:`MethodContext` (SFT policy = reference, reward function, task data, hyper-parameters,
run directory, seed) and calls ``method.fit(ctx)``, which returns something that can
``generate(prompts, n, seed)``. The driver never branches on the method's name.

How each family fits the one contract:

* **Offline group methods** (DPO, DPO-sft, ARM-BT, ARM-PL, EXO, EXO-pref, DPO-rw, BRAIn,
  expert iteration, RSO, IPO, SLiC, KTO, ORPO, RRHF, PRO, DPO-PL, Preferred-FT, RAFT, online DPO):
  ``fit`` builds groups of K responses per prompt (dataset pairs, samples from π_sft, SNIS or
  rejection samples from π*), attaches per-group tensors (rewards, soft labels, importance
  weights) and hands them with a pure loss from :mod:`alignbench.training.losses` to the shared
  :class:`~alignbench.training.trainer.GroupTrainer`, which caches π_sft log-probs once and
  trains a copy of the SFT policy. BRAIn, RAFT and online DPO call the trainer in rounds,
  sampling each round from the policy being trained.
* **Inference-time methods** (best-of-n): ``fit`` trains nothing and returns a policy wrapper
  whose ``generate`` samples n responses from π_sft and keeps the best by reward.
* **Online RL** (PPO): ``fit`` runs its own rollout → reward → KL-penalised advantage → clipped
  update loop (:mod:`alignbench.training.ppo`) over the same model utilities, and returns the
  trained policy.
* **Reference** (sft): returns π_sft itself.

``target_beta()`` names the β of the KL-regularised target π*_β ∝ π_sft·exp(r/β) the method
optimises towards (None when it has none); the oracle task uses it to report the exact KL to the
method's own target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from ..progress import NullProgress
from ..tasks.base import TaskData
from .params import Params


@dataclass
class MethodContext:
    task: TaskData
    sft_policy: Any  # also the reference policy; methods never modify it
    reward_fn: Callable  # trlx convention: reward_fn(samples, prompts, outputs) -> list[float]
    run_dir: Path
    seed: int = 0
    progress: Any = field(default_factory=NullProgress)
    backend: Any = None  # generation backend (transformers by default)


class Method:
    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""  # reference | supervised | offline-group | inference-time | online-rl
    description: ClassVar[str] = ""
    # The method's typed hyper-parameters (defaults, checks, one-line help): see alignbench.methods.params.
    Params: ClassVar[type[Params]] = Params

    def __init__(self, params: dict | None = None, label: str | None = None):
        self.label = label or self.name
        self.params = self.Params.from_dict(params, self.label)

    @property
    def hp(self) -> dict:
        """The hyper-parameters as a plain dict (the run's metrics.json records it)."""
        return self.params.as_dict()

    def fit(self, ctx: MethodContext):
        raise NotImplementedError

    def target_beta(self, task=None) -> float | None:
        return None
