"""Every method, trained from the same SFT policy on the oracle task with the true reward, moves the policy
the right way: it raises the exact expected reward, or — for the methods that learn from the fixed human
pairs without a reward (KTO, ORPO, Preferred-FT), whose reward gain is not reliably positive on the
oracle's noisy pairs — its own objective on those pairs; the KL-regularised ones move towards their own π*_β.

Thresholds (``CHECKS``) sit at least 3 standard deviations below the mean of the value measured with fit
seeds 0, 1, 2 and 1 and 2 torch threads, under three versions of the code's arithmetic (``tests/calibrate_oracle.py``;
the values are in the comment beside each threshold): the trained world differs between CPUs as it does between
seeds, so a margin measured at one seed on one machine is a coin flip on the next. A broken loss (wrong sign, detached
term, swapped labels) fails the same check: ``test_broken_losses_fail_the_same_check`` and the BROKEN table below.
"""

from __future__ import annotations

import pytest
import torch

from alignbench.methods.base import MethodContext
from alignbench.methods.registry import get_method
from oracle_fixtures import evaluate, oracle_world, pair_objectives, sft_baseline, sft_pair_objectives

FAST = {"steps": 60, "lr": 2e-3}
CASES = {
    "dpo": {**FAST, "batch_size": 32},
    "dpo-sft": {**FAST, "batch_size": 32, "pairs_per_prompt": 2},
    "best-of-n": {"n": 16},
    "expert-iteration": {**FAST, "batch_size": 32, "samples_per_prompt": 2},
    "arm": {**FAST, "batch_size": 32, "pairs_per_prompt": 2, "beta": 0.5},
    "arm-pl": {**FAST, "batch_size": 16, "group_size": 4},
    "brain": {"rounds": 2, "steps_per_round": 30, "lr": 2e-3, "batch_size": 8, "n": 16, "prompts_per_round": 128},
    "exo": {**FAST, "batch_size": 16, "group_size": 4, "beta_r": 1.0},
    "exo-pref": {**FAST, "batch_size": 32},
    "dpo-rw": {**FAST, "batch_size": 16, "group_size": 4, "beta_r": 1.0},
    "ppo": {"iterations": 25, "rollout_batch": 64, "minibatch": 16, "ppo_epochs": 2, "lr": 2e-3},
    # the remaining methods
    "rso": {**FAST, "batch_size": 32, "beta": 0.5, "n": 32, "num_accepted": 4},
    "ipo": {**FAST, "batch_size": 32, "tau": 0.1},
    "slic": {**FAST, "batch_size": 32, "pairs_per_prompt": 2},
    # KTO, ORPO and Preferred-FT learn from the fixed human pairs starting at π_sft, already fitted to the chosen
    # responses: at lr 2e-3 a fresh Adam's first steps (about lr per weight, whatever the gradient) decide the
    # outcome (KTO's reward gain ranged −0.96 … 0.60 over seeds). At lr 5e-4, batch 64, 100 steps every
    # seed and thread count lands within a few hundredths (values beside CHECKS).
    "kto": {"steps": 100, "lr": 5e-4, "batch_size": 64},
    # λ = 1 rather than ORPO's 0.1: at 0.1 the SFT term dominates and the gain is within noise of Preferred-FT's.
    "orpo": {"steps": 100, "lr": 5e-4, "batch_size": 64, "lam": 1.0},
    "rrhf": {**FAST, "batch_size": 16, "group_size": 4},
    "raft": {"rounds": 2, "steps_per_round": 30, "lr": 2e-3, "batch_size": 16, "n": 8, "prompts_per_round": 128},
    "pro": {**FAST, "batch_size": 16, "group_size": 4},
    "dpo-pl": {**FAST, "batch_size": 16, "group_size": 4, "beta": 0.5},
    "preferred-ft": {"steps": 100, "lr": 5e-4, "batch_size": 64},
    "online-dpo": {"rounds": 2, "steps_per_round": 30, "lr": 2e-3, "batch_size": 16, "n": 8, "prompts_per_round": 128,
                   "beta": 0.5},
}
# What each method must show, and the threshold: metric → gain over π_sft that must exceed it.
#   reward: the exact expected true reward;   pair_margin: mean log π(y_w) − log π(y_l) over all training pairs
#   (KTO's h_w − h_l);   odds_ratio: ORPO's log odds ratio (token-averaged);   chosen_loglik: mean log π(y_w).
# Beside each: eighteen measured values in three worlds [a|b|c]: seeds 0, 1, 2 with 1 thread and with 2
# threads, (a) before and (b) after the built-in GPT-2's GELU became the fused kernel (the same function to 5e-7)
# with fused AdamW and sampling batched by a memory budget, and (c) with the exact (erf) GELU and sampling batches
# whose KV cache is capped. A float perturbation as small as (a → b) moved ORPO's gain from 0.36 to 0.25 and ARM's KL
# ratio from 0.05 to 0.18 on one seed: what another CPU's arithmetic does to this world, which 1 vs 2 threads alone
# (the same kernels on tensors this small) had hidden. Then their mean ± sd over the eighteen, and
# z = (mean − threshold) / sd (≥ 3 everywhere; tests/calibrate_oracle.py measures them).
CHECKS = {
    # [0.71 1.71 2.07 1.61 1.63 1.72|1.57 1.69 2.08 1.69 0.88 1.70|1.17 1.50 2.09 1.91 0.93 2.15] 1.60 ± 0.43, z 3.3
    "dpo": ("reward", 0.2),
    # [2.42 1.54 2.38 1.98 2.36 1.99|1.64 2.28 2.29 1.77 1.75 1.90|2.05 2.25 1.71 2.25 1.87 2.28] 2.04 ± 0.28, z 5.4
    "dpo-sft": ("reward", 0.5),
    # [2.02 2.02 2.02 2.02 2.02 2.02|2.02 2.02 2.02 2.00 2.00 2.00|2.03 2.03 2.03 2.01 2.01 2.01] 2.02 ± 0.01, z 104.8
    "best-of-n": ("reward", 1.0),
    # [2.26 2.22 2.20 2.25 2.22 2.22|2.23 2.21 2.03 2.15 2.18 2.18|2.30 2.16 2.27 2.16 2.20 2.13] 2.20 ± 0.06, z 19.6
    "expert-iteration": ("reward", 1.0),
    # [1.93 1.92 1.96 1.92 1.87 1.90|1.76 1.90 1.90 1.82 1.75 1.86|1.84 1.97 1.92 1.82 1.88 1.82] 1.87 ± 0.06, z 22.0
    "arm": ("reward", 0.5),
    # [2.46 2.45 2.46 2.41 2.33 2.39|2.30 2.36 2.35 2.31 2.31 2.28|2.43 2.43 2.42 2.41 2.40 2.40] 2.38 ± 0.06, z 23.9
    "arm-pl": ("reward", 1.0),
    # [2.41 2.40 2.41 2.37 2.37 2.37|2.32 2.26 2.32 2.27 2.27 2.27|2.38 2.32 2.39 2.30 2.36 2.35] 2.34 ± 0.05, z 26.2
    "brain": ("reward", 1.0),
    # [2.46 2.45 2.46 2.41 2.40 2.41|2.36 2.36 2.37 2.31 2.32 2.22|2.44 2.34 2.32 2.28 2.41 2.41] 2.37 ± 0.07, z 20.7
    "exo": ("reward", 1.0),
    # [1.65 1.84 1.71 2.13 2.00 1.56|1.10 1.39 1.45 1.29 1.23 1.84|1.70 1.92 1.97 1.86 1.74 2.15] 1.70 ± 0.31, z 3.9
    "exo-pref": ("reward", 0.5),
    # [2.30 2.46 2.46 2.41 2.20 2.42|2.35 2.36 2.36 2.02 1.97 2.31|2.43 2.36 2.44 2.32 2.41 2.39] 2.33 ± 0.14, z 10.0
    "dpo-rw": ("reward", 0.95),
    # [2.29 2.19 1.87 2.36 2.16 1.92|2.17 1.97 2.22 2.00 1.93 1.34|2.36 1.39 2.31 2.18 2.12 2.10] 2.05 ± 0.29, z 5.3
    "ppo": ("reward", 0.5),
    # [2.11 2.24 2.05 1.99 2.26 1.42|1.81 2.15 2.22 1.93 2.05 1.91|2.16 2.01 1.94 2.22 1.84 1.91] 2.01 ± 0.20, z 7.4
    "rso": ("reward", 0.5),
    # [0.79 1.61 1.47 1.47 0.90 1.19|1.12 0.95 1.32 1.18 1.11 1.43|1.30 1.57 1.66 1.53 1.43 1.60] 1.31 ± 0.26, z 4.2
    "ipo": ("reward", 0.2),
    # [0.65 0.71 0.75 0.66 0.70 0.78|0.66 0.69 0.60 0.57 0.64 0.64|0.66 0.72 0.59 0.64 0.63 0.65] 0.66 ± 0.05, z 8.6
    "slic": ("reward", 0.2),
    # [1.63 1.73 1.75 1.69 1.69 1.56|1.63 1.65 1.61 1.62 1.52 1.33|1.66 1.71 1.72 1.67 1.69 1.74] 1.64 ± 0.10, z 11.5
    "kto": ("reward", 0.5),
    # [0.36 0.35 0.40 0.32 0.31 0.35|0.25 0.26 0.30 0.22 0.20 0.26|0.33 0.33 0.38 0.31 0.31 0.34] 0.31 ± 0.05, z 4.8
    "orpo": ("reward", 0.05),
    # [1.04 1.21 1.27 1.07 1.06 1.12|1.15 1.19 1.18 1.12 1.07 1.22|1.06 1.13 1.13 1.07 1.12 1.16] 1.13 ± 0.06, z 9.8
    "rrhf": ("reward", 0.5),
    # [2.34 2.18 2.36 2.32 2.19 2.30|2.25 2.09 2.27 2.22 2.12 2.22|2.08 2.30 2.23 2.14 2.22 2.20] 2.22 ± 0.08, z 14.8
    "raft": ("reward", 1.0),
    # [2.34 2.27 2.36 1.97 2.23 2.36|2.16 2.25 1.97 2.09 2.03 2.10|2.19 2.29 2.12 2.31 2.24 2.27] 2.20 ± 0.13, z 13.5
    "pro": ("reward", 0.5),
    # [2.30 2.30 2.08 2.28 2.28 2.35|2.21 2.13 2.25 2.21 2.22 1.68|2.18 2.18 2.27 2.23 2.17 2.22] 2.20 ± 0.14, z 9.7
    "dpo-pl": ("reward", 0.8),
    # Preferred-FT continues π_sft's own objective: its exact reward gain is small (0.12–0.22, z 3.0 at 0.05)
    # [0.13 0.13 0.13 0.10 0.10 0.10|0.07 0.07 0.07 0.06 0.07 0.07|0.11 0.11 0.12 0.14 0.14 0.14] 0.10 ± 0.03, z 3.3
    "preferred-ft": ("chosen_loglik", 0.01),
    # [2.36 2.30 2.29 1.88 2.24 2.31|2.19 2.25 1.97 2.16 2.12 2.16|2.12 2.34 2.24 2.24 2.09 2.24] 2.19 ± 0.13, z 13.5
    "online-dpo": ("reward", 0.5),
}
# KL(π ‖ π*_own) / KL(π_sft ‖ π*_own) must end below this, for every method with a target β (values as above).
# BRAIn's, EXO's and PPO's were raised in world (c), where seeds 3–8 were measured too (18 values each): BRAIn's ratio
# is either ~0.005 or ~0.045 (max 0.047, over the old 0.05), EXO's max 0.077 (old 0.1), PPO's max 0.61 (old 0.6).
MAX_KL_RATIO = {
    # None: no KL check, since mean + 3 sd ≥ 1 at this budget. DPO from 60 steps of the fixed human pairs
    # (test_oracle_convergence.py checks DPO's convergence at 300 steps):
    # [0.80 0.33 0.16 0.35 0.35 0.32|0.38 0.30 0.12 0.30 0.73 0.28|0.61 0.44 0.14 0.21 0.73 0.11] 0.37 ± 0.21
    "dpo": None,
    # [0.02 0.46 0.03 0.19 0.02 0.20|0.35 0.04 0.03 0.27 0.28 0.21|0.18 0.09 0.35 0.07 0.26 0.06] 0.17 ± 0.14, z 3.9
    "dpo-sft": 0.7,
    # [0.07 0.08 0.09 0.06 0.07 0.07|0.05 0.06 0.15 0.07 0.05 0.05|0.05 0.10 0.06 0.09 0.07 0.11] 0.07 ± 0.03, z 4.9
    "expert-iteration": 0.2,
    # [0.05 0.05 0.03 0.03 0.08 0.03|0.18 0.03 0.02 0.04 0.09 0.02|0.08 0.02 0.03 0.06 0.04 0.08] 0.05 ± 0.04, z 3.8
    "arm": 0.2,
    # [0.01 0.01 0.01 0.01 0.05 0.02|0.04 0.01 0.01 0.01 0.01 0.02|0.01 0.01 0.01 0.01 0.01 0.01] 0.02 ± 0.01, z 7.4
    "arm-pl": 0.1,
    # [0.00 0.00 0.00 0.00 0.00 0.00|0.00 0.02 0.00 0.00 0.00 0.00|0.00 0.05 0.00 0.04 0.00 0.01] 0.01 ± 0.01, z 12.9
    "brain": 0.2,
    # [0.00 0.01 0.01 0.01 0.01 0.01|0.01 0.01 0.00 0.01 0.01 0.07|0.01 0.05 0.06 0.08 0.01 0.01] 0.02 ± 0.02, z 11.2
    "exo": 0.3,
    # [0.09 0.01 0.01 0.01 0.11 0.00|0.01 0.00 0.01 0.16 0.19 0.01|0.01 0.05 0.00 0.05 0.01 0.02] 0.04 ± 0.06, z 4.5
    "dpo-rw": 0.3,
    # [0.08 0.13 0.28 0.02 0.11 0.25|0.09 0.19 0.07 0.17 0.19 0.51|0.03 0.52 0.05 0.11 0.14 0.14] 0.17 ± 0.14, z 5.1
    "ppo": 0.9,
    # RSO's pairs are labelled hard by the reward, which does not target π*_β (README): it can overshoot
    # [0.27 0.11 0.39 0.42 0.11 1.08|0.64 0.08 0.06 0.33 0.12 0.45|0.17 0.26 0.34 0.11 0.52 0.45] 0.33 ± 0.25
    "rso": None,
    # [0.11 0.08 0.27 0.08 0.11 0.09|0.12 0.18 0.10 0.07 0.07 0.87|0.21 0.25 0.13 0.15 0.24 0.18] 0.18 ± 0.18, z 3.9
    "dpo-pl": 0.9,
    # [0.10 0.19 0.18 0.48 0.15 0.09|0.19 0.08 0.35 0.16 0.19 0.15|0.29 0.09 0.12 0.12 0.26 0.09] 0.18 ± 0.11, z 4.5
    "online-dpo": 0.65,
}


def fit(name, params, tmp_path, seed=0):
    task, sft, prompts, gold, sft_lp = oracle_world()
    method = get_method(name)(params)
    ctx = MethodContext(task=task, sft_policy=sft, reward_fn=task.gold_reward, run_dir=tmp_path, seed=seed)
    torch.manual_seed(seed)
    policy = method.fit(ctx)
    return method, policy


def measure(method, policy) -> dict:
    """The exact reward gain, the own-objective gains on the training pairs (for a trained policy), and the KL
    ratio to the own target."""
    task, sft, prompts, gold, sft_lp = oracle_world()
    beta = method.target_beta(task)
    m, base = evaluate(policy, beta), sft_baseline(beta)
    own = (
        {k: v - sft_pair_objectives()[k] for k, v in pair_objectives(policy).items()}
        if hasattr(policy, "model")
        else {}
    )
    ratio = m["kl_to_own_target"] / base["kl_to_own_target"] if beta is not None else None
    return {"reward": m["exact_reward"] - base["exact_reward"], **own, "kl_ratio": ratio}


def passes(name, values) -> bool:
    metric, threshold = CHECKS[name]
    ok = values[metric] > threshold
    if MAX_KL_RATIO.get(name) is not None:
        ok = ok and values["kl_ratio"] < MAX_KL_RATIO[name]
    return ok


def test_every_method_has_an_oracle_case():
    from alignbench.methods.registry import all_methods

    assert set(CASES) == set(all_methods()) - {"sft"} == set(CHECKS)
    assert set(MAX_KL_RATIO) == {n for n in CASES if get_method(n)(CASES[n]).target_beta(oracle_world()[0]) is not None}


@pytest.mark.parametrize("name", list(CASES))
def test_method_moves_policy_towards_reward(name, tmp_path):
    method, policy = fit(name, CASES[name], tmp_path)
    values = measure(method, policy)
    print(f"{name}: {values}")
    metric, threshold = CHECKS[name]
    assert values[metric] > threshold, f"{name}: {metric} gain {values[metric]:.3f} ≤ {threshold}"
    if MAX_KL_RATIO.get(name) is not None:
        assert values["kl_ratio"] < MAX_KL_RATIO[name], \
            f"{name}: KL to own target is {values['kl_ratio']:.3f} of π_sft's, not below {MAX_KL_RATIO[name]}"


def test_broken_losses_fail_the_same_check(tmp_path, monkeypatch):
    """The assertions above have teeth: a sign-flipped DPO and a detached EXO fail them (the KL direction:
    tests/methods/test_oracle_convergence.py)."""
    from alignbench.training import losses

    real_dpo = losses.dpo_loss
    monkeypatch.setattr(losses, "dpo_loss", lambda hw, hl, beta: real_dpo(hl, hw, beta))  # wrong sign
    method, policy = fit("dpo", CASES["dpo"], tmp_path / "dpo")
    assert not passes("dpo", measure(method, policy)), "a sign-flipped DPO passed the convergence check"
    monkeypatch.undo()

    real_exo = losses.exo_loss

    def detached(h, r, bp, br):  # gradient cannot reach the policy
        return real_exo(h.detach(), r, bp, br) + 0.0 * h.sum()

    monkeypatch.setattr(losses, "exo_loss", detached)
    method, policy = fit("exo", CASES["exo"], tmp_path / "exo")
    assert not passes("exo", measure(method, policy)), "a detached EXO loss passed the convergence check"


def _break_rso(monkeypatch):
    from alignbench.methods import rso

    real_winner_first = rso.winner_first

    def loser_first(data, rewards, pairs):
        out, rows = real_winner_first(data, rewards, pairs)
        out.response_ids = [group[::-1] for group in out.response_ids]
        return out, rows

    monkeypatch.setattr(rso, "winner_first", loser_first)


def _break_ipo(monkeypatch):
    from alignbench.training import losses

    real_ipo = losses.ipo_loss
    monkeypatch.setattr(losses, "ipo_loss", lambda hw, hl, tau: real_ipo(hl, hw, tau))


def _break_kto(monkeypatch):
    from alignbench.training import losses

    real_kto = losses.kto_loss
    monkeypatch.setattr(losses, "kto_loss", lambda h, d, z0, beta, ld, lu: real_kto(h, 1 - d, z0, beta, ld, lu))


BROKEN = {
    "rso": _break_rso,  # pairs labelled backwards (loser first)
    "ipo": _break_ipo,  # the margin's sign flipped: the target margin is for the rejected response
    "kto": _break_kto,  # desirable and undesirable swapped
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_rso_ipo_kto_fail_the_same_check(name, tmp_path, monkeypatch):
    """Each deliberately broken variant fails the convergence check its correct version passes."""
    BROKEN[name](monkeypatch)
    method, policy = fit(name, CASES[name], tmp_path)
    values = measure(method, policy)
    assert not passes(name, values), f"a broken {name} passed the convergence check ({values})"


def _chi_square_against_target(accept_fn, beta: float, n_proposals: int = 200_000):
    """χ² of RSO-accepted proposals from π_sft against π*_β on one oracle prompt, cells = reward levels."""
    from scipy import stats

    task, sft, prompts, gold, sft_lp = oracle_world()
    r, lp = gold[0].double(), sft_lp[0].double()
    gen = torch.Generator().manual_seed(0)
    proposals = torch.multinomial(lp.exp(), n_proposals, replacement=True, generator=gen)
    accepted = proposals[torch.rand(n_proposals, generator=gen, dtype=torch.float64) < accept_fn(r[proposals])]
    target = torch.softmax(lp + r / beta, -1)
    levels, cell = torch.unique(r, return_inverse=True)
    expected = torch.zeros(len(levels), dtype=torch.float64).index_add_(0, cell, target) * len(accepted)
    observed = torch.bincount(cell[accepted], minlength=len(levels)).double()
    small = expected < 5  # pool the rare reward levels into one cell
    exp_cells = torch.cat([expected[~small], expected[small].sum().view(1)])
    obs_cells = torch.cat([observed[~small], observed[small].sum().view(1)])
    chi2 = float(((obs_cells - exp_cells) ** 2 / exp_cells.clamp(min=1e-12)).sum())
    return len(accepted), stats.chi2.sf(chi2, len(exp_cells) - 1)


def test_rso_acceptance_law_is_exactly_the_target():
    """Proposals from π_sft accepted with probability exp((r − M)/β), M the sup of the reward, are
    distributed as π*_β ∝ π_sft·exp(r/β): χ² over reward levels does not reject. Broken variants (β
    doubled in the acceptance; exp((M − r)/β), favouring low reward) are rejected."""
    from alignbench.training import losses

    beta = 1.0
    gold = oracle_world()[3]
    sup = float(gold[0].max())
    n, p = _chi_square_against_target(lambda r: losses.rso_acceptance(r, beta, sup), beta)
    assert n > 5000 and p > 1e-3, f"RSO acceptance law differs from π*_β (p = {p:.2e}, {n} accepted)"
    _, p = _chi_square_against_target(lambda r: losses.rso_acceptance(r, 2 * beta, sup), beta)
    assert p < 1e-6, "acceptance with β doubled was not rejected"
    _, p = _chi_square_against_target(lambda r: losses.rso_acceptance(-r, beta, float(-gold[0].min())), beta)
    assert p < 1e-6, "acceptance favouring low reward was not rejected"


def _measure(name):
    def run(tmp_path, seed):
        method, policy = fit(name, CASES[name], tmp_path, seed)
        return measure(method, policy)
    return run


CALIBRATED = {name: _measure(name) for name in CASES}
