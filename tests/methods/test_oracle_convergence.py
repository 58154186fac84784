"""Oracle convergence with the true reward: the KL-regularised methods must end close to their own
target π*_β ∝ π_sft·exp(r*/β), closely enough that a wrong β, a wrong temperature or wrong
length-averaging fails.

The check: KL(π_θ ‖ π*_own) ≤ f·KL(π_sft ‖ π*_own), exactly computed on the oracle (4096 responses
per prompt, 16 training prompts), with every target at β = 1 (KL(π_sft ‖ π*_1) = 0.672). At β = 1 a
policy that lands exactly on π*_{4β} has ratio 0.547 and one on π*_{β/4} has ratio 1.553, so f is
set well below 0.5 from the ratios measured here (seed 0; /work/notes/issue-13-tests.md has the table).
Each broken variant below is the real method with one monkeypatched slip, and must fail the check.

The KL direction cannot be told apart on the oracle: EXO (reverse KL) and DPO-rw (forward) share the
optimum π*_β when the policy can represent it. ``test_exo_is_reverse_kl_and_dpo_rw_forward_in_a_restricted_family``
builds the case where the directions truly differ.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from alignbench.methods.base import MethodContext
from alignbench.methods.best_of_n import BestOfNPolicy
from alignbench.methods.registry import get_method
from alignbench.models.exact import kl, response_texts
from alignbench.training import losses
from oracle_fixtures import evaluate, oracle_world, sft_baseline

FAST = {"steps": 100, "lr": 2e-3}
BRAIN = {"gamma": 4.0, "rounds": 2, "steps_per_round": 50, "lr": 2e-3, "batch_size": 8, "n": 16,
         "prompts_per_round": 128}
# Every target at β = 1. BRAIn length-averages over L = 4 tokens: γ = 4 → β = γ/L = 1.
CASES = {
    "exo": {**FAST, "batch_size": 16, "group_size": 4, "beta_pi": 0.5, "beta_r": 2.0},
    "dpo-rw": {**FAST, "batch_size": 16, "group_size": 4, "beta_pi": 0.5, "beta_r": 2.0},
    "arm": {**FAST, "batch_size": 32, "pairs_per_prompt": 2, "beta": 1.0},
    "arm-pl": {**FAST, "batch_size": 16, "group_size": 4, "beta": 1.0},
    "arm-pl-snis": {**FAST, "batch_size": 16, "group_size": 4, "beta": 1.0, "sampler": "snis", "n": 16},
    "brain": BRAIN,
    "brain-no-length-average": {**BRAIN, "gamma": 1.0, "length_average": False},  # target β = γ
    "ppo": {"beta": 1.0, "iterations": 50, "rollout_batch": 64, "minibatch": 16, "ppo_epochs": 2, "lr": 2e-3},
    "dpo": {"beta": 1.0, "steps": 300, "lr": 2e-3, "batch_size": 32},
}
# f per case: about twice the ratio measured at seed 0 (in brackets), below the ratio of each BROKEN variant.
FRACTION = {
    "exo": 0.2,  # [0.090]
    "dpo-rw": 0.2,  # [0.077]
    "arm": 0.3,  # [0.168]
    "arm-pl": 0.2,  # [0.081]
    "arm-pl-snis": 0.3,  # [0.159]
    "brain": 0.25,  # [0.107]
    "brain-no-length-average": 0.4,  # [0.236]
    "ppo": 0.45,  # [0.324; 0.371 after 25 iterations]
    # DPO learns from the fixed human pairs (16 per prompt from a weak demonstrator), not from samples, and
    # gets no closer than 0.547 (300 steps): its check catches β/4 but cannot tell β×4 (ideal 0.547) apart.
    "dpo": 0.7,  # [0.547]
}
FAST_CASES = ("exo", "brain", "arm-pl-snis", "brain-no-length-average")

_fits: dict = {}


def method_name(case: str) -> str:
    return {"arm-pl-snis": "arm-pl", "brain-no-length-average": "brain"}.get(case, case)


def kl_ratio(case: str, params: dict | None = None, variant: str | None = None, tmp_path=None) -> float:
    """Train ``case`` from the shared SFT policy on the gold reward; KL(π_θ‖π*_own) / KL(π_sft‖π*_own).

    ``variant`` names an entry of ``BROKEN``: its patches, (object, attribute, replacement(original)),
    are applied while training, and its ``train_hp`` are changed after the method has declared its
    target (a training-side slip). Results are cached for the session (the same fit is asked twice)."""
    params = params or CASES[case]
    key = (case, json.dumps(params, sort_keys=True), variant)
    if key in _fits:
        return _fits[key]
    patches, train_hp = BROKEN[variant][1:3] if variant else ((), None)
    task, sft, _, _, _ = oracle_world()
    method = get_method(method_name(case))(params)
    beta = method.target_beta(task)
    assert beta == pytest.approx(1.0)
    method.params = dataclasses.replace(method.params, **(train_hp or {}))
    originals = [(o, a, getattr(o, a)) for o, a, _ in patches]
    try:
        for (o, a, make), (_, _, original) in zip(patches, originals):
            setattr(o, a, make(original))
        ctx = MethodContext(task=task, sft_policy=sft, reward_fn=task.gold_reward, run_dir=tmp_path, seed=0)
        torch.manual_seed(0)
        policy = method.fit(ctx)
    finally:
        for o, a, original in originals:
            setattr(o, a, original)
    ratio = evaluate(policy, beta)["kl_to_own_target"] / sft_baseline(beta)["kl_to_own_target"]
    print(f"{case} {params if params is not CASES[case] else ''} {variant or ''}: "
          f"KL(π‖π*own)/KL(π_sft‖π*own) = {ratio:.3f}")
    _fits[key] = ratio
    return ratio


def _mark(case: str):
    return pytest.param(case, marks=() if case in FAST_CASES else pytest.mark.slow)


@pytest.mark.parametrize("case", [_mark(c) for c in CASES])
def test_method_ends_within_a_fraction_of_the_sft_kl_to_its_target(case, tmp_path):
    ratio = kl_ratio(case, tmp_path=tmp_path)
    assert ratio <= FRACTION[case], f"{case}: KL(π‖π*own) is {ratio:.3f} of π_sft's, above f = {FRACTION[case]}"


# --- broken variants: the real method with one slip, each must fail the check above ----------------------
def beta_times(factor):
    """A loss that uses β·factor (arm-pl's Plackett–Luce loss): its optimum is π*_{β·factor}."""
    return lambda real: (lambda h, r, beta, **kw: real(h, r, beta * factor, **kw))


def exo_reward_times_beta_r(real):
    """softmax(r·β_r) in place of softmax(r/β_r): with β_π = 0.5, β_r = 2 the optimum is π*_{β/4}."""
    return lambda h, r, bp, br: real(h, r * br * br, bp, br)


def scale_argument(position, factor):
    """A loss whose β-like argument at ``position`` is multiplied by ``factor``."""

    def make(real):
        def broken(*args, **kw):
            args = list(args)
            args[position] = args[position] * factor
            return real(*args, **kw)

        return broken

    return make


def brain_gamma_times(factor):
    return lambda real: (lambda r, gamma, sft, prop: real(r, gamma * factor, sft, prop))


BROKEN = {
    # name: (case, patches, train_hp, fast?)
    "exo: r·β_r for r/β_r (temperature)": ("exo", ((losses, "exo_loss", exo_reward_times_beta_r),), None, True),
    "exo: β_r × 4 (temperature)": (
        "exo",
        ((losses, "exo_loss", lambda real: lambda h, r, bp, br: real(h, r, bp, br * 4)),),
        None,
        False,
    ),
    "arm-pl: β × 4": ("arm-pl", ((losses, "plackett_luce_loss", beta_times(4.0)),), None, True),
    "arm-pl: β / 4": ("arm-pl", ((losses, "plackett_luce_loss", beta_times(0.25)),), None, False),
    "brain: γ × 4 (temperature)": ("brain", ((losses, "brain_alpha", brain_gamma_times(4.0)),), None, False),
    "brain: γ / 4 (temperature)": ("brain", ((losses, "brain_alpha", brain_gamma_times(0.25)),), None, False),
    "brain: no length-averaging in training": ("brain", (), {"length_average": False}, True),
    "brain-no-length-average: length-averaged in training": (
        "brain-no-length-average",
        (),
        {"length_average": True},
        False,
    ),
    "arm-pl-snis: β × 4": ("arm-pl-snis", ((losses, "plackett_luce_loss", beta_times(4.0)),), None, False),
    "arm: β × 4": ("arm", ((losses, "arm_bt_loss", scale_argument(3, 4.0)),), None, False),
    "arm: β / 4": ("arm", ((losses, "arm_bt_loss", scale_argument(3, 0.25)),), None, False),
    "dpo-rw: r·β_r for r/β_r (temperature)": (
        "dpo-rw",
        ((losses, "dpo_rw_loss", scale_argument(1, 4.0)),),
        None,
        False,
    ),
    "ppo: β × 4 in the KL penalty": ("ppo", ((losses, "kl_penalized_rewards", scale_argument(4, 4.0)),), None, False),
    "ppo: β / 4 in the KL penalty": ("ppo", ((losses, "kl_penalized_rewards", scale_argument(4, 0.25)),), None, False),
    "dpo: β / 4": ("dpo", ((losses, "dpo_loss", scale_argument(2, 0.25)),), None, False),
}


@pytest.mark.parametrize("variant", [pytest.param(v, marks=() if BROKEN[v][3] else pytest.mark.slow) for v in BROKEN])
def test_broken_variant_fails_the_convergence_check(variant, tmp_path):
    case = BROKEN[variant][0]
    ratio = kl_ratio(case, variant=variant, tmp_path=tmp_path)
    assert ratio > FRACTION[case], f"broken variant {variant!r} passed: ratio {ratio:.3f} ≤ f = {FRACTION[case]}"


# --- BRAIn's baseline ablations (BRAIn Table 3: both are worse than the self-normalised baseline) -----------
def test_brain_without_a_baseline_lands_far_from_its_target(tmp_path):
    """``none`` (Eq. 5/7: −Σ α̂ log π_θ) pushes all mass onto the n sampled responses instead of only
    matching their ratios: measured ratio 0.780 against 0.107 with the self-normalised baseline."""
    full = kl_ratio("brain", tmp_path=tmp_path / "full")
    none = kl_ratio("brain", params={**BRAIN, "baseline": "none"}, tmp_path=tmp_path / "none")
    assert none > FRACTION["brain"] and none > 3 * full


@pytest.mark.slow
def test_brain_unnormalized_baseline_is_worse_than_self_normalized(tmp_path):
    """``unnormalized`` (Table 3 "w/o self-norm"): still converges, but less close (0.202 vs 0.107)."""
    full = kl_ratio("brain", tmp_path=tmp_path / "full")
    unnormalized = kl_ratio("brain", params={**BRAIN, "baseline": "unnormalized"}, tmp_path=tmp_path / "un")
    none = kl_ratio("brain", params={**BRAIN, "baseline": "none"}, tmp_path=tmp_path / "none")
    assert full < unnormalized < none
    assert unnormalized > 1.4 * full


# --- the KL direction, where it matters ------------------------------------------------------------------
PHI = torch.arange(6, dtype=torch.float64) - 2.5  # the policy family: log π_a(y_i) = a·φ_i − log Z(a)
REWARD = torch.tensor([2.0, 0.0, -1.0, -1.0, 0.0, 1.5], dtype=torch.float64)  # two modes, at both ends of φ


def family_logprobs(a: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(a.reshape(-1, 1) * PHI, dim=-1)


def minimise_over_family(loss_fn, beta: float = 1.0) -> float:
    """Minimise ``loss_fn(h, r, β_π = 1, β_r = β)`` over the family by L-BFGS, with the whole response set as
    the group and a uniform π_sft. There softmax(β_π·h) = π_a and softmax(r/β_r) = π*_β, so exo_loss is
    exactly KL(π_a ‖ π*_β) and dpo_rw_loss is KL(π*_β ‖ π_a) plus a constant."""
    a = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    ref = torch.full((6,), -np.log(6.0), dtype=torch.float64)
    opt = torch.optim.LBFGS([a], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = loss_fn(family_logprobs(a) - ref, REWARD.view(1, 6), 1.0, beta)
        loss.backward()
        return loss

    opt.step(closure)
    return float(a.detach())


def test_exo_is_reverse_kl_and_dpo_rw_forward_in_a_restricted_family():
    """A one-parameter family cannot represent the two-mode π*: the reverse-KL minimiser (mode-seeking,
    a = −1.374) and the forward-KL one (mass-covering, a = −0.174) differ. EXO must land on the first,
    DPO-rw on the second; a swapped EXO (the forward direction under EXO's name) lands on the wrong one."""
    target = torch.log_softmax(REWARD, -1)
    grid = torch.linspace(-3, 3, 60001, dtype=torch.float64)
    lp = family_logprobs(grid)
    a_reverse = float(grid[kl(lp, target.expand_as(lp)).argmin()])
    a_forward = float(grid[kl(target.expand_as(lp), lp).argmin()])
    assert a_reverse == pytest.approx(-1.374, abs=1e-3) and a_forward == pytest.approx(-0.174, abs=1e-3)
    a_exo, a_dpo_rw = minimise_over_family(losses.exo_loss), minimise_over_family(losses.dpo_rw_loss)
    tol = 2e-4  # the grid's step is 1e-4
    assert abs(a_exo - a_reverse) < tol and abs(a_exo - a_forward) > 1.0
    assert abs(a_dpo_rw - a_forward) < tol and abs(a_dpo_rw - a_reverse) > 1.0

    def swapped_exo(h, r, bp, br):  # the broken variant: EXO computing the forward direction
        return losses.dpo_rw_loss(h, r, bp, br)

    assert abs(minimise_over_family(swapped_exo) - a_reverse) > 1.0


# --- best-of-n: its samples against its exact law ------------------------------------------------------------
def chi_square_pvalue(samples: list[str], logp: torch.Tensor, texts: list[str]) -> float:
    """Pearson χ² of response counts against a law over every response; cells expected < 5 are pooled."""
    index = {t: i for i, t in enumerate(texts)}
    counts = np.bincount([index[s] for s in samples], minlength=len(texts)).astype(float)
    expected = logp.detach().double().exp().numpy()
    expected = expected / expected.sum() * len(samples)
    big = expected >= 5
    observed = np.append(counts[big], counts[~big].sum())
    expected = np.append(expected[big], expected[~big].sum())
    return float(chisquare(observed, expected).pvalue)


def test_best_of_n_generate_follows_its_exact_law():
    """6000 draws of best-of-4 for one prompt against ``best_of_n_logprobs`` (cells expected < 5 pooled).
    Broken variants, shown on the same samples: the law of best-of-3 or best-of-5 (an off-by-one n) and
    π_sft's (a generator that ignores the reward) are rejected at p < 1e-6. With 1500 draws best-of-3 gave
    p = 1.3e-6 on this machine, a coin flip; at 6000 draws, measured (1 thread / 2 threads): best-of-4
    p = 0.45 / 0.89, best-of-3 p = 1.5e-26 / 2.9e-26, best-of-5 p = 4e-51 / 6e-48."""
    task, sft, prompts, _, sft_lp = oracle_world()
    n, draws = 4, 6000
    policy = BestOfNPolicy(sft, task.gold_reward, n)
    samples = policy.generate(prompts[:1], n=draws, seed=1)[0]
    texts = response_texts(sft)
    p = chi_square_pvalue(samples, policy.exact_logprobs(prompts[:1])[0], texts)
    print(f"best-of-{n}: χ² p = {p:.3g}")
    assert p > 1e-3
    for wrong in (n - 1, n + 1):
        law = BestOfNPolicy(sft, task.gold_reward, wrong).exact_logprobs(prompts[:1])[0]
        p_wrong = chi_square_pvalue(samples, law, texts)
        print(f"best-of-{wrong}'s law: p = {p_wrong:.3g}")
        assert p_wrong < 1e-6, f"best-of-{wrong}'s law was not rejected"
    assert chi_square_pvalue(samples, sft_lp[0], texts) < 1e-6
