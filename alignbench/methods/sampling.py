"""Sampling shared by the methods: groups from a policy, rewards, SNIS (ARM Alg. 1)."""

from __future__ import annotations

import torch

from ..models.generation import TransformersBackend
from ..tasks.base import Prompt, call_reward
from ..training.losses import snis_weights
from ..training.trainer import GroupData


def sample_groups(policy, prompts: list[Prompt], n: int, seed: int, backend=None):
    """``n`` samples per prompt from ``policy``: (GroupData with token ids, texts [G][n])."""
    backend = backend or TransformersBackend()
    samples = backend.sample(policy, [p.text for p in prompts], n, seed)
    data = GroupData([policy.encode_prompt(p.text) for p in prompts], samples.token_ids)
    return data, samples.texts


def score_groups(reward_fn, prompts: list[Prompt], texts: list[list[str]]) -> torch.Tensor:
    """Rewards ``[G, n]`` from a trlx-style reward function."""
    flat_p = [p.text for p, row in zip(prompts, texts) for _ in row]
    flat_o = [o for row in texts for o in row]
    scores = call_reward(reward_fn, flat_p, flat_o)
    return torch.tensor(scores, dtype=torch.float32).view(len(prompts), -1)


def take(data: GroupData, texts: list[list[str]], rewards: torch.Tensor, index: torch.Tensor):
    """Keep the responses ``index [G, k]`` of every group."""
    idx = index.tolist()
    new = GroupData(
        data.prompt_ids,
        [[row[j] for j in cols] for row, cols in zip(data.response_ids, idx)],
    )
    new_texts = [[row[j] for j in cols] for row, cols in zip(texts, idx)]
    return new, new_texts, torch.gather(rewards, 1, index)


def snis_groups(ctx, n: int, k: int, beta: float, seed: int, draws_per_prompt: int = 1,
                prompts: list[Prompt] | None = None):
    """Groups of ``k`` samples from π* ∝ π_sft·exp(r/β), each an independent run of ARM Alg. 1
    (its own ``n`` proposals from π_sft, one draw resampled by softmax(r/β)).

    Each prompt is used ``draws_per_prompt`` times."""
    prompts = [p for p in (prompts or ctx.task.train_prompts) for _ in range(draws_per_prompt)]
    data, texts = sample_groups(ctx.sft_policy, prompts, n * k, seed, ctx.backend)
    rewards = score_groups(ctx.reward_fn, prompts, texts)
    gen = torch.Generator().manual_seed(seed + 1)
    G = len(prompts)
    blocks = rewards.view(G, k, n)
    pick = torch.multinomial(snis_weights(blocks, beta).view(G * k, n), 1, generator=gen).view(G, k)
    index = pick + torch.arange(k).view(1, k) * n
    return (prompts, *take(data, texts, rewards, index))
