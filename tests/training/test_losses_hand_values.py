"""Hand-worked values that pin down the conventions an easy slip would change.

* EXO-rw / DPO-rw with β_π ≠ β_r and asymmetric rewards: a β_π↔β_r swap or r·β_r in place of
  r/β_r gives a different value, shown next to each assertion.
* GAE and ``masked_whiten`` on a right-padded batch built like PPO builds it (prompt and padding
  positions masked out, garbage rewards and values there): a variant that ignores the mask differs.

The references are plain-Python (``math``) evaluations of the papers' formulas, not the torch code.
"""

from __future__ import annotations

import math

import pytest
import torch

from alignbench.models.logprobs import build_batch
from alignbench.training import losses as L


def softmax(v):
    m = max(v)
    e = [math.exp(x - m) for x in v]
    return [x / sum(e) for x in e]


def exo_by_hand(h, r, beta_pi, beta_r):
    """KL(p_f ‖ p_r), p_f = softmax(β_π·h), p_r = softmax(r/β_r) (EXO Eq. 10–13)."""
    pf, pr = softmax([beta_pi * x for x in h]), softmax([x / beta_r for x in r])
    return sum(a * math.log(a / b) for a, b in zip(pf, pr))


def dpo_rw_by_hand(h, r, beta_pi, beta_r):
    """−Σ p_r log p_f (EXO §3.3)."""
    pf, pr = softmax([beta_pi * x for x in h]), softmax([x / beta_r for x in r])
    return -sum(b * math.log(a) for a, b in zip(pf, pr))


H = [[0.8, -0.3, 0.1], [-1.2, 0.4, 2.0]]
R = [[2.0, -1.0, 0.5], [0.0, 3.0, -0.5]]  # asymmetric: no permutation or sign flip of one row gives the other
BETA_PI, BETA_R = 0.5, 2.0


def batch_mean(fn, h_rows, r_rows, beta_pi, beta_r):
    return sum(fn(h, r, beta_pi, beta_r) for h, r in zip(h_rows, r_rows)) / len(h_rows)


@pytest.mark.parametrize("loss_name, by_hand, pinned", [
    ("exo_loss", exo_by_hand, 0.364741936),
    ("dpo_rw_loss", dpo_rw_by_hand, 1.162284248),
])
def test_reward_weighted_losses_by_hand_with_unequal_temperatures(loss_name, by_hand, pinned):
    want = batch_mean(by_hand, H, R, BETA_PI, BETA_R)
    assert want == pytest.approx(pinned, abs=1e-8)
    got = float(getattr(L, loss_name)(torch.tensor(H, dtype=torch.float64), torch.tensor(R, dtype=torch.float64),
                                      BETA_PI, BETA_R))
    assert got == pytest.approx(want, abs=1e-10)
    # The broken variants this value catches:
    swapped = batch_mean(by_hand, H, R, BETA_R, BETA_PI)  # β_π ↔ β_r: EXO 3.449, DPO-rw 1.812
    # softmax(r·β_r): 2.742 / 1.073
    reward_times_beta = batch_mean(by_hand, H, [[x * BETA_R ** 2 for x in r] for r in R], BETA_PI, BETA_R)
    for broken in (swapped, reward_times_beta):
        assert abs(broken - want) > 0.08


def test_reward_weighted_loss_gradients_by_hand():
    """∂/∂h_i KL(p_f ‖ p_r) = β_π·p_f,i·(log p_f,i − log p_r,i − KL); ∂/∂h_i (−Σ p_r log p_f) = β_π·(p_f,i − p_r,i)."""
    h, r = H[0], R[0]
    pf, pr = softmax([BETA_PI * x for x in h]), softmax([x / BETA_R for x in r])
    kl = exo_by_hand(h, r, BETA_PI, BETA_R)
    want_exo = [BETA_PI * a * (math.log(a) - math.log(b) - kl) for a, b in zip(pf, pr)]
    want_rw = [BETA_PI * (a - b) for a, b in zip(pf, pr)]
    for fn, want in ((L.exo_loss, want_exo), (L.dpo_rw_loss, want_rw)):
        x = torch.tensor([h], dtype=torch.float64, requires_grad=True)
        fn(x, torch.tensor([r], dtype=torch.float64), BETA_PI, BETA_R).backward()
        assert x.grad.view(-1).tolist() == pytest.approx(want, abs=1e-12)
    assert max(abs(a - b) for a, b in zip(want_exo, want_rw)) > 0.01  # the two directions really differ here


# --- PPO's GAE and whitening on a batch laid out as train_ppo lays it out -------------------------------
def ppo_layout():
    """Two rows, right-padded: prompt 3 + response 3 tokens, prompt 2 + response 2 tokens (pad after).
    Next-token positions (``[:, 1:]``): row 0 → mask 0 0 1 1 1, row 1 → mask 0 1 1 0 0."""
    _, _, rmask = build_batch([[1, 2, 3], [4, 5]], [[6, 7, 8], [9, 10]], pad_id=0)
    mask = rmask[:, 1:].double()
    assert mask.tolist() == [[0, 0, 1, 1, 1], [0, 1, 1, 0, 0]]
    return mask


def gae_by_hand(rewards, values, discount, gae_lambda):
    """GAE over one row's response tokens alone: the value after the last response token is 0."""
    adv, last = [0.0] * len(rewards), 0.0
    for t in reversed(range(len(rewards))):
        next_v = values[t + 1] if t + 1 < len(rewards) else 0.0
        last = rewards[t] + discount * next_v - values[t] + discount * gae_lambda * last
        adv[t] = last
    return adv


def test_gae_ignores_prompt_and_padding_positions():
    mask = ppo_layout()
    junk = 9.0  # rewards and value-head outputs at prompt and padding positions must not leak in
    rewards = torch.tensor([[junk, junk, 1.0, -0.5, 2.0], [junk, 0.3, 1.5, junk, junk]], dtype=torch.float64)
    values = torch.tensor([[junk, junk, 0.5, 0.2, -0.1], [junk, 0.4, 0.7, junk, junk]], dtype=torch.float64)
    discount, gae_lambda = 0.9, 0.8
    adv, ret = L.gae_advantages(rewards, values, mask, discount, gae_lambda)
    row0 = gae_by_hand([1.0, -0.5, 2.0], [0.5, 0.2, -0.1], discount, gae_lambda)
    row1 = gae_by_hand([0.3, 1.5], [0.4, 0.7], discount, gae_lambda)
    # By hand, row 1: δ1 = 1.5 − 0.7 = 0.8; δ0 = 0.3 + 0.9·0.7 − 0.4 = 0.53; A0 = 0.53 + 0.72·0.8 = 1.106
    assert row1 == pytest.approx([1.106, 0.8])
    want_adv = [[0.0, 0.0, *row0], [0.0, *row1, 0.0, 0.0]]
    want_ret = [[0.0, 0.0, *(a + v for a, v in zip(row0, [0.5, 0.2, -0.1]))],
                [0.0, *(a + v for a, v in zip(row1, [0.4, 0.7])), 0.0, 0.0]]
    assert adv.tolist() == [pytest.approx(row, abs=1e-12) for row in want_adv]
    assert ret.tolist() == [pytest.approx(row, abs=1e-12) for row in want_ret]
    # Broken variant: GAE that ignores the mask bootstraps from the padding's junk values and rewards.
    unmasked, _ = L.gae_advantages(rewards, values, torch.ones_like(mask), discount, gae_lambda)
    assert (unmasked * mask - adv).abs().max() > 1.0


def test_masked_whiten_uses_response_tokens_only():
    mask = ppo_layout()
    x = torch.tensor([[100.0, -40.0, 1.0, 2.0, 3.0], [55.0, 4.0, 5.0, -7.0, 8.0]], dtype=torch.float64)
    # Response tokens 1, 2, 3, 4, 5: mean 3, population variance (4 + 1 + 0 + 1 + 4)/5 = 2.
    s = math.sqrt(2.0)
    want = [[0.0, 0.0, -2 / s, -1 / s, 0.0], [0.0, 1 / s, 2 / s, 0.0, 0.0]]
    got = L.masked_whiten(x, mask)
    assert got.tolist() == [pytest.approx(row, abs=1e-6) for row in want]
    # Broken variant: whitening over every position (prompt and padding included) gives other values.
    unmasked = L.masked_whiten(x, torch.ones_like(mask)) * mask
    assert (unmasked - got).abs().max() > 0.5
