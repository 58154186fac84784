"""The oracle task: a synthetic task whose truth is exactly computable.

Prompts are ``prompt_length`` symbols from ``P0..P{k-1}``; responses are exactly
``response_length`` symbols from ``a, b, c, ...`` — or, with ``variable_length``, 1 to ``response_length``
symbols ended by EOS (still exactly enumerable: see :func:`alignbench.models.exact.variable_response_ids`).
The true reward r*(x, y) is a known function;
preference pairs are drawn from Bradley–Terry on r*: P(y1 ≻ y2) = σ(r*(y1) − r*(y2)). The
"human" responses in the pairs come from a demonstrator that hits the right symbol with
probability ``demo_skill`` per position, so the SFT policy is mediocre and there is room to align.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import typing
from dataclasses import dataclass

import numpy as np

from .base import Pair, Prompt, TaskData

RESPONSE_SYMBOLS = "abcdefghijklmnop"


@dataclass
class OracleSpec:
    n_prompt_symbols: int = 8
    prompt_length: int = 3
    n_response_symbols: int = 8
    response_length: int = 4
    n_test_prompts: int = 64
    pairs_per_train_prompt: int = 16
    pairs_per_test_prompt: int = 8
    demo_skill: float = 0.35
    # r* spans about [-1, 6]: Bradley–Terry labels on it are right ~75% of the time (Bayes rate).
    match_weight: float = 5.0
    near_weight: float = 1.0
    repeat_penalty: float = 1.0
    seed: int = 0
    # Variable-length responses (1..response_length symbols, then EOS). The reward then sums per-symbol
    # credit (not a mean) and pays |L − L*(x)| for missing a prompt-dependent length L*, so an objective that
    # length-normalises log-probabilities and one that sums them have different optima.
    variable_length: bool = False
    length_weight: float = 1.0


class OracleReward:
    """r*(x, y): reward for the right symbol at each position, partial credit for a neighbour,
    a penalty for immediate repeats. Deterministic, picklable, trlx ``reward_fn`` convention."""

    def __init__(self, spec: OracleSpec):
        self.spec = spec

    def targets(self, prompt_syms: list[int]) -> list[int]:
        s = self.spec
        n = s.response_length + (1 if s.variable_length else 0)  # a response cut at max_new_tokens has one more
        return [(prompt_syms[t % len(prompt_syms)] * 3 + t) % s.n_response_symbols for t in range(n)]

    def target_length(self, prompt_syms: list[int]) -> int:
        """L*(x) of a variable-length oracle: between 1 and response_length, set by the prompt's first symbol."""
        return 1 + prompt_syms[0] % self.spec.response_length

    def score_symbols(self, prompt_syms: list[int], resp_syms: list[int]) -> float:
        s = self.spec
        tgt = self.targets(prompt_syms)
        L = len(resp_syms)
        # Fixed length: credit per position averaged over L. Variable length: summed and divided by the
        # longest length, so each right symbol is worth the same whatever the response's length.
        scale = s.response_length if s.variable_length else L
        match = sum(y == t for y, t in zip(resp_syms, tgt)) / scale
        near = (
            sum((y - t) % s.n_response_symbols in (1, s.n_response_symbols - 1) for y, t in zip(resp_syms, tgt)) / scale
        )
        rep = sum(resp_syms[i] == resp_syms[i - 1] for i in range(1, L)) / max(L - 1, 1)
        score = s.match_weight * match + s.near_weight * near - s.repeat_penalty * rep
        if s.variable_length:
            score -= s.length_weight * abs(L - self.target_length(prompt_syms))
        return score

    def __call__(self, samples, prompts, outputs) -> list[float]:
        return [self.score_symbols(parse_prompt(p), parse_response(o, self.spec)) for p, o in zip(prompts, outputs)]

    def score_all(self, prompts: list[str], responses: list[str]) -> np.ndarray | None:
        """``[P, N]``: :meth:`score_symbols` of every prompt with every (fixed-length) response, the same float
        operations in numpy (an exact enumeration scores 64 × 4,096 pairs); None for variable-length responses."""
        s = self.spec
        if s.variable_length:
            return None
        targets = np.array([self.targets(parse_prompt(p)) for p in prompts])[:, None, :]  # [P, 1, L]
        resp = np.array([parse_response(r, s) for r in responses])  # [N, L]
        L = resp.shape[1]
        match = (resp[None] == targets).sum(-1) / L
        off = (resp[None] - targets) % s.n_response_symbols
        near = ((off == 1) | (off == s.n_response_symbols - 1)).sum(-1) / L
        rep = (resp[:, 1:] == resp[:, :-1]).sum(-1) / max(L - 1, 1)
        return s.match_weight * match + s.near_weight * near - s.repeat_penalty * rep[None]


def parse_prompt(text: str) -> list[int]:
    return [int(tok[1:]) for tok in text.split()]


def parse_response(text: str, spec: OracleSpec) -> list[int]:
    syms = text.split()
    # Variable length: 0 (EOS first) to response_length + 1 symbols (cut at max_new_tokens without EOS).
    ok_length = len(syms) <= spec.response_length + 1 if spec.variable_length else len(syms) == spec.response_length
    if not ok_length or any(s not in RESPONSE_SYMBOLS[: spec.n_response_symbols] for s in syms):
        raise ValueError(f"not an oracle response: {text!r}")
    return [RESPONSE_SYMBOLS.index(s) for s in syms]


def prompt_text(syms) -> str:
    return " ".join(f"P{s}" for s in syms)


def response_text(syms) -> str:
    return " ".join(RESPONSE_SYMBOLS[s] for s in syms)


def all_response_texts(spec: OracleSpec) -> list[str]:
    """Every response, in the order of :func:`alignbench.models.exact.response_grid`."""
    return [response_text(c) for c in itertools.product(range(spec.n_response_symbols), repeat=spec.response_length)]


def vocabulary(spec: OracleSpec) -> list[str]:
    return [f"P{i}" for i in range(spec.n_prompt_symbols)] + list(RESPONSE_SYMBOLS[: spec.n_response_symbols])


def load_oracle(spec: OracleSpec) -> TaskData:
    if spec.n_response_symbols > len(RESPONSE_SYMBOLS):
        raise ValueError(f"n_response_symbols must be at most {len(RESPONSE_SYMBOLS)}")
    rng = np.random.default_rng(spec.seed)
    reward = OracleReward(spec)
    all_prompts = list(itertools.product(range(spec.n_prompt_symbols), repeat=spec.prompt_length))
    order = rng.permutation(len(all_prompts))
    n_test = min(spec.n_test_prompts, len(all_prompts) // 2)
    test_idx, train_idx = order[:n_test], order[n_test:]

    def demo(prompt_syms):
        tgt = reward.targets(list(prompt_syms))[: spec.response_length]
        if spec.variable_length:
            tgt = tgt[: int(rng.integers(1, spec.response_length + 1))]
        return [t if rng.random() < spec.demo_skill else int(rng.integers(spec.n_response_symbols)) for t in tgt]

    def pairs_for(indices, per_prompt):
        pairs = []
        for i in indices:
            x = all_prompts[i]
            for j in range(per_prompt):
                y1, y2 = demo(x), demo(x)
                while y2 == y1:
                    y2 = demo(x)
                r1, r2 = reward.score_symbols(list(x), y1), reward.score_symbols(list(x), y2)
                p1 = 1.0 / (1.0 + math.exp(-(r1 - r2)))
                w, l = (y1, y2) if rng.random() < p1 else (y2, y1)
                pairs.append(Pair(f"o{i}", prompt_text(x), response_text(w), response_text(l)))
        return pairs

    train_pairs = pairs_for(train_idx, spec.pairs_per_train_prompt)
    test_pairs = pairs_for(test_idx, spec.pairs_per_test_prompt)
    train_prompts = [Prompt(f"o{i}", prompt_text(all_prompts[i])) for i in train_idx]
    test_prompts = [Prompt(f"o{i}", prompt_text(all_prompts[i])) for i in test_idx]
    refs: dict[str, str] = {}
    for p in test_pairs:
        refs.setdefault(p.prompt_id, p.chosen)
    return TaskData(
        name="oracle",
        train_pairs=train_pairs,
        test_pairs=test_pairs,
        train_prompts=train_prompts,
        test_prompts=test_prompts,
        test_references=refs,
        gold_reward=reward,
        response_alphabet=list(RESPONSE_SYMBOLS[: spec.n_response_symbols]),
        response_length=None if spec.variable_length else spec.response_length,
        max_response_length=spec.response_length if spec.variable_length else None,
        meta={"vocabulary": vocabulary(spec), "spec": spec.__dict__},
    )


class OracleTask:
    """The oracle as a registered task: its options are :class:`OracleSpec`'s fields."""

    def option_types(self) -> dict:
        hints = typing.get_type_hints(OracleSpec)
        return {f.name: hints[f.name] for f in dataclasses.fields(OracleSpec)}

    def __call__(self, **options) -> TaskData:
        return load_oracle(OracleSpec(**options))


load_oracle_task = OracleTask()
