"""Every loss against values or gradients worked out by hand on 2–4-element examples."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from alignbench.training import losses as L


def sig(x):
    return 1 / (1 + math.exp(-x))


def t(*xs):
    return torch.tensor(xs, dtype=torch.float64)


# --- DPO, ARM-BT, PL ---------------------------------------------------------------------------
def test_dpo_at_zero_margin_is_ln2_and_hand_value():
    assert float(L.dpo_loss(t(0.3), t(0.3), 0.1)) == pytest.approx(math.log(2))
    # β = 0.5, h_w = 2, h_l = −1: −log σ(0.5·3) = log(1 + e^{−1.5})
    assert float(L.dpo_loss(t(2.0), t(-1.0), 0.5)) == pytest.approx(math.log(1 + math.exp(-1.5)))
    hw, hl = t(0.0).requires_grad_(), t(0.0).requires_grad_()
    L.dpo_loss(hw, hl, 0.1).backward()
    # d/dh_w = −β(1 − σ(0)) = −0.05: descending raises the chosen response
    assert float(hw.grad) == pytest.approx(-0.05) and float(hl.grad) == pytest.approx(0.05)


def test_preference_metrics_by_hand():
    # β = 0.5; margins 0.5·(2 − (−1)) = 1.5, 0.5·(0 − 1) = −0.5, 0.5·(0.2 − 0.2) = 0 → mean 1/3, one of three positive
    m = L.preference_metrics(t(2.0, 0.0, 0.2), t(-1.0, 1.0, 0.2), 0.5)
    assert float(m["reward_margin"]) == pytest.approx(1 / 3) and float(m["reward_accuracy"]) == pytest.approx(1 / 3)


def test_arm_bt_with_rho_one_is_dpo_and_rho_half_is_flat():
    h0, h1 = t(0.4, -1.0), t(1.5, 0.2)
    assert float(L.arm_bt_loss(h0, h1, t(1.0, 1.0), 0.3)) == pytest.approx(float(L.dpo_loss(h1, h0, 0.3)))
    a, b = t(0.7).requires_grad_(), t(0.7).requires_grad_()
    L.arm_bt_loss(a, b, t(0.5), 0.1).backward()
    assert float(a.grad) == pytest.approx(0.0) and float(b.grad) == pytest.approx(0.0)
    # hand value: ρ = σ(r1 − r0) with r = (0, 1) → ρ = σ(1); margin β(h1 − h0) = 0.1·2 = 0.2
    rho = L.arm_soft_label(t(0.0), t(1.0))
    assert float(rho) == pytest.approx(sig(1.0))
    want = -(sig(1) * math.log(sig(0.2)) + (1 - sig(1)) * math.log(sig(-0.2)))
    assert float(L.arm_bt_loss(t(0.0), t(2.0), rho, 0.1)) == pytest.approx(want)


def test_plackett_luce_k2_equals_bt_soft_label():
    h, r = t(0.3, -0.4).view(1, 2), t(1.0, 0.2).view(1, 2)
    rho = L.arm_soft_label(r[:, 1], r[:, 0])  # P(y0 ≻ y1) with y0 the first
    # PL over (y0, y1) with scores s: P(y0 first) = σ(s0 − s1): BT with ρ = σ(r0 − r1)
    assert float(L.plackett_luce_loss(h, r, 0.5)) == pytest.approx(float(L.arm_bt_loss(h[:, 1], h[:, 0], rho, 0.5)))


def test_plackett_luce_k3_by_hand():
    r, s = [0.0, 1.0, 2.0], [0.5, 0.0, -0.5]  # s = β·h with β = 1

    def pl(scores, perm):
        out, rest = 1.0, list(perm)
        for i in perm:
            out *= math.exp(scores[i]) / sum(math.exp(scores[j]) for j in rest)
            rest.remove(i)
        return out

    want = -sum(pl(r, p) * math.log(pl(s, p)) for p in itertools.permutations(range(3)))
    assert float(L.plackett_luce_loss(t(*s).view(1, 3), t(*r).view(1, 3), 1.0)) == pytest.approx(want)


def test_plackett_luce_monte_carlo_matches_exact():
    torch.manual_seed(0)
    h, r = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    exact = float(L.plackett_luce_loss(h, r, 0.7))
    mc = float(L.plackett_luce_loss(h, r, 0.7, max_exact_k=3, n_rankings=40000,
                                    generator=torch.Generator().manual_seed(1)))
    assert mc == pytest.approx(exact, rel=0.02)


# --- EXO ---------------------------------------------------------------------------------------------
def test_exo_pref_optimum_margin():
    eps, bp = 1e-3, 0.5
    opt = math.log((1 - eps) / eps) / bp  # h_w − h_l at the optimum
    hw = t(opt).requires_grad_()
    loss = L.exo_pref_loss(hw, t(0.0), bp, eps)
    loss.backward()
    assert float(loss) == pytest.approx(0.0, abs=1e-9) and float(hw.grad) == pytest.approx(0.0, abs=1e-9)
    for d in (-2.0, 2.0):
        assert float(L.exo_pref_loss(t(opt + d), t(0.0), bp, eps)) > 1e-4


def test_exo_rw_is_reverse_kl_by_hand_and_differs_from_dpo_rw():
    h, r = [1.0, 0.0, -1.0], [0.0, 0.5, 1.0]
    bp, br = 1.0, 1.0
    pf = [math.exp(x) / sum(math.exp(y) for y in h) for x in h]
    pr = [math.exp(x) / sum(math.exp(y) for y in r) for x in r]
    kl = sum(a * math.log(a / b) for a, b in zip(pf, pr))
    ce = -sum(b * math.log(a) for a, b in zip(pf, pr))
    H, R = t(*h).view(1, 3), t(*r).view(1, 3)
    assert float(L.exo_loss(H, R, bp, br)) == pytest.approx(kl)
    assert float(L.dpo_rw_loss(H, R, bp, br)) == pytest.approx(ce)
    assert abs(kl - ce) > 0.1
    # both are minimised where β_π·h = r/β_r + const
    for fn in (L.exo_loss, L.dpo_rw_loss):
        hh = (t(*r) * 2 + 3).view(1, 3).requires_grad_()  # β_π = 0.5, β_r = 1: 0.5·h = r + 1.5
        fn(hh, R, 0.5, 1.0).backward()
        assert hh.grad.abs().max() < 1e-9


# --- BRAIn --------------------------------------------------------------------------------------------
def test_brain_gradient_is_alpha_minus_beta_by_hand():
    lp, lq = t(-1.0, -2.0, -0.5), t(-1.5, -1.0, -1.0)
    alpha = t(0.5, 0.3, 0.2)
    x = lp.clone().view(1, 3).requires_grad_()
    L.brain_loss(x, lq.view(1, 3), alpha.view(1, 3)).backward()
    s = [a - b for a, b in zip(lp.tolist(), lq.tolist())]  # (0.5, −1, 0.5)
    beta = [math.exp(v) / sum(math.exp(w) for w in s) for v in s]
    assert x.grad.view(-1).tolist() == pytest.approx([-(a - b) for a, b in zip(alpha.tolist(), beta)])


def test_brain_gradient_through_a_policy_is_sum_alpha_minus_beta_grad_logp():
    torch.manual_seed(0)
    logits = torch.randn(3, dtype=torch.float64, requires_grad=True)  # a one-step policy over 3 responses
    lq = t(-1.2, -0.9, -1.3).view(1, 3)
    alpha = t(0.2, 0.5, 0.3).view(1, 3)
    L.brain_loss(torch.log_softmax(logits, 0).view(1, 3), lq, alpha).backward()
    lp = torch.log_softmax(logits.detach(), 0)
    beta = torch.softmax(lp - lq.view(-1), 0)
    manual = torch.zeros(3, dtype=torch.float64)
    for i in range(3):  # Σ_i (α̂_i − β̂_i) ∇ log π(y_i); ∇_logits log softmax_i = e_i − π
        manual += (alpha.view(-1)[i] - beta[i]) * (torch.eye(3, dtype=torch.float64)[i] - lp.exp())
    assert torch.allclose(logits.grad, -manual)


def test_brain_reduces_to_dpo_sft_under_the_theorem_conditions():
    # n = 2, proposal = π_sft, α̂ = one-hot on the higher-reward sample (γ → 0): gradient = DPO's with β = 1.
    lp = t(-1.0, -2.5).view(1, 2)
    ls = t(-1.4, -2.0).view(1, 2)
    alpha = L.brain_alpha(t(3.0, 1.0).view(1, 2), 1e-6, ls, ls)
    assert alpha.view(-1).tolist() == pytest.approx([1.0, 0.0])
    x = lp.clone().requires_grad_()
    L.brain_loss(x, ls, alpha).backward()
    y = lp.clone().requires_grad_()
    h = y - ls
    L.dpo_loss(h[:, 0], h[:, 1], 1.0).backward()
    assert torch.allclose(x.grad, y.grad)


def test_brain_alpha_and_baseline_modes():
    r, ls = t(0.0, 1.0, 2.0).view(1, 3), t(-1.0, -2.0, -3.0).view(1, 3)
    assert torch.allclose(L.brain_alpha(r, 0.5, ls, ls), torch.softmax(r / 0.5, -1))
    lq = t(-1.5, -1.5, -2.0).view(1, 3)
    a = L.brain_alpha(r, 1.0, ls, lq)
    assert torch.allclose(a, torch.softmax(r + ls - lq, -1))
    grads = []
    for mode in ("self-normalized", "unnormalized", "none"):
        x = ls.clone().requires_grad_()
        L.brain_loss(x, lq, a, baseline=mode).backward()
        grads.append(x.grad.clone())
    assert not torch.allclose(grads[0], grads[1]) and not torch.allclose(grads[1], grads[2])
    assert torch.allclose(grads[2], -a)  # no baseline: every sample pushed up by α̂
    w = (ls - lq).exp()
    assert torch.allclose(grads[1], -(a - w / 3))
    with pytest.raises(ValueError):
        L.brain_loss(ls, lq, a, baseline="gdc")


# --- reward models and SFT ----------------------------------------------------------------------------------
def test_reward_model_losses_by_hand():
    assert float(L.bradley_terry_loss(t(1.0, 0.0), t(0.0, 0.0))) == pytest.approx(
        (math.log(1 + math.exp(-1)) + math.log(2)) / 2
    )
    # z = 1, r = 2: −log σ(2); z = 0, r = 2: −log(1 − σ(2))
    assert float(L.pointwise_bce_loss(t(2.0), t(1.0))) == pytest.approx(-math.log(sig(2)))
    assert float(L.pointwise_bce_loss(t(2.0), t(0.0))) == pytest.approx(-math.log(1 - sig(2)))
    assert float(L.sft_nll_loss(t(-1.0, -3.0), normalization="sum")) == pytest.approx(2.0)
    assert L.snis_weights(t(0.0, 0.1), 0.1).tolist() == pytest.approx([1 / (1 + math.e), math.e / (1 + math.e)])


def test_sft_normalisation_is_token_level_by_default():
    """One 1-token response with log-prob −2 and one 4-token response with −12: the token-level mean
    over the batch is 14 / 5 = 2.8 NLL per token. The per-sequence mean (today's old behaviour, which
    up-weights the short response) gives (2 + 3) / 2 = 2.5 and must not be the default."""
    logps, n_tokens = t(-2.0, -12.0), t(1.0, 4.0)
    assert float(L.sft_nll_loss(logps, n_tokens)) == pytest.approx(2.8)
    assert float(L.sft_nll_loss(logps, n_tokens, "sequence")) == pytest.approx(2.5)
    assert float(L.sft_nll_loss(logps, n_tokens, "sum")) == pytest.approx(7.0)
    with pytest.raises(ValueError):
        L.sft_nll_loss(logps, n_tokens, "per-batch")


# --- PPO ------------------------------------------------------------------------------------------------
def test_ppo_clipped_objective_by_hand():
    # four tokens: (ratio, advantage) = (1.5, +1) clipped at 1.2; (0.5, +1) unclipped (min picks 0.5);
    # (1.5, −1) unclipped (−A·r = 1.5 is the max); (0.5, −1) clipped at 0.8.
    old = torch.zeros(1, 4, dtype=torch.float64)
    new = torch.log(t(1.5, 0.5, 1.5, 0.5)).view(1, 4).requires_grad_()
    adv = t(1.0, 1.0, -1.0, -1.0).view(1, 4)
    mask = torch.ones(1, 4, dtype=torch.float64)
    loss = L.ppo_policy_loss(new, old, adv, mask, clip=0.2)
    assert float(loss) == pytest.approx((-1.2 - 0.5 + 1.5 + 0.8) / 4)
    loss.backward()
    # clipped tokens get no gradient; unclipped ones get −A·ratio/4
    assert new.grad.view(-1).tolist() == pytest.approx([0.0, -0.5 / 4, 1.5 / 4, 0.0])


def test_ppo_value_loss_by_hand():
    v, old, ret = t(1.0, 0.0).view(1, 2), t(0.5, 0.5).view(1, 2), t(2.0, 0.0).view(1, 2)
    # token 1: unclipped (1 − 2)² = 1, clipped v → 0.7: (0.7 − 2)² = 1.69 → 1.69; token 2: (0 − 0)² = 0, clipped 0.3² =
    # 0.09
    assert float(L.ppo_value_loss(v, old, ret, torch.ones(1, 2, dtype=torch.float64), clip=0.2)) == pytest.approx(
        0.5 * (1.69 + 0.09) / 2
    )


def test_gae_by_hand():
    rewards, values, mask = (
        t(1.0, 0.0, 2.0).view(1, 3),
        t(0.5, 0.2, 0.1).view(1, 3),
        torch.ones(1, 3, dtype=torch.float64),
    )
    adv, ret = L.gae_advantages(rewards, values, mask, discount=1.0, gae_lambda=1.0)
    # λ = γ = 1: advantage = reward-to-go − value
    assert adv.view(-1).tolist() == pytest.approx([3 - 0.5, 2 - 0.2, 2 - 0.1])
    assert ret.view(-1).tolist() == pytest.approx([3.0, 2.0, 2.0])
    adv, _ = L.gae_advantages(rewards, values, mask, discount=1.0, gae_lambda=0.5)
    d2 = 2 - 0.1
    d1 = 0 + 0.1 - 0.2
    d0 = 1 + 0.2 - 0.5
    assert adv.view(-1).tolist() == pytest.approx([d0 + 0.5 * (d1 + 0.5 * d2), d1 + 0.5 * d2, d2])


def test_kl_penalized_rewards_and_masked_mean_by_hand():
    logp, ref = t(-1.0, -2.0, 0.0).view(1, 3), t(-1.5, -1.0, 0.0).view(1, 3)
    mask = t(1.0, 1.0, 0.0).view(1, 3)  # the last position is padding
    r = L.kl_penalized_rewards(t(5.0), logp, ref, mask, beta=0.1)
    assert r.view(-1).tolist() == pytest.approx([-0.05, 0.1 + 5.0, 0.0])
    assert float(L.masked_mean(t(1.0, 3.0, 100.0).view(1, 3), mask)) == pytest.approx(2.0)


# --- IPO, hinge (RSO), SLiC, ORPO ----------------------------------------------------------------------
def test_ipo_by_hand_and_zero_gradient_at_its_optimum_margin():
    # τ = 0.5: target margin 1/(2τ) = 1; h_w − h_l = 3 → (3 − 1)² = 4
    assert float(L.ipo_loss(t(2.0), t(-1.0), 0.5)) == pytest.approx(4.0)
    tau = 0.1
    hw = t(1 / (2 * tau) + 0.3).requires_grad_()
    hl = t(0.3).requires_grad_()
    loss = L.ipo_loss(hw, hl, tau)
    loss.backward()
    assert float(loss) == pytest.approx(0.0, abs=1e-12) and float(hw.grad) == pytest.approx(0.0, abs=1e-12)
    # past the optimum the gradient pushes the margin back down (DPO would keep pushing it up)
    hw = t(1 / (2 * tau) + 1.0).requires_grad_()
    L.ipo_loss(hw, t(0.0), tau).backward()
    assert float(hw.grad) == pytest.approx(2.0)


def test_hinge_by_hand_and_flat_beyond_unit_margin():
    # β = 0.5, margin h_w − h_l = 1 → max(0, 1 − 0.5) = 0.5
    assert float(L.hinge_loss(t(1.0), t(0.0), 0.5)) == pytest.approx(0.5)
    hw = t(3.0).requires_grad_()  # β·margin = 1.5 > 1: no loss, no gradient
    loss = L.hinge_loss(hw, t(0.0), 0.5)
    loss.backward()
    assert float(loss) == 0.0 and float(hw.grad) == 0.0


def test_slic_by_hand_and_regulariser_gradient():
    # δ = 1, log π(y_w) = −2, log π(y_l) = −2.5: hinge 1 − 0.5 = 0.5; λ = 0.1, log π(y_ref) = −2 → +0.2
    assert float(L.slic_loss(t(-2.0), t(-2.5), t(-2.0), 1.0, 0.1)) == pytest.approx(0.7)
    # margin satisfied: only the cross-entropy term remains, gradient −λ on the target's log-prob
    w, ref = t(-1.0).requires_grad_(), t(-1.0).requires_grad_()
    L.slic_loss(w, t(-5.0), ref, 1.0, 0.1).backward()
    assert float(w.grad) == 0.0 and float(ref.grad) == pytest.approx(-0.1)


def test_orpo_by_hand_and_zero_lambda_is_sft():
    lw, ll = math.log(0.5), math.log(0.2)  # token-averaged likelihoods P = 0.5 and 0.2
    odds = math.log(0.5 / 0.5) - math.log(0.2 / 0.8)
    want = -lw - 0.1 * math.log(sig(odds))
    assert float(L.orpo_loss(t(lw), t(ll), 0.1)) == pytest.approx(want)
    assert float(L.log_odds(t(math.log(0.2)))) == pytest.approx(math.log(0.25))
    assert float(L.orpo_loss(t(lw, -3.0), t(ll, -1.0), 0.0)) == pytest.approx(
        float(L.sft_nll_loss(t(lw, -3.0), normalization="sum"))
    )
    # the odds-ratio term pushes y_l down
    x = t(ll).requires_grad_()
    L.orpo_loss(t(lw), x, 0.1).backward()
    assert float(x.grad) > 0


# --- KTO --------------------------------------------------------------------------------------------------
def test_kto_one_example_with_zero_reference_point():
    # desirable, z₀ = 0, β = 0.1, h = 2: λ_D(1 − σ(0.2)); undesirable: λ_U(1 − σ(−0.2))
    assert float(L.kto_loss(t(2.0), t(1.0), 0.0, 0.1, 1.0, 1.0)) == pytest.approx(1 - sig(0.2))
    assert float(L.kto_loss(t(2.0), t(0.0), 0.0, 0.1, 1.0, 1.5)) == pytest.approx(1.5 * (1 - sig(-0.2)))
    # a batch averages the two; with h = z₀ each is λ/2
    assert float(L.kto_loss(t(0.3, 0.3), t(1.0, 0.0), 0.3, 0.1, 1.0, 1.0)) == pytest.approx(0.5)
    # gradient: desirable pushed up by −λ_D β σ'(β(h − z₀))
    h = t(0.0).requires_grad_()
    L.kto_loss(h, t(1.0), 0.0, 0.1, 2.0, 1.0).backward()
    assert float(h.grad) == pytest.approx(-2.0 * 0.1 * 0.25)


KTO_SLIPS = {
    "σ(βh − z₀)": lambda h, d, z0, b, ld, lu: (d * ld * (1 - torch.sigmoid(b * h - z0))
                                              + (1 - d) * lu * (1 - torch.sigmoid(z0 - b * h))).mean(),
    "σ(β(h + z₀))": lambda h, d, z0, b, ld, lu: (d * ld * (1 - torch.sigmoid(b * (h + z0)))
                                                + (1 - d) * lu * (1 - torch.sigmoid(-b * (h + z0)))).mean(),
}


def test_kto_asymmetric_batch_by_hand_and_its_gradient():
    """Two desirable and two undesirable examples with h on both sides of z₀ = 0.4, β = 0.5, λ_U = 1.5:
    desirable 1 − σ(0.5·0.6), 1 − σ(0.5·(−0.6)); undesirable 1.5(1 − σ(0.5·(0.4 − 0.7))), 1.5(1 − σ(0.5·1.4)).
    Both slips (σ(βh − z₀), σ(β(h + z₀))) are off by more than 0.005 here (an h = z₀ batch cannot see them)."""
    h, d, z0, beta = t(1.0, -0.2, 0.7, -1.0), t(1.0, 1.0, 0.0, 0.0), 0.4, 0.5
    want = ((1 - sig(0.3)) + (1 - sig(-0.3)) + 1.5 * (1 - sig(-0.15)) + 1.5 * (1 - sig(0.7))) / 4
    assert want == pytest.approx(0.5759657774, abs=1e-9)
    assert float(L.kto_loss(h, d, z0, beta, 1.0, 1.5)) == pytest.approx(want, abs=1e-12)
    for slip, wrong in KTO_SLIPS.items():
        assert abs(float(wrong(h, d, z0, beta, 1.0, 1.5)) - want) > 5e-3, slip
    # dL/dh_i = −λ β σ'(±β(h_i − z₀)) / 4, negative for desirable (pushed up), positive for undesirable
    x = h.clone().requires_grad_()
    L.kto_loss(x, d, z0, beta, 1.0, 1.5).backward()

    def dsig(u):
        return sig(u) * (1 - sig(u))

    grad = [-beta * dsig(0.3) / 4, -beta * dsig(-0.3) / 4, 1.5 * beta * dsig(-0.15) / 4, 1.5 * beta * dsig(0.7) / 4]
    assert x.grad.tolist() == pytest.approx(grad, abs=1e-12)


def test_kto_reference_point_is_clamped_and_detached():
    hm = t(-1.0, -3.0).requires_grad_()
    assert float(L.kto_reference_point(hm)) == 0.0  # a negative KL estimate is clamped to 0
    hm = t(1.0, 2.0).requires_grad_()
    z0 = L.kto_reference_point(hm)
    assert float(z0) == pytest.approx(1.5) and not z0.requires_grad


# --- rankings: DPO-PL, PRO, RRHF, RAFT ---------------------------------------------------------------------
def test_dpo_pl_with_two_responses_is_dpo():
    h, r = t(0.3, -0.4, 1.0, 2.0).view(2, 2), t(1.0, 0.2, -1.0, 3.0).view(2, 2)
    # row 0: y0 wins; row 1: y1 wins
    want = float(L.dpo_loss(t(0.3, 2.0), t(-0.4, 1.0), 0.7))
    assert float(L.dpo_pl_loss(h, r, 0.7)) == pytest.approx(want)


def test_dpo_pl_k3_by_hand():
    h, r, beta = [0.5, 0.0, -0.5], [0.0, 2.0, 1.0], 2.0  # ranking: y1 ≻ y2 ≻ y0
    s = [beta * x for x in h]
    want = -(s[1] - math.log(sum(math.exp(x) for x in s)) + s[2] - math.log(math.exp(s[2]) + math.exp(s[0])))
    assert float(L.dpo_pl_loss(t(*h).view(1, 3), t(*r).view(1, 3), beta)) == pytest.approx(want)


def test_pro_by_hand_and_limit_without_sft_is_dpo_pl_with_unit_beta():
    p, r = [-1.0, -2.0, -0.5], [1.0, 3.0, 2.0]  # ranking: y1 ≻ y2 ≻ y0; top = y1
    e = [math.exp(x) for x in p]
    want = -(math.log(e[1] / (e[1] + e[2] + e[0])) + math.log(e[2] / (e[2] + e[0]))) + 0.5 * 2.0
    P, R = t(*p).view(1, 3), t(*r).view(1, 3)
    assert float(L.pro_loss(P, R, 0.5)) == pytest.approx(want)
    assert float(L.pro_loss(P, R, 0.0)) == pytest.approx(float(L.dpo_pl_loss(P, R, 1.0)))


def test_rrhf_by_hand_and_no_rank_loss_when_ordered():
    p, r, n = [-1.0, -2.0, -0.5], [1.0, 3.0, 2.0], [4.0, 4.0, 2.0]
    # pairs (i worse than j): (0,1): max(0, −1 + 2) = 1; (0,2): max(0, −1 + 0.5) = 0; (2,1): max(0, −0.5 + 2) = 1.5
    # fit: best is y1: −4·(−2) = 8
    assert float(L.rrhf_loss(t(*p).view(1, 3), t(*r).view(1, 3), t(*n).view(1, 3))) == pytest.approx(2.5 + 8.0)
    x = t(-3.0, -1.0, -2.0).view(1, 3).requires_grad_()  # log-probs already ordered like the rewards
    L.rrhf_loss(x, t(0.0, 2.0, 1.0).view(1, 3), t(1.0, 1.0, 1.0).view(1, 3)).backward()
    assert x.grad.view(-1).tolist() == pytest.approx([0.0, -1.0, 0.0])  # only the SFT term on the best


def test_raft_is_sft_on_the_best_response():
    """Summed log-probs and lengths; the best responses (−2 over 2 tokens, −3 over 4 tokens) give the
    token-level NLL 5 / 6; the per-sequence mean would give (1 + 0.75) / 2."""
    p, r = t(-1.0, -2.0, -0.5, -3.0, -1.5, -0.2).view(2, 3), t(0.0, 1.0, 0.5, 2.0, 0.0, 1.0).view(2, 3)
    n = t(1.0, 2.0, 1.0, 4.0, 1.0, 1.0).view(2, 3)
    assert float(L.raft_loss(p, r, n)) == pytest.approx(5.0 / 6.0)
    assert float(L.raft_loss(p, r, n, "sequence")) == pytest.approx((1.0 + 0.75) / 2)
    assert float(L.raft_loss(p[:, :1], r[:, :1], n[:, :1])) == pytest.approx(float(L.sft_nll_loss(p[:, 0], n[:, 0])))
    x = p.clone().requires_grad_()
    L.raft_loss(x, r, n).backward()
    assert x.grad.view(-1).tolist() == pytest.approx([0.0, -1 / 6, 0.0, -1 / 6, 0.0, 0.0])


# --- RSO's sampler ------------------------------------------------------------------------------------------
def test_rso_rejection_sampler_order_and_limits():
    # β tiny: only the best survives a pass, so acceptance order is reward order
    r = t(0.0, 3.0, 1.0, 2.0)
    assert L.rso_rejection_sample(r, 1e-6, 4, torch.Generator().manual_seed(0)) == [1, 3, 2, 0]
    assert L.rso_rejection_sample(r, 1e-6, 2, torch.Generator().manual_seed(0)) == [1, 3]
    # β huge: everything accepted in the first pass, in proposal order
    assert L.rso_rejection_sample(r, 1e9, 3, torch.Generator().manual_seed(0)) == [0, 1, 2]


def test_pro_sft_term_in_the_authors_form():
    """The authors' code: the SFT term on the summed log-likelihood of the top response, weight β·(K − 1)²
    (K = 3: 0.5·4 = 2); the ranking term keeps token averages. Top is y1 with summed log-lik −6 (3 tokens)."""
    p, r = [-1.0, -2.0, -0.5], [1.0, 3.0, 2.0]
    e = [math.exp(x) for x in p]
    rank = -(math.log(e[1] / (e[1] + e[2] + e[0])) + math.log(e[2] / (e[2] + e[0])))
    P, R, S = t(*p).view(1, 3), t(*r).view(1, 3), t(-2.0, -6.0, -1.0).view(1, 3)
    assert float(L.pro_loss(P, R, 0.5 * 4, sft_logps=S)) == pytest.approx(rank + 2.0 * 6.0)
    assert float(L.pro_loss(P, R, 0.5)) == pytest.approx(rank + 0.5 * 2.0)  # Santos's Eq. 17 form (token-mean)
