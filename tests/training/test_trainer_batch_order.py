"""The shared trainer's batch order when the data set changes between ``fit`` calls.

BRAIn (Alg. 1) trains on a pool D_t that grows every round and samples its batches uniformly from
D_t. The broken variant these tests catch is today's-before-the-fix trainer, which first finished
the permutation drawn for D_{t-1}, so the first steps of every round saw only old samples.
"""

from __future__ import annotations

import functools

import torch

from alignbench.models.factory import build_policy
from alignbench.models.policy import TinyGPT2Spec
from alignbench.tasks.oracle import OracleSpec, load_oracle
from alignbench.training.trainer import GroupData, GroupTrainer, TrainConfig


@functools.lru_cache(maxsize=1)
def _task():
    return load_oracle(OracleSpec(n_test_prompts=8))


def _policy():
    task = _task()
    return build_policy(task, None, TinyGPT2Spec(n_layer=1, n_embd=16, n_head=2), seed=0)


def _pool(policy, size: int) -> GroupData:
    """``size`` one-response groups; tensor ``row`` names each group so a loss can see which were drawn."""
    pairs = _task().train_pairs[:size]
    return GroupData([policy.encode_prompt(p.prompt) for p in pairs],
                     [[policy.encode_response(p.chosen)] for p in pairs], {"row": torch.arange(size)})


def _recording_loss(seen: list):
    def loss_fn(logps, batch):
        seen.append(batch["row"].tolist())
        return -logps.mean()

    return loss_fn


def test_first_batch_after_the_pool_grows_can_hold_new_items():
    """Old pool of 8, one step of batch 1 (7 old items left in the permutation), pool grows to 64.
    The next batch of 4 is drawn from all 64: the pre-fix trainer drew it from the 7 old ones."""
    policy = _policy()
    trainer = GroupTrainer(policy, TrainConfig(steps=100, lr=1e-4, batch_size=1, seed=0))
    seen: list = []
    trainer.fit(_pool(policy, 8), _recording_loss(seen), steps=1)
    trainer.cfg.batch_size = 4
    seen.clear()
    trainer.fit(_pool(policy, 64), _recording_loss(seen), steps=1)
    assert any(i >= 8 for i in seen[0]), f"first batch after growth {seen[0]} holds only old items"


def test_new_items_share_the_first_batch_in_proportion():
    """Over 200 seeds, the first draw after the pool grows from 4 to 8 is a new item about half the time
    (uniform over D_t); the pre-fix trainer gave 0 of 200."""
    policy = _policy()
    small, big = _pool(policy, 4), _pool(policy, 8)
    new = 0
    for seed in range(200):
        trainer = GroupTrainer(policy, TrainConfig(steps=100, lr=0.0, batch_size=1, seed=seed))
        seen: list = []
        trainer.fit(small, _recording_loss(seen), steps=1)
        trainer.fit(big, _recording_loss(seen), steps=1)
        new += seen[1][0] >= 4
    # Binomial(200, 1/2): mean 100, sd ≈ 7; the bounds are ±4.2 sd.
    assert 70 <= new <= 130, f"{new}/200 first draws after growth were new items"


def test_resume_after_growth_continues_the_same_order(tmp_path):
    """A run checkpointed mid-permutation of the grown pool and resumed draws the same batches as an
    uninterrupted run (a trainer that reshuffled on every ``fit`` call would not)."""

    def run(stop_after: int | None):
        policy = _policy()
        cfg = TrainConfig(steps=100, lr=1e-3, batch_size=2, seed=3, checkpoint_every=1)
        directory = tmp_path / ("resumed" if stop_after else "straight")
        seen: list = []
        trainer = GroupTrainer(policy, cfg, checkpoint_dir=directory)
        trainer.fit(_pool(policy, 6), _recording_loss(seen), steps=2)
        if stop_after:
            trainer.fit(_pool(policy, 12), _recording_loss(seen), steps=stop_after)
            trainer = GroupTrainer(_policy(), cfg, checkpoint_dir=directory)  # a fresh process resumes
            assert trainer.step == 2 + stop_after
        trainer.fit(_pool(policy, 12), _recording_loss(seen), steps=6 - (stop_after or 0))
        return seen

    assert run(stop_after=2) == run(stop_after=None)
