"""Best-of-n: sample n from π_sft, return the response with the highest reward (inference time)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..io import atomic_write_json
from ..models.exact import best_of_n_logprobs, enumerated_rewards, response_texts
from ..models.generation import Samples
from ..tasks.base import Prompt
from .base import Method
from .params import Params, param
from .registry import register
from .sampling import sample_groups, score_groups


class BestOfNPolicy:
    """A policy whose ``generate`` draws n samples from π_sft and keeps the best by reward."""

    def __init__(self, sft_policy, reward_fn, n: int, backend=None):
        self.sft = sft_policy
        self.reward_fn = reward_fn
        self.n = n
        self.backend = backend

    def sample(self, prompts: list[str], n: int = 1, seed: int = 0, backend=None) -> Samples:
        recs = [Prompt(str(i), p) for i, p in enumerate(prompts) for _ in range(n)]
        data, texts = sample_groups(self.sft, recs, self.n, seed, backend or self.backend)
        rewards = score_groups(self.reward_fn, recs, texts)
        best = rewards.argmax(dim=1).tolist()  # first maximum on ties
        flat = [row[b] for row, b in zip(texts, best)]
        flat_ids = [row[b] for row, b in zip(data.response_ids, best)]
        return Samples(texts=[flat[i * n : (i + 1) * n] for i in range(len(prompts))],
                       token_ids=[flat_ids[i * n : (i + 1) * n] for i in range(len(prompts))])

    def generate(self, prompts: list[str], n: int = 1, seed: int = 0, backend=None) -> list[list[str]]:
        return self.sample(prompts, n, seed, backend).texts

    def kl_to_reference(self, reference, prompts, samples) -> dict:
        """Outside the oracle, best-of-n's KL to π_sft is reported as the bound log n − (n − 1)/n
        (Beirami et al. 2024), which the true value never exceeds; on the oracle it is exact."""
        return {"kl_to_sft": math.log(self.n) - (self.n - 1) / self.n, "kl_to_sft_se": None, "kl_kind": "upper-bound"}

    def exact_logprobs(self, prompts: list[str]):
        """Exact law of best-of-n from π_sft's enumerated distribution and the reward of every response."""
        sft = self.sft.exact_logprobs(prompts)
        if sft is None:
            return None
        return best_of_n_logprobs(sft, enumerated_rewards(self.reward_fn, prompts, response_texts(self.sft)), self.n)

    def exact_law(self, enumeration):
        """The same law from a run's enumeration, whose π_sft law and reward scores are shared
        (the policy interface's ``exact_law``, as :meth:`alignbench.models.policy.Policy.exact_law`)."""
        if enumeration.sft is not self.sft:
            return self.exact_logprobs(enumeration.prompts)
        if enumeration.sft_logp is None:
            return None
        return best_of_n_logprobs(enumeration.sft_logp, enumeration.rewards(self.reward_fn), self.n)

    def save(self, directory):
        atomic_write_json(Path(directory) / "best_of_n.json",
                          {"n": self.n, "note": "samples from the run's SFT policy, ranks with its reward model"})


@dataclass(frozen=True)
class BestOfNParams(Params):
    n: int = param(32, "samples from π_sft per response; the highest reward is kept", positive=True)


@register
class BestOfN(Method):
    name = "best-of-n"
    kind = "inference-time"
    description = "inference-time best-of-n: n samples from π_sft, keep the highest reward (n = 32 as in ARM)"
    Params = BestOfNParams

    def fit(self, ctx):
        return BestOfNPolicy(ctx.sft_policy, ctx.reward_fn, int(self.params.n), ctx.backend)
