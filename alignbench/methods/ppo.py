"""PPO (trlx's interface, alignbench's loop): see :mod:`alignbench.training.ppo`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

from ..io import atomic_write_text
from ..training.ppo import PPOConfig, train_ppo
from .base import Method
from .params import Params, param
from .registry import register


@dataclass(frozen=True)
class PPOParams(Params):
    """PPOConfig's fields but the seed (the run's); the defaults are PPOConfig's."""

    renamed: ClassVar[dict[str, str]] = {"gamma": "discount", "lam": "gae_lambda"}  # as TRL and OpenRLHF name them

    iterations: int = param(PPOConfig.iterations, "rollout → update iterations", positive=True)
    rollout_batch: int = param(PPOConfig.rollout_batch, "prompts per rollout", positive=True)
    minibatch: int = param(PPOConfig.minibatch, "rollouts per PPO minibatch", positive=True)
    ppo_epochs: int = param(PPOConfig.ppo_epochs, "passes over each rollout", positive=True)
    lr: float = param(PPOConfig.lr, "learning rate (AdamW) of policy and value head", positive=True)
    beta: float = param(PPOConfig.beta,
                        "KL penalty coefficient against π_sft (trlx init_kl_coef; unset: the run's beta)",
                        positive=True)
    discount: float = param(PPOConfig.discount, "γ: discount of the GAE returns", positive=True)
    gae_lambda: float = param(PPOConfig.gae_lambda, "λ of generalised advantage estimation")
    clip: float = param(PPOConfig.clip, "clip range of the policy ratio")
    clip_value: float = param(PPOConfig.clip_value, "clip range of the value update")
    vf_coef: float = param(PPOConfig.vf_coef, "weight of the value loss")
    max_grad_norm: float = param(PPOConfig.max_grad_norm, "gradient-norm clip")
    disable_dropout: bool = param(PPOConfig.disable_dropout, "dropout off in the trained policy (TRL's default)")


@register
class PPO(Method):
    name = "ppo"
    kind = "online-rl"
    description = ("PPO with trlx's interface: KL-penalised reward vs π_sft (β = 0.1), GAE, clipped "
                   "policy/value losses, value head")
    Params = PPOParams

    def fit(self, ctx):
        policy = ctx.sft_policy.clone()
        cfg = PPOConfig(**{**self.hp, "seed": ctx.seed})
        history = train_ppo(
            policy, ctx.sft_policy, ctx.reward_fn, [p.text for p in ctx.task.train_prompts], cfg, ctx.progress,
            ctx.backend, self.label
        )
        atomic_write_text(ctx.run_dir / "train_log.jsonl", "".join(json.dumps(r) + "\n" for r in history))
        return policy

    def target_beta(self, task=None):
        return self.params.beta
