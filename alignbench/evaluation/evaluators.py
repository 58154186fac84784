"""Evaluators: one small class per way of judging a method's outputs against a baseline's, registered by name.

An evaluator turns aligned (method output, baseline output) pairs of one seed into a
:class:`Comparison`: the per-prompt outcomes from the method's side (1 win, ½ tie, 0 loss, NaN no usable
verdict) and whatever the statistics need besides (rewards, both presentation orders, lengths).
:mod:`alignbench.evaluation.evaluate` turns comparisons into leaderboard rows; nothing else does.

Adding an evaluator: a class with ``name``, ``identity`` and ``compare()``, and a builder registered with
``@register_evaluator("<spec prefix>")`` that makes it from an :class:`EvaluatorSources`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import AlignbenchError
from ..plugins import check_kind, load_plugin
from ..registry import EVALUATORS, check_entry_name
from ..stats import combine_orders
from ..tasks.base import call_reward
from ..tasks.chat import prompt_from_record
from .comparison import Comparison  # defined in a leaf the benchmark readers share; plugins import it from here
from .judge_config import JudgeConfig, check_reachable, load_judge
from ..secrets import redact
from .llm_judge import build_requests, judge_pairs, judge_requests
from .grading_item import GradingItem
from .mtbench import grading_requests, ratings
from .store import JudgmentStore


def lengths(texts) -> np.ndarray:
    return np.array([len(t) for t in texts], dtype=float)


class Evaluator:
    """Judges aligned (method, baseline) output pairs; ``name`` is the leaderboard's 'evaluator' column."""

    name: str = ""
    identity: str = ""
    seconds: float = 0.0  # spent in prepare() and compare() by the last evaluation (the run's manifest keeps it)

    def prepare(self, jobs: list[tuple[list, str, str, int]], progress=None) -> None:
        """Called once, before the first :meth:`compare`, with every ``(pairs, method, baseline, seed)`` this
        evaluator will be asked to compare: an evaluator that talks to a server sends all its requests here, so
        they share one connection pool and fill its concurrency. Default: nothing."""

    def compare(self, pairs, method: str, baseline: str, seed: int, progress=None) -> Comparison:
        raise NotImplementedError


class RewardEvaluator(Evaluator):
    """Pointwise: one reward function scores both responses; strictly higher wins, equal is a tie."""

    def __init__(self, name: str, reward_fn: Callable, identity: str, reward_model=None,
                 notify: Callable[[str], None] | None = None):
        self.name, self.reward_fn, self.identity = name, reward_fn, identity
        self.reward_model = reward_model  # with a context window: responses it had to cut are counted
        self.notify = notify

    def compare(self, pairs, method, baseline, seed, progress=None) -> Comparison:
        # a conversation again, for chat-template RMs
        prompts = [prompt_from_record(m.prompt, m.extra) for m, _ in pairs]
        scores = call_reward(self.reward_fn, prompts + prompts,
                             [m.output for m, _ in pairs] + [r.output for _, r in pairs])
        mine, theirs = np.array(scores[: len(pairs)]), np.array(scores[len(pairs):])
        outcome = np.where(mine > theirs, 1.0, np.where(mine < theirs, 0.0, 0.5))
        cut = None
        if self.reward_model is not None:
            cut = int(sum(self.reward_model.truncated(prompts, [m.output for m, _ in pairs])))
            if cut and self.notify:
                self.notify(f"{method} vs {baseline}: the {self.name} cut {cut} of {len(pairs)} "
                            "response(s) to fit its context (scored on what fits; column n_truncated)")
        return Comparison(method, baseline, self.name, self.identity, seed, [m.prompt_id for m, _ in pairs], outcome,
                          method_reward=mine, baseline_reward=theirs, n_truncated=cut)


class _JudgeEvaluator(Evaluator):
    """An LLM judge over HTTP (an OpenAI-compatible endpoint) with its resumable judgment store."""

    prefix = ""  # the 'evaluator' column is <prefix>:<judge name>

    def __init__(self, judge: JudgeConfig, store_path: Path, notify: Callable[[str], None] | None = None):
        self.judge = judge
        self.name, self.identity = f"{self.prefix}:{judge.name}", judge.identity()
        self.store = JudgmentStore(store_path)
        self.notify = notify


class LLMJudgeEvaluator(_JudgeEvaluator):
    """A pairwise LLM judge, both presentation orders by default."""

    prefix = "llm"
    _failed: dict[str, dict] = {}  # key → failure record, from prepare(): not requested a second time by compare()

    def prepare(self, jobs, progress=None) -> None:
        requests = [
            r for pairs, method, baseline, _ in jobs for r in build_requests(pairs, self.judge, method, baseline)
        ]
        info = judge_requests(requests, self.judge, self.store, progress)
        self._failed = {f["key"]: f for f in info.failures}

    def compare(self, pairs, method, baseline, seed, progress=None) -> Comparison:
        first, second, info, _ = judge_pairs(pairs, self.judge, self.store, method, baseline, progress,
                                             known_failures=self._failed)
        if info.failures and np.isnan(first).all() and (second is None or np.isnan(second).all()):
            # Name the transport failure (a 401, a time-out) rather than "no prompt has a usable verdict".
            raise AlignbenchError(f"judge {self.judge.name}: every judgment of {method} failed "
                                  f"({len(info.failures)} failures, first: {info.failures[0]['error']}); see "
                                  f"{self.store.path.stem}.failures.jsonl")
        if info.failures and self.notify:
            self.notify(f"{len(info.failures)} judgment(s) of {method} failed after retries "
                        f"(see {self.store.path.stem}.failures.jsonl); re-run to retry them")
        return Comparison(method, baseline, self.name, self.identity, seed, [m.prompt_id for m, _ in pairs],
                          combine_orders(first, second), first=first, second=second,
                          method_length=lengths(m.output for m, _ in pairs),
                          baseline_length=lengths(r.output for _, r in pairs),
                          n_request_failures=len(info.failures), template_sha=self.judge.template_sha)


class SingleAnswerEvaluator(_JudgeEvaluator):
    """An LLM judge that grades each response on its own (``mode: single``, MT-Bench's 1–10 rating): pointwise,
    like a reward model — the higher rating wins, equal ratings tie, a missing rating leaves the prompt out."""

    prefix = "llm-single"

    def compare(self, pairs, method, baseline, seed, progress=None) -> Comparison:
        mine = grading_requests([GradingItem(m.prompt_id, [m.prompt], [m.output], method) for m, _ in pairs],
                                self.judge)
        theirs = grading_requests([GradingItem(r.prompt_id, [r.prompt], [r.output], baseline) for _, r in pairs],
                                  self.judge)
        info = judge_requests(mine + theirs, self.judge, self.store, progress)
        if info.failures and self.notify:
            self.notify(f"{len(info.failures)} grading(s) of {method} vs {baseline} failed after retries "
                        f"(see {self.store.path.stem}.failures.jsonl); re-run to retry them")
        ids = [m.prompt_id for m, _ in pairs]
        a, b = ratings(mine, self.store), ratings(theirs, self.store)
        x, y = np.array([a[(i, "turn-1")] for i in ids]), np.array([b[(i, "turn-1")] for i in ids])
        outcome = np.where(np.isnan(x) | np.isnan(y), np.nan, np.where(x > y, 1.0, np.where(x < y, 0.0, 0.5)))
        return Comparison(method, baseline, self.name, self.identity, seed, ids, outcome, method_reward=x,
                          baseline_reward=y,
                          n_request_failures=len(info.failures), template_sha=self.judge.template_sha)


@dataclass
class EvaluatorSources:
    """What evaluators are built from: the run's reward model, the task's true reward, the task and π_sft (in a
    run), where judgments go."""

    reward_model: Any = None  # a trained reward model (``as_reward_fn()``, ``truncated()``)
    reward_model_identity: str = ""
    gold_reward: Callable | None = None
    task: Any = None  # the run's TaskData (None outside a run: judge-only re-evaluation)
    sft_policy: Any = None  # π_sft, eval mode (None outside a run)
    judgments_dir: Path = Path(".")
    judgments_file: Callable[[JudgeConfig], Path] | None = None  # default: <judgments_dir>/<judge name>.jsonl
    base_url: str | None = None  # overrides every LLM judge's base_url (judge-only --base-url)
    notify: Callable[[str], None] = field(default=lambda msg: print(redact(f"alignbench: {msg}"), file=sys.stderr))


def register_evaluator(prefix: str):
    """A builder for evaluator specs ``prefix`` or ``prefix:<argument>``: a built-in one must be what
    ``alignbench.registry.EVALUATORS``'s table names (a missing line fails at import); one from outside alignbench
    is added at run time."""

    def deco(builder: Callable[[EvaluatorSources, str], Evaluator]):
        if builder.__module__.startswith("alignbench."):
            check_entry_name(EVALUATORS, prefix, builder)
        else:
            EVALUATORS.add(prefix, builder)
        return builder

    return deco


@register_evaluator("reward-model")
def run_reward_model(sources: EvaluatorSources, argument: str) -> Evaluator:
    rm = sources.reward_model
    if rm is None:
        raise AlignbenchError("evaluator reward-model is a run's own reward model; outside a run "
                              "name a saved one: rm:<directory>")
    return RewardEvaluator("reward-model", rm.as_reward_fn(), sources.reward_model_identity, rm, sources.notify)


@register_evaluator("gold-reward")
def gold_reward(sources: EvaluatorSources, argument: str) -> Evaluator:
    if sources.gold_reward is None:
        raise AlignbenchError("evaluator gold-reward needs a task with a true reward")
    return RewardEvaluator("gold-reward", sources.gold_reward, "true reward r*")


@register_evaluator("rm")
def saved_reward_model(sources: EvaluatorSources, argument: str) -> Evaluator:
    from ..models.reward import load_reward_model  # lazy: judge-only LLM runs never load torch models

    rm = load_reward_model(argument)
    return RewardEvaluator("reward-model", rm.as_reward_fn(), f"rm:{argument}", rm, sources.notify)


@register_evaluator("llm")
def llm_judge(sources: EvaluatorSources, argument: str) -> Evaluator:
    judge = load_judge(argument, sources.base_url)
    judge.api_key()  # a missing key is reported before anything is judged
    check_reachable(judge)
    path = sources.judgments_file(judge) if sources.judgments_file else sources.judgments_dir / f"{judge.name}.jsonl"
    kind = LLMJudgeEvaluator if judge.mode == "pairwise" else SingleAnswerEvaluator
    return kind(judge, path, sources.notify)


def build_evaluator(spec: str, sources: EvaluatorSources) -> Evaluator:
    """A registered name, with its argument after a colon where it takes one: ``reward-model``, ``gold-reward``,
    ``rm:<saved reward model dir>``, ``llm:<judge YAML name or path>``; the user's own builder
    (``package.module:builder`` or an ``alignbench.evaluators`` entry point, called as ``builder(sources, "")``);
    any other spec is an LLM judge's YAML."""
    prefix, _, argument = spec.partition(":")
    if prefix in EVALUATORS.names() and prefix != "llm" or prefix == "llm" and argument:
        return EVALUATORS.get(prefix)(sources, argument)
    plugin = load_plugin(spec, "evaluator", "evaluation.evaluators") if not spec.endswith((".yaml", ".yml")) else None
    if plugin is not None:
        check_kind(plugin, spec, "evaluation.evaluators")
        evaluator = plugin(sources, "")
        if not isinstance(evaluator, Evaluator):
            raise AlignbenchError(f"setting 'evaluation.evaluators': {spec!r} built a "
                                  f"{type(evaluator).__name__}, not an Evaluator")
        return evaluator
    return EVALUATORS.get("llm")(sources, spec)
