"""An evaluator that needs the run's task or π_sft gets them from EvaluatorSources: no other file to touch."""

from __future__ import annotations

import numpy as np

import alignbench
from alignbench.config import validate_config
from alignbench.evaluation.evaluators import Comparison, Evaluator, register_evaluator
from alignbench.registry import EVALUATORS

SEEN = {}


class PromptInTask(Evaluator):
    """Wins where the method's prompt is one of the task's test prompts (it always is): reads sources.task."""

    name, identity = "prompt-in-task", "task lookup"

    def __init__(self, task):
        self.task = task

    def compare(self, pairs, method, baseline, seed, progress=None):
        known = {p.prompt_id for p in self.task.test_prompts}
        outcome = np.array([1.0 if m.prompt_id in known else 0.0 for m, _ in pairs])
        return Comparison(method, baseline, self.name, self.identity, seed, [m.prompt_id for m, _ in pairs], outcome)


def build(sources, argument):
    SEEN.update(task=sources.task, sft_policy=sources.sft_policy)
    return PromptInTask(sources.task)


def test_a_run_hands_its_task_and_sft_policy_to_evaluators(tmp_path):
    """Broken variant: stages/evaluate.py building EvaluatorSources without task= and sft_policy=."""
    register_evaluator("prompt-in-task")(build)
    try:
        cfg = validate_config({
            "name": "sources",
            "task": {"name": "oracle", "options": {"n_test_prompts": 8, "pairs_per_train_prompt": 2}},
            "policy": {"n_layer": 1, "n_embd": 32, "n_head": 2}, "sft": {"steps": 5}, "reward_model": {"steps": 5},
            "methods": {"sft": {}, "best-of-n": {"n": 2}},
            "evaluation": {"evaluators": ["prompt-in-task", "gold-reward"], "bootstrap": 100},
        })
        rows = alignbench.run(cfg, run_dir=tmp_path / "run", leaderboard_dir=tmp_path / "lb")
    finally:
        del EVALUATORS["prompt-in-task"]
    assert SEEN["task"].name == "oracle" and SEEN["sft_policy"] is not None and not SEEN["sft_policy"].model.training
    assert {r["win_rate"] for r in rows if r["evaluator"] == "prompt-in-task"} == {100.0}
