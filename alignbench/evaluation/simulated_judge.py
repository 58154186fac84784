"""A simulated pairwise annotator for tasks that know their true reward r* (AlpacaFarm-style).

It is served as a real OpenAI-compatible endpoint on 127.0.0.1 (``local_server.JudgeServer``), so
its judgments go through exactly the client, template, parser, retries, store and statistics a
paid judge's do. It reads the prompt and the two responses back out of the rendered judge
template and prefers by Bradley–Terry with a home-position advantage:

    P(first shown wins) = σ((r*(first) − r*(second)) / noise_scale + b),   b = logit(first_position_bias)

``first_position_bias`` is the chance that the first of two *equally good* responses wins (0.5: no
bias). With share ``unparseable_rate`` it answers without a verdict marker. Every draw is a
deterministic function of (seed, the rendered request), so a repeated request gets the same answer.

The two orders of a pair are independent draws with P1 = σ(z + b) and P2 = σ(z − b) (z the scaled
reward gap, from the method's side): the one-order win rate is off by about σ'(z)·b, while the
both-order score ½(P1 + P2) = σ(z) + O(b²) cancels the first-order bias term.
"""

from __future__ import annotations

import math
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ..errors import AlignbenchError
from .judge_config import PLACEHOLDER, JudgeConfig, load_judge, resolve_judge_path
from .local_server import JudgeServer, _unit

DEFAULT_YAML = "simulated"  # judges/simulated.yaml: the template, parser and client settings


def template_pattern(template_text: str) -> re.Pattern:
    """A regex that reads {{prompt}}, {{response_a}}, {{response_b}} back out of a rendered template."""
    parts, pos, seen = [], 0, set()
    for m in PLACEHOLDER.finditer(template_text):
        parts.append(re.escape(template_text[pos:m.start()]))
        name = m.group(1)
        parts.append(f"(?P=__{name})" if name in seen else f"(?P<__{name}>.*?)")
        seen.add(name)
        pos = m.end()
    parts.append(re.escape(template_text[pos:]))
    return re.compile("".join(parts), re.S)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@dataclass
class SimulatedAnnotator:
    """The script of the simulated judge server: rendered judge prompt in, judge reply out."""

    reward: Callable[[str, str], float]  # r*(prompt, response)
    template_text: str
    noise_scale: float = 1.0
    first_position_bias: float = 0.5
    unparseable_rate: float = 0.0
    seed: int = 0

    def __post_init__(self):
        check_knobs(self.noise_scale, self.first_position_bias, self.unparseable_rate)
        self._pattern = template_pattern(self.template_text)
        self._bias_logit = logit(self.first_position_bias)

    def read(self, rendered: str) -> tuple[str, str, str]:
        m = self._pattern.fullmatch(rendered)
        if m is None:
            raise ValueError("the request is not a rendering of the simulated judge's template")
        return m.group("__prompt"), m.group("__response_a"), m.group("__response_b")

    def p_first(self, prompt: str, a: str, b: str) -> float:
        gap = (self.reward(prompt, a) - self.reward(prompt, b)) / self.noise_scale
        return sigmoid(gap + self._bias_logit)

    def __call__(self, rendered: str) -> str:
        prompt, a, b = self.read(rendered)
        if _unit(str(self.seed), "unparseable", rendered) < self.unparseable_rate:
            return "Both answers have merits and I cannot settle on one."
        first = _unit(str(self.seed), "bt", rendered) < self.p_first(prompt, a, b)
        return f"Weighing the two answers.\n{'[[A]]' if first else '[[B]]'}"


def check_knobs(noise_scale: float, first_position_bias: float, unparseable_rate: float) -> None:
    if not (noise_scale > 0 and math.isfinite(noise_scale)):
        raise AlignbenchError(f"simulated judge: noise_scale must be a positive number, got {noise_scale}")
    if not 0 < first_position_bias < 1:
        raise AlignbenchError("simulated judge: first_position_bias must lie strictly between 0 "
                              f"and 1, got {first_position_bias}")
    if not 0 <= unparseable_rate < 1:
        raise AlignbenchError(f"simulated judge: unparseable_rate must lie in [0, 1), got {unparseable_rate}")


def gold_reward_of(task) -> Callable[[str, str], float]:
    """r*(prompt, response) from a task's trlx-style ``gold_reward``; a response it cannot score loses."""
    fn = task.gold_reward
    if fn is None:
        raise AlignbenchError(f"task {task.name!r}: the simulated judge needs a task with a true reward (e.g. oracle)")

    def reward(prompt: str, response: str) -> float:
        try:
            return float(fn([prompt + response], [prompt], [response])[0])
        except ValueError:
            return -1e6

    return reward


@dataclass
class RunningJudge:
    """What :func:`simulated_judge_for_task` yields: a judge YAML on disk, its config, and the live server."""

    yaml_path: Path
    config: JudgeConfig
    server: JudgeServer


@contextmanager
def simulated_judge_for_task(task, noise_scale: float = 1.0, first_position_bias: float = 0.5,
                             unparseable_rate: float = 0.0, seed: int = 0, base_yaml: str = DEFAULT_YAML,
                             max_requests: int = 1_000_000, deadline_s: float = 3600.0) -> Iterator[RunningJudge]:
    """Serve the simulated annotator of ``task`` on a free port for the length of the block.

    The yielded ``yaml_path`` (``…/simulated.yaml``) is a complete judge config pointing at the
    server: pass it wherever a judge name is accepted (``cfg.evaluation.judges``). The judge's model
    name carries the knobs, so judgments cached under other knobs are never reused.
    """
    check_knobs(noise_scale, first_position_bias, unparseable_rate)
    reward = gold_reward_of(task)
    base = load_judge(base_yaml)
    model = (f"simulated-bt(noise={noise_scale:g},first={first_position_bias:g},"
             f"unparseable={unparseable_rate:g},seed={seed})")
    annotator = SimulatedAnnotator(reward, base.template_text, noise_scale, first_position_bias, unparseable_rate, seed)
    with JudgeServer(annotator, max_requests=max_requests, deadline_s=deadline_s) as server, \
            tempfile.TemporaryDirectory(prefix="alignbench-simjudge-") as tmp:
        data = yaml.safe_load(resolve_judge_path(base_yaml).read_text(encoding="utf-8"))
        template = Path(data["template"])
        if not template.is_absolute():
            template = (resolve_judge_path(base_yaml).parent / template).resolve()
        data.update(base_url=server.base_url, model=model, template=str(template), api_key_env=None)
        path = Path(tmp) / "simulated.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        yield RunningJudge(path, load_judge(str(path)), server)


class SimulatedJudgeSettings(BaseModel):
    """The run config's ``evaluation.simulated_judge`` block (absent or null: no simulated judge)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)  # the typing rule of config._Strict

    noise_scale: float = Field(1.0, gt=0, le=1e6)
    first_position_bias: float = Field(0.7, gt=0, lt=1)
    unparseable_rate: float = Field(0.02, ge=0, lt=1)
    seed: int = Field(0, ge=0)


@contextmanager
def simulated_judge_if_configured(settings: SimulatedJudgeSettings | dict | None, task) -> Iterator[list[str]]:
    """Pipeline hook: yields ``[path of the running simulated judge's YAML]`` to add to the run's judges,
    or ``[]`` when no simulated judge is configured or the task has no true reward (it is then skipped)."""
    if settings is None or getattr(task, "gold_reward", None) is None:
        yield []
        return
    if isinstance(settings, dict):
        settings = SimulatedJudgeSettings.model_validate(settings)
    with simulated_judge_for_task(task, **settings.model_dump()) as sim:
        yield [str(sim.yaml_path)]
