"""Shared glue for offline group methods: train a copy of π_sft on groups with a pure loss."""

from __future__ import annotations

import torch

from ..training.trainer import GroupData, GroupTrainer, TrainConfig, cache_logprobs
from .params import OfflineParams, RankedParams, RoundsParams, SampledParams
from .sampling import sample_groups, score_groups


def train_config(params: OfflineParams, seed: int, steps: int | None = None) -> TrainConfig:
    """The trainer's settings from a method's hyper-parameters; ``steps`` overrides theirs (methods in rounds)."""
    return TrainConfig(
        steps=int(params.steps if steps is None else steps),
        lr=float(params.lr),
        batch_size=int(params.batch_size),
        grad_accum=int(params.grad_accum),
        warmup_steps=int(params.warmup_steps),
        schedule=params.schedule,
        checkpoint_every=int(params.checkpoint_every),
        seed=seed,
    )


def train_on_groups(ctx, method, data: GroupData, loss_fn, length_average: bool = False, needs_reference: bool = True):
    """Cache π_sft log-probs, then train a fresh copy of the SFT policy on ``data``."""
    if needs_reference:
        cache_logprobs(ctx.sft_policy, data, "ref_logps", length_average=length_average)
    policy = ctx.sft_policy.clone()
    trainer = GroupTrainer(policy, train_config(method.params, ctx.seed), ctx.progress, ctx.run_dir / "checkpoint",
                           label=method.label, log_path=ctx.run_dir / "train_log.jsonl")
    trainer.fit(data, loss_fn, length_average=length_average)
    trainer.finish()
    return policy


def rounds_trainer(ctx, method, policy) -> GroupTrainer:
    """The trainer of a method that trains in rounds (rounds × steps_per_round steps). No mid-method
    checkpoints: a resumed run would draw its early rounds from the wrong policy."""
    params = method.params
    cfg = train_config(params, ctx.seed, steps=int(params.rounds) * int(params.steps_per_round))
    return GroupTrainer(policy, cfg, ctx.progress, None, label=method.label, log_path=ctx.run_dir / "train_log.jsonl")


def sampled_rounds(ctx, params: RoundsParams, policy, n: int):
    """Each round ``(t, prompts, data, texts, rewards)``: ``prompts_per_round`` training prompts drawn without
    replacement, ``n`` samples each from ``policy`` as it is when the round starts, and their rewards [G, n].
    A round is drawn only when the previous one's training is done (this is a generator)."""
    gen = torch.Generator().manual_seed(ctx.seed)
    prompts_all = training_prompts(ctx, params)
    for t in range(int(params.rounds)):
        pick = torch.randperm(len(prompts_all), generator=gen)[: int(params.prompts_per_round)].tolist()
        prompts = [prompts_all[i] for i in pick]
        data, texts = sample_groups(policy, prompts, n, ctx.seed + 1000 * t, ctx.backend)
        yield t, prompts, data, texts, score_groups(ctx.reward_fn, prompts, texts)


def concat_groups(a: GroupData, b: GroupData) -> GroupData:
    """``a``'s groups then ``b``'s (same group size, same per-group tensors)."""
    if a.group_size != b.group_size:
        raise ValueError("groups of different sizes")
    return GroupData(
        a.prompt_ids + b.prompt_ids,
        a.response_ids + b.response_ids,
        {k: torch.cat([a.tensors[k], b.tensors[k]]) for k in a.tensors},
    )


def pair_groups(policy, pairs) -> GroupData:
    """Groups of K = 2 from the dataset's pairs: (chosen, rejected) for each prompt."""
    return GroupData(
        [policy.encode_prompt(p.prompt) for p in pairs],
        [[policy.encode_response(p.chosen), policy.encode_response(p.rejected)] for p in pairs],
    )


def training_prompts(ctx, params: SampledParams):
    """The task's training prompts, or the first ``max_prompts`` of them (sampling methods on CPU)."""
    n = params.max_prompts
    return ctx.task.train_prompts[: int(n)] if n else ctx.task.train_prompts


def scored_sft_groups(ctx, params: SampledParams, k: int, groups_per_prompt: int = 1):
    """``k`` samples per training prompt from π_sft with their reward-model scores: (GroupData, rewards [G, k])."""
    prompts = [p for p in training_prompts(ctx, params) for _ in range(groups_per_prompt)]
    data, texts = sample_groups(ctx.sft_policy, prompts, k, ctx.seed, ctx.backend)
    return data, score_groups(ctx.reward_fn, prompts, texts)


def winner_first(data: GroupData, rewards, pairs) -> tuple[GroupData, list[int]]:
    """Pairs ``(i, a, b)`` (group i, responses a and b) as K = 2 groups, higher reward first; pairs the
    reward model ties carry no preference and are left out. Returns the pairs and their group rows."""
    prompt_ids, response_ids, rows = [], [], []
    for i, a, b in pairs:
        if rewards[i, a] == rewards[i, b]:
            continue
        w, l = (a, b) if rewards[i, a] > rewards[i, b] else (b, a)
        prompt_ids.append(data.prompt_ids[i])
        response_ids.append([data.response_ids[i][w], data.response_ids[i][l]])
        rows.append(i)
    return GroupData(prompt_ids, response_ids), rows


def ranked_groups(ctx, params: RankedParams):
    """``group_size`` π_sft samples per prompt with their rewards in ``tensors['rewards']`` (RRHF, PRO, DPO-PL)."""
    data, rewards = scored_sft_groups(ctx, params, int(params.group_size), int(params.groups_per_prompt))
    data.tensors["rewards"] = rewards
    return data
