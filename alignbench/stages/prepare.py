"""Stage 1: load the task, check the config against it, train π_sft and the reward model (or reload them)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..config import Config
from ..distributed import main_then_load
from ..errors import AlignbenchError
from ..models.encoder_reward import EncoderRewardModel
from ..models.exact import ExactEnumeration
from ..models.factory import build_policy
from ..models.policy import TinyGPT2Spec, load_policy
from ..models.reward import CausalLMRewardModel, load_reward_model
from ..rundir import RunDir
from ..tasks import load_task
from ..tasks.base import TaskData
from ..training.losses import sft_nll_loss
from ..training.reward_training import RewardTrainConfig, pairwise_accuracy, train_reward_model
from ..training.trainer import GroupData, GroupTrainer, TrainConfig, group_logprobs, response_lengths


@dataclass
class Shared:
    """What every method of a run shares: the task, π_sft (= the reference), the reward it trains on."""

    task: TaskData
    sft: Any
    reward_fn: Callable  # what methods train on: the reward model's, or the true reward (train_reward: gold)
    reward_model: Any  # the trained reward model (an evaluator, and the default reward_fn)
    rm_accuracy: float | None
    enumeration: ExactEnumeration | None = None  # every response of every test prompt, when the task can enumerate them


def prepare_shared(cfg: Config, rd: RunDir, progress) -> Shared:
    task = load_task(cfg.task.name, cfg.task.options, seed=cfg.seed)
    check_config_against_task(cfg, task)
    if "task_version" in task.meta:  # a task declared as data: which declaration of its files and split this run read
        rd.manifest["task"] = {"name": task.name, "version": task.meta["task_version"],
                               "file": task.meta.get("task_file")}
        rd._save_manifest()
    for note in task.meta.get("notes", []):
        progress.log(f"task {task.name}: {note}")
    sft = train_sft(cfg, rd, task, progress)
    rm, accuracy = train_reward(cfg, rd, task, sft, progress)
    sft.lora = cfg.policy.lora
    rm.eval()
    reward_fn = task.gold_reward if cfg.train_reward == "gold" else rm.as_reward_fn()
    return Shared(task, sft, reward_fn, rm, accuracy, enumeration(task, sft))


def check_config_against_task(cfg: Config, task) -> None:
    """Settings that only make sense for some tasks fail here, before any training."""
    if not task.train_pairs:
        raise AlignbenchError(f"task {task.name}: no training pairs")
    if not task.test_prompts:
        raise AlignbenchError(f"task {task.name}: no test prompts to generate on")
    if task.gold_reward is None:
        if cfg.train_reward == "gold":
            raise AlignbenchError(f"setting 'train_reward': gold needs a task with a true reward; {task.name} has none")
        if "gold-reward" in cfg.evaluation.evaluators:
            raise AlignbenchError("setting 'evaluation.evaluators': gold-reward needs a task with a "
                                  f"true reward; {task.name} has none (use reward-model or an LLM judge)")
    if "sft" in cfg.evaluation.baselines and "sft" not in cfg.methods:
        raise AlignbenchError("setting 'evaluation.baselines': 'sft' needs the sft method in 'methods'")


def train_sft(cfg: Config, rd: RunDir, task, progress):
    """π_sft: token-level NLL of the chosen responses (``sft.normalization``), in eval mode from here on."""
    sft_dir = rd.path / "sft"
    if rd.done("sft"):
        sft = load_policy(sft_dir)
        sft.model.eval()
        return sft
    t0 = time.time()
    pc = cfg.policy
    sft = build_policy(task, pc.path, TinyGPT2Spec(pc.n_layer, pc.n_embd, pc.n_head), seed=cfg.seed,
                       tokenizer_vocab=pc.tokenizer_vocab, max_new_tokens=pc.max_new_tokens,
                       max_prompt_tokens=pc.max_prompt_tokens)
    # SFT imitates the preferred responses: the chosen ones, or the desirable completions of unpaired data
    if task.train_unpaired or task.meta.get("prompt_only"):
        examples = [(x.prompt, x.completion) for x in task.train_unpaired if x.label]
    else:
        examples = [(p.prompt, p.chosen) for p in task.train_pairs]
    data = GroupData([sft.encode_prompt(x) for x, _ in examples], [[sft.encode_response(y)] for _, y in examples])
    held = task.test_pairs
    held_data = GroupData([sft.encode_prompt(p.prompt) for p in held], [[sft.encode_response(p.chosen)] for p in held])

    def heldout_nll():  # token-level NLL of the held-out chosen responses
        if not held:
            return None
        return float(-group_logprobs(sft, held_data, grad=False).sum() / response_lengths(held_data).sum())

    nll_before = heldout_nll()
    norm = cfg.sft.normalization
    final_loss = None
    if cfg.sft.steps:
        if not data.prompt_ids:
            raise AlignbenchError(f"task {task.name}: no responses to train SFT on (the "
                                  "data holds no chosen or desirable responses); set sft.steps: 0 "
                                  "to use the given model as π_sft")
        trainer = GroupTrainer(sft,
                               TrainConfig(steps=cfg.sft.steps, lr=cfg.sft.lr, batch_size=cfg.sft.batch_size,
                                           seed=cfg.seed),
                               progress, label="sft", log_path=rd.path / "sft_train_log.jsonl")
        trainer.fit(data, lambda lp, b: sft_nll_loss(lp[:, 0], b["response_lengths"][:, 0], norm))
        trainer.finish()  # unwrapped from accelerate
        final_loss = trainer.history[-1]
    sft.model.eval()  # π_sft is the reference from here on: every later pass over it is a scoring pass
    nll_after = heldout_nll() if cfg.sft.steps else nll_before
    if rd.writes:
        sft.save(sft_dir)
    rd.mark_done("sft", time.time() - t0, {"heldout_nll_before": nll_before, "heldout_nll_after": nll_after,
                                           "params": sft.n_params(), "final_loss": final_loss, "normalization": norm,
                                           "steps": cfg.sft.steps})
    held_msg = f"held-out token NLL {nll_before:.3f} → {nll_after:.3f}" if held else "no held-out pairs"
    if not cfg.sft.steps:
        held_msg = f"sft.steps 0: the given model is π_sft ({held_msg})"
    progress.log(f"sft: {sft.n_params():,} params, {held_msg} ({time.time() - t0:.1f}s)")
    return sft


def train_reward(cfg: Config, rd: RunDir, task, sft, progress):
    """The reward model and its held-out pairwise accuracy (None without held-out pairs). Under accelerate launch
    rank 0 trains it (its loop does not shard) and the other processes load what it saved."""
    rm_dir = rd.path / "reward_model"

    def load():
        return load_reward_model(cfg.reward_model.path or rm_dir), rd.stage_info("reward_model").get("heldout_accuracy")

    if rd.done("reward_model"):
        return load()
    return main_then_load(lambda: _train_reward(cfg, rd, task, sft, progress), load)


def _train_reward(cfg: Config, rd: RunDir, task, sft, progress):
    rm_dir = rd.path / "reward_model"
    t0 = time.time()
    rc = cfg.reward_model
    if rc.path:  # the user's reward model: nothing is trained
        rm = load_reward_model(rc.path)
        acc = pairwise_accuracy(rm, task.test_pairs) if task.test_pairs else None
        rd.mark_done("reward_model", time.time() - t0, {"heldout_accuracy": acc, "path": str(rc.path), "kind": rm.kind})
        acc_msg = (
            f"held-out pairwise accuracy {acc:.3f}" if acc is not None else "no held-out pairs to measure accuracy on"
        )
        progress.log(f"reward model: {rc.path} ({rm.kind}), {acc_msg} ({time.time() - t0:.1f}s)")
        return rm, acc
    if task.train_unpaired or task.meta.get("prompt_only"):
        raise AlignbenchError(f"task {task.name}: {task.meta.get('source')} has no preference "
                              "pairs to train a reward model on; name one with setting 'reward_model.path'")
    if rc.backbone == "minilm":
        rm = EncoderRewardModel(finetune=rc.finetune)
    else:
        torch.manual_seed(cfg.seed)
        rm = CausalLMRewardModel.from_policy(sft, rc.pooling)
    train_reward_model(rm, task.train_pairs,
                       RewardTrainConfig(loss=rc.loss, steps=rc.steps, lr=rc.lr, batch_size=rc.batch_size,
                                         seed=cfg.seed),
                       progress, label=f"reward model ({rc.loss})")
    acc = pairwise_accuracy(rm, task.test_pairs) if task.test_pairs else None
    rm.save(rm_dir)
    rd.mark_done("reward_model", time.time() - t0, {"heldout_accuracy": acc, "loss": rc.loss, "backbone": rc.backbone,
                                                    "finetune": rc.finetune if rc.backbone == "minilm" else "full"})
    acc_msg = f"held-out pairwise accuracy {acc:.3f}" if acc is not None else "no held-out pairs to measure accuracy on"
    progress.log(f"reward model: {acc_msg} ({time.time() - t0:.1f}s)")
    return rm, acc


def enumeration(task, sft) -> ExactEnumeration | None:
    """The run's exact enumeration (computed lazily, once) when the task's responses can be enumerated."""
    if task.gold_reward is None or task.response_alphabet is None:
        return None
    return ExactEnumeration(sft, [p.text for p in task.test_prompts], task.gold_reward)
