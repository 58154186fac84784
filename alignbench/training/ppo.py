"""PPO with trlx's interface, implemented on alignbench's own model utilities.

trlx is not installable on a current stack, so this keeps its contract — a ``reward_fn(samples,
prompts, outputs)`` callable, a KL-penalised reward against π_sft (β = 0.1), GAE, clipped policy
and value losses, a value head sharing the policy's trunk — and implements the loop here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..distributed import refuse_multiprocess
from ..models.generation import TransformersBackend
from ..models.logprobs import allowed_bias, build_batch, token_logprobs
from ..progress import NullProgress
from ..tasks.base import call_reward
from . import losses
from .optim import optimizer_step


@dataclass
class PPOConfig:
    iterations: int = 50
    rollout_batch: int = 64  # prompts per rollout
    minibatch: int = 16
    ppo_epochs: int = 4
    lr: float = 1e-5
    beta: float = 0.1  # KL penalty coefficient against π_sft (trlx init_kl_coef)
    discount: float = 1.0  # γ
    gae_lambda: float = 0.95  # λ of GAE
    clip: float = 0.2
    clip_value: float = 0.2
    vf_coef: float = 1.0
    max_grad_norm: float = 1.0
    # Dropout off in the trained policy (TRL's PPO default): with it on, the first minibatch's ratio
    # π_θ/π_old would not be 1 and the clipped objective would chase dropout noise.
    disable_dropout: bool = True
    seed: int = 0


def disable_dropout(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0


class ValueHead(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.v = nn.Linear(hidden, 1)
        nn.init.zeros_(self.v.weight)
        nn.init.zeros_(self.v.bias)

    def forward(self, h):
        return self.v(h).squeeze(-1)


def _forward(policy, value_head, ids, attn, rmask, bias):
    out = policy.model(input_ids=ids, attention_mask=attn, output_hidden_states=True, use_cache=False)
    logps, mask = token_logprobs(out.logits, ids, rmask, bias)
    values = value_head(out.hidden_states[-1][:, :-1].float())
    return logps, values, mask


def train_ppo(policy, ref_policy, reward_fn, prompts: list[str], cfg: PPOConfig, progress=None, backend=None,
              label="ppo"):
    """Train ``policy`` in place with PPO against ``ref_policy``.

    Returns one record per iteration: mean score, sampled KL to the reference, and the largest
    |π_θ/π_old − 1| over the first minibatch of the first epoch (0 when old and new passes agree)."""
    refuse_multiprocess("PPO")
    progress = progress or NullProgress()
    if cfg.disable_dropout:
        disable_dropout(policy.model)
    backend = backend or TransformersBackend()
    device = policy.device
    value_head = ValueHead(policy.model.config.hidden_size).to(device)
    params = list(policy.model.parameters()) + list(value_head.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, fused=True)
    gen = torch.Generator().manual_seed(cfg.seed)
    bias = None
    history = []
    task = progress.add_task(label, total=cfg.iterations)
    opt.zero_grad(set_to_none=True)
    for it in range(cfg.iterations):
        pick = torch.randint(len(prompts), (cfg.rollout_batch,), generator=gen).tolist()
        batch_prompts = [prompts[i] for i in pick]
        samples = backend.sample(policy, batch_prompts, 1, seed=cfg.seed * 100003 + it)
        outputs = [row[0] for row in samples.texts]
        scores = torch.tensor(call_reward(reward_fn, batch_prompts, outputs), dtype=torch.float32)
        ids, attn, rmask = build_batch([policy.encode_prompt(p) for p in batch_prompts],
                                       [row[0] for row in samples.token_ids], policy.pad_id)
        ids, attn, rmask = ids.to(device), attn.to(device), rmask.to(device)
        if bias is None:
            bias = allowed_bias(policy.model.config.vocab_size, policy.format.allowed_token_ids, device)
        with torch.no_grad():
            policy.model.eval()
            old_logps, old_values, mask = _forward(policy, value_head, ids, attn, rmask, bias)
            ref_was_training = ref_policy.model.training
            ref_policy.model.eval()
            ref_out = ref_policy.model(input_ids=ids, attention_mask=attn, use_cache=False)
            ref_policy.model.train(ref_was_training)
            ref_logps, _ = token_logprobs(ref_out.logits, ids, rmask, bias)
            rewards = losses.kl_penalized_rewards(scores.to(device), old_logps, ref_logps, mask, cfg.beta)
            adv, returns = losses.gae_advantages(rewards, old_values, mask, cfg.discount, cfg.gae_lambda)
            adv = losses.masked_whiten(adv, mask)
        policy.model.train()
        first_ratio_dev = None
        for _ in range(cfg.ppo_epochs):
            perm = torch.randperm(cfg.rollout_batch, generator=gen)
            for s in range(0, cfg.rollout_batch, cfg.minibatch):
                mb = perm[s : s + cfg.minibatch].to(device)
                logps, values, m = _forward(policy, value_head, ids[mb], attn[mb], rmask[mb], bias)
                if first_ratio_dev is None:
                    ratio = torch.exp(logps.detach() - old_logps[mb])
                    first_ratio_dev = float(((ratio - 1).abs() * m).max())
                pg = losses.ppo_policy_loss(logps, old_logps[mb], adv[mb], m, cfg.clip)
                vf = losses.ppo_value_loss(values, old_values[mb], returns[mb], m, cfg.clip_value)
                loss = pg + cfg.vf_coef * vf
                loss.backward()
                optimizer_step(opt, params, float(loss.detach()), label, it + 1, cfg.max_grad_norm)
                policy.weights_changed()
        kl = float(((old_logps - ref_logps) * mask).sum(-1).mean())
        history.append({"iteration": it, "score": float(scores.mean()), "kl": kl,
                        "first_ratio_max_dev": first_ratio_dev})
        progress.update(task, completed=it + 1, info=f"score {history[-1]['score']:.3f} kl {kl:.2f}")
    policy.model.eval()
    return history
