"""Every method's own part: small pure loss functions over tensors (no models, no methods).

Notation: h = log π_θ(y|x) − log π_ref(y|x) per sequence; r a reward; β, β_π, β_r, γ temperatures.
Each returns a scalar (mean over the batch dimension) unless stated.

Sources cited short below: "Alignment Guidebook" is Guo & Xiong, "Alignment Guidebook" (2024);
"Santos" is Santos, "Aligning Language Models with Human Feedback without Reinforcement Learning" (IST Lisbon MSc
report).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F


# --- supervised and reward models -----------------------------------------------------------
def sft_nll_loss(
    logps: torch.Tensor, n_tokens: torch.Tensor | None = None, normalization: str = "token"
) -> torch.Tensor:
    """SFT negative log-likelihood from summed sequence log-probs ``logps [B]`` and token counts ``n_tokens [B]``.

    ``token`` (default; TRL's and the papers' SFT): Σ_b log π(y_b|x_b) / Σ_b |y_b| — every token of the batch
    weighs the same. ``sequence``: the mean over the batch of each sequence's token-averaged NLL, which
    up-weights short responses. ``sum``: −Σ_b log π(y_b|x_b) / B (ARM Eq. 7 sums log π(y|x)).
    """
    if normalization == "sum":
        return -logps.mean()
    if n_tokens is None:
        raise ValueError("sft_nll_loss needs n_tokens for token or sequence normalization")
    n_tokens = n_tokens.to(logps.dtype).clamp(min=1.0)
    if normalization == "token":
        return -logps.sum() / n_tokens.sum()
    if normalization == "sequence":
        return -(logps / n_tokens).mean()
    raise ValueError(f"unknown normalization {normalization!r} (token, sequence, sum)")


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Pairwise reward-model loss −log σ(r_w − r_l)."""
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def pointwise_bce_loss(r: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """ARM Eq. 13 (non-pairwise feedback): −[z log σ(r) + (1 − z) log(1 − σ(r))].

    The paper prints the second term as (1 − z)(1 − log σ(r)). For z = 1 that term vanishes and the loss is
    the usual −log σ(r); for z = 0 it is 1 − log σ(r), which grows without bound as r → −∞ — the wrong
    direction for a rejected response — so only the z = 0 term is broken. The binary cross-entropy the
    text describes, whose z = 0 term is −log(1 − σ(r)), is implemented.
    """
    return F.binary_cross_entropy_with_logits(r, z.to(r.dtype))


# --- DPO family -------------------------------------------------------------------------------
def dpo_loss(h_chosen: torch.Tensor, h_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO: −log σ(β(h_w − h_l))."""
    return -F.logsigmoid(beta * (h_chosen - h_rejected)).mean()


def preference_metrics(h_chosen: torch.Tensor, h_rejected: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
    """Training-curve metrics of a pair loss (not a loss): the mean implicit reward margin β(h_w − h_l) and
    the share of pairs where it is positive, as TRL logs them."""
    margin = beta * (h_chosen - h_rejected).detach()
    return {"reward_margin": margin.mean(), "reward_accuracy": (margin > 0).float().mean()}


def arm_soft_label(r0: torch.Tensor, r1: torch.Tensor) -> torch.Tensor:
    """ARM Eq. 8: ρ = P(y1 ≻ y0) = σ(r1 − r0), with unscaled rewards."""
    return torch.sigmoid(r1 - r0)


def arm_bt_loss(h0: torch.Tensor, h1: torch.Tensor, rho: torch.Tensor, beta: float) -> torch.Tensor:
    """ARM Eq. 9: −ρ log σ(β(h1 − h0)) − (1 − ρ) log σ(β(h0 − h1))."""
    m = beta * (h1 - h0)
    return -(rho * F.logsigmoid(m) + (1 - rho) * F.logsigmoid(-m)).mean()


def _pl_logprob(scores: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
    """log P(τ) under Plackett–Luce for scores ``[B, K]`` and rankings ``perms [..., K]`` → ``[B, P]``."""
    s = scores.unsqueeze(1).expand(-1, perms.shape[-2] if perms.dim() == 2 else perms.shape[1], -1)
    if perms.dim() == 2:
        perms = perms.unsqueeze(0).expand(scores.shape[0], -1, -1)
    ordered = torch.gather(s, 2, perms)  # scores in ranked order
    # Σ_k [s_τ(k) − logsumexp_{j ≥ k} s_τ(j)]: reverse cumulative logsumexp.
    tail = torch.logcumsumexp(ordered.flip(-1), dim=-1).flip(-1)
    return (ordered - tail).sum(-1)


def plackett_luce_loss(h: torch.Tensor, rewards: torch.Tensor, beta: float, max_exact_k: int = 6,
                       n_rankings: int = 256, generator: torch.Generator | None = None) -> torch.Tensor:
    """ARM Eq. 10–12: cross-entropy −Σ_τ p_EBM(τ) log p_θ(τ) between the Plackett–Luce ranking
    distributions induced by the rewards (unscaled) and by β·h, over K responses ``[B, K]``.

    Exact over all K! rankings for K ≤ ``max_exact_k``; otherwise a Monte Carlo estimate with
    rankings drawn from p_EBM by Gumbel perturbation. With K = 2 it equals :func:`arm_bt_loss`.
    """
    B, K = h.shape
    theta = beta * h
    if K <= max_exact_k:
        perms = torch.tensor(list(itertools.permutations(range(K))), device=h.device)
        log_p_ebm = _pl_logprob(rewards.detach().to(theta.dtype), perms)
        return -(log_p_ebm.exp() * _pl_logprob(theta, perms)).sum(-1).mean()
    u = torch.rand((B, n_rankings, K), generator=generator).to(h.device).clamp(1e-12, 1 - 1e-12)
    gumbel = -torch.log(-torch.log(u))
    perms = torch.argsort(rewards.detach().unsqueeze(1) + gumbel, dim=-1, descending=True)  # [B, M, K]
    ordered = torch.gather(theta.unsqueeze(1).expand(-1, n_rankings, -1), 2, perms)
    tail = torch.logcumsumexp(ordered.flip(-1), dim=-1).flip(-1)
    return -(ordered - tail).sum(-1).mean()


# --- EXO ----------------------------------------------------------------------------------------
def exo_loss(h: torch.Tensor, rewards: torch.Tensor, beta_pi: float, beta_r: float) -> torch.Tensor:
    """EXO-rw (EXO Eq. 10–13): KL(p_f ‖ p_r), p_f = softmax_K(β_π·h), p_r = softmax_K(r/β_r).

    The reverse direction (policy distribution first) is the point of EXO."""
    log_pf = F.log_softmax(beta_pi * h, dim=-1)
    log_pr = F.log_softmax(rewards / beta_r, dim=-1)
    return (log_pf.exp() * (log_pf - log_pr)).sum(-1).mean()


def dpo_rw_loss(h: torch.Tensor, rewards: torch.Tensor, beta_pi: float, beta_r: float) -> torch.Tensor:
    """DPO-rw (EXO §3.3): forward cross-entropy −Σ p_r log p_f over K samples."""
    log_pf = F.log_softmax(beta_pi * h, dim=-1)
    p_r = F.softmax(rewards / beta_r, dim=-1)
    return -(p_r * log_pf).sum(-1).mean()


def exo_pref_loss(h_chosen: torch.Tensor, h_rejected: torch.Tensor, beta_pi: float, eps: float = 1e-3) -> torch.Tensor:
    """EXO-pref (EXO Eq. 16): K = 2, p_r = [1 − ε, ε] on (chosen, rejected), KL(p_f ‖ p_r).

    Minimised where β_π·(h_w − h_l) = ln((1 − ε)/ε)."""
    log_pf = F.log_softmax(beta_pi * torch.stack([h_chosen, h_rejected], dim=-1), dim=-1)
    log_pr = torch.log(torch.tensor([1 - eps, eps], dtype=log_pf.dtype, device=log_pf.device))
    return (log_pf.exp() * (log_pf - log_pr)).sum(-1).mean()


# --- pairwise variants: IPO, SLiC, RSO's hinge, ORPO ----------------------------------------------
def ipo_loss(h_chosen: torch.Tensor, h_rejected: torch.Tensor, tau: float) -> torch.Tensor:
    """IPO (Azar et al. 2023, arXiv:2310.12036, Eq. 17; Alignment Guidebook §3.2): (h_w − h_l − 1/(2τ))², minimised at
    margin 1/(2τ)."""
    return ((h_chosen - h_rejected) - 1 / (2 * tau)).pow(2).mean()


def hinge_loss(h_chosen: torch.Tensor, h_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """RSO's hinge-norm loss (Liu et al. Eq. 9): max(0, 1 − β(h_w − h_l)), h normalised by π_sft."""
    return F.relu(1 - beta * (h_chosen - h_rejected)).mean()


def slic_loss(logp_chosen: torch.Tensor, logp_rejected: torch.Tensor, logp_target: torch.Tensor,
              delta: float, sft_weight: float) -> torch.Tensor:
    """SLiC-HF (Zhao et al. 2023, arXiv:2305.10425, Eq. 2; Alignment Guidebook §3.3): max(0, δ − log π_θ(y_w) + log
    π_θ(y_l)) − λ log π_θ(y_ref).

    Unnormalised by any reference model: the cross-entropy on y_ref is what keeps π_θ near π_sft."""
    return (F.relu(delta - logp_chosen + logp_rejected) - sft_weight * logp_target).mean()


def log_odds(mean_logp: torch.Tensor) -> torch.Tensor:
    """log(P / (1 − P)) with P = exp(mean token log-prob), ORPO's length-normalised odds."""
    return mean_logp - torch.log(-torch.expm1(mean_logp.clamp(max=-1e-6)))


def orpo_loss(mean_logp_chosen: torch.Tensor, mean_logp_rejected: torch.Tensor, lam: float) -> torch.Tensor:
    """ORPO (Hong et al. Eq. 6–7): −log P(y_w) − λ log σ(log odds(y_w) − log odds(y_l)), token-averaged
    log-likelihoods, no reference model."""
    ratio = log_odds(mean_logp_chosen) - log_odds(mean_logp_rejected)
    return (-mean_logp_chosen - lam * F.logsigmoid(ratio)).mean()


# --- KTO ------------------------------------------------------------------------------------------
def kto_reference_point(h_mismatched: torch.Tensor) -> torch.Tensor:
    """KTO's z₀ (Ethayarajh et al. §4.1): max(0, mean log π_θ(y_j|x_i)/π_ref(y_j|x_i)) over the batch's
    mismatched (prompt, response) pairs; detached, so it shifts the loss without a gradient of its own."""
    return h_mismatched.detach().mean().clamp(min=0)


def kto_loss(h: torch.Tensor, desirable: torch.Tensor, z0: torch.Tensor | float, beta: float,
             lambda_d: float = 1.0, lambda_u: float = 1.0) -> torch.Tensor:
    """KTO (Ethayarajh et al. Eq. 8): λ_D(1 − σ(β(h − z₀))) for desirable examples,
    λ_U(1 − σ(β(z₀ − h))) for undesirable ones; ``desirable`` is 1/0 per example."""
    d = desirable.to(h.dtype)
    value = d * lambda_d * torch.sigmoid(beta * (h - z0)) + (1 - d) * lambda_u * torch.sigmoid(beta * (z0 - h))
    weight = d * lambda_d + (1 - d) * lambda_u
    return (weight - value).mean()


# --- rankings of K responses: RRHF, PRO, DPO-PL, RAFT -----------------------------------------------
def ranked_pl_logprob(scores: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """log P(τ) under Plackett–Luce with ``scores [B, K]`` of the one hard ranking τ that sorts
    ``rewards`` best first: Σ_k [s_τ(k) − logsumexp_{j ≥ k} s_τ(j)]; ``[B]``."""
    order = torch.argsort(rewards.detach(), dim=-1, descending=True, stable=True)
    ordered = torch.gather(scores, 1, order)
    tail = torch.logcumsumexp(ordered.flip(-1), dim=-1).flip(-1)
    return (ordered - tail).sum(-1)


def dpo_pl_loss(h: torch.Tensor, rewards: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO-PL (Santos Eq. 19–20): −log of the Plackett–Luce likelihood, with DPO's implicit reward
    β·h as scores, of the reward's ranking of K responses ``[B, K]``. K = 2 is DPO."""
    return -ranked_pl_logprob(beta * h, rewards).mean()


def pro_loss(
    mean_logps: torch.Tensor, rewards: torch.Tensor, sft_weight: float, sft_logps: torch.Tensor | None = None
) -> torch.Tensor:
    """PRO (Song et al. 2023, arXiv:2306.17492, as restated in Santos Eq. 17–18): −Σ_{k<K} log softmax_{i ≥ k}(p_τ(i))_k
    over the reward's ranking τ, p the token-averaged log-probs, plus ``sft_weight``·(−p) of the top response.
    ``sft_logps`` replaces p in the SFT term (the authors' code uses the summed log-likelihood there)."""
    sft_logps = mean_logps if sft_logps is None else sft_logps
    top = torch.gather(sft_logps, 1, rewards.detach().argmax(-1, keepdim=True)).squeeze(1)
    return (-ranked_pl_logprob(mean_logps, rewards) - sft_weight * top).mean()


def rrhf_loss(mean_logps: torch.Tensor, rewards: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """RRHF (Yuan et al. Eq. 2–4): Σ_{r_i < r_j} max(0, p_i − p_j) − ‖y_best‖·p_best, p the
    token-averaged log-probs, so the fine-tuning term is the best response's summed log-likelihood."""
    worse = (rewards.unsqueeze(-1) < rewards.unsqueeze(-2)).to(mean_logps.dtype)  # [B, i, j]: r_i < r_j
    rank = (F.relu(mean_logps.unsqueeze(-1) - mean_logps.unsqueeze(-2)) * worse).sum((-1, -2))
    best = rewards.detach().argmax(-1, keepdim=True)
    fit = (torch.gather(mean_logps, 1, best) * torch.gather(lengths.to(mean_logps.dtype), 1, best)).squeeze(1)
    return (rank - fit).mean()


def raft_loss(
    logps: torch.Tensor, rewards: torch.Tensor, n_tokens: torch.Tensor, normalization: str = "token"
) -> torch.Tensor:
    """RAFT (Dong et al. Alg. 1 step 3): SFT on the highest-reward response of each group, from summed
    log-probs ``[B, K]`` and token counts ``[B, K]`` (normalised as :func:`sft_nll_loss`). The method keeps
    only the best at sampling time and calls this with K = 1."""
    best = rewards.detach().argmax(-1, keepdim=True)
    return sft_nll_loss(torch.gather(logps, 1, best).squeeze(1), torch.gather(n_tokens, 1, best).squeeze(1),
                        normalization)


def rso_acceptance(rewards: torch.Tensor, beta: float, max_reward: float) -> torch.Tensor:
    """RSO's acceptance probability exp((r − M)/β) for proposals from π_sft: with M ≥ every reward,
    an accepted proposal is distributed exactly as π*_β ∝ π_sft·exp(r/β)."""
    return torch.exp((rewards.to(torch.float64) - max_reward) / beta).clamp(max=1.0)


def rso_rejection_sample(rewards: torch.Tensor, beta: float, num_accepted: int,
                         generator: torch.Generator | None = None) -> list[int]:
    """RSO's statistical rejection sampling (Liu et al. Alg. 1) over one prompt's proposals from π_sft
    with rewards ``[n]``: pass over the remaining candidates, accepting each with
    :func:`rso_acceptance`, M the largest remaining reward (the paper's estimate of the sup);
    accepted ones leave the pool. Indices in acceptance order, at most ``num_accepted``."""
    remaining = list(range(len(rewards)))
    accepted: list[int] = []
    while remaining and len(accepted) < num_accepted:
        r = rewards[remaining]
        accept = torch.rand(len(remaining), generator=generator, dtype=torch.float64) < rso_acceptance(
            r, beta, float(r.max())
        )
        keep = []
        for i, ok in zip(remaining, accept.tolist()):
            if ok and len(accepted) < num_accepted:
                accepted.append(i)
            else:
                keep.append(i)
        remaining = keep
    return accepted


# --- SNIS and BRAIn -----------------------------------------------------------------------------
def snis_weights(rewards: torch.Tensor, beta: float) -> torch.Tensor:
    """ARM Alg. 1 resampling probabilities softmax(r/β) over the last dimension."""
    return F.softmax(rewards / beta, dim=-1)


def brain_alpha(rewards, gamma: float, sft_logps, proposal_logps) -> torch.Tensor:
    """BRAIn Eq. 6 with p(G=1|y,x) ∝ exp(r/γ) (Eq. 18–19): α̂ = softmax_n(r/γ + log π_sft − log q′).

    Detached: BRAIn caches it at sampling time (Alg. 1 line 9)."""
    return F.softmax(rewards / gamma + sft_logps - proposal_logps, dim=-1).detach()


def brain_loss(policy_logps, proposal_logps, alpha_hat, baseline: str = "self-normalized") -> torch.Tensor:
    """BRAIn over n samples ``[B, n]`` with s = log π_θ − log q′.

    * ``self-normalized`` (Eq. 13): −Σ α̂_i log_softmax_n(s)_i; gradient −Σ(α̂_i − β̂_i)∇log π_θ(y_i)
      with β̂ = softmax_n(s) (Eq. 12).
    * ``unnormalized`` (Table 3 "w/o self-norm"; GDC++-style baseline, Eq. 8 with Z estimated):
      gradient −Σ(α̂_i − w_i/n)∇log π_θ(y_i), w_i = exp(s_i) not normalised.
    * ``none`` (Table 3 "w/o baseline", Eq. 5/7): −Σ α̂_i log π_θ(y_i).
    """
    if baseline == "self-normalized":
        return -(alpha_hat * F.log_softmax(policy_logps - proposal_logps, dim=-1)).sum(-1).mean()
    if baseline == "unnormalized":
        n = policy_logps.shape[-1]
        w = (policy_logps - proposal_logps).detach().exp()
        return -((alpha_hat - w / n) * policy_logps).sum(-1).mean()
    if baseline == "none":
        return -(alpha_hat * policy_logps).sum(-1).mean()
    raise ValueError(f"unknown BRAIn baseline {baseline!r} (self-normalized, unnormalized, none)")


# --- PPO ------------------------------------------------------------------------------------------
def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim=None) -> torch.Tensor:
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1.0)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + eps) * mask


def kl_penalized_rewards(scores, logps, ref_logps, mask, beta: float) -> torch.Tensor:
    """Per-token reward −β(log π − log π_ref) on response tokens, plus the sequence score at the last one."""
    rewards = -beta * (logps - ref_logps) * mask
    last = (mask.cumsum(-1) == mask.sum(-1, keepdim=True)) & (mask > 0)
    return rewards + last.to(rewards.dtype) * scores.unsqueeze(-1)


def gae_advantages(rewards, values, mask, discount: float = 1.0, gae_lambda: float = 0.95):
    """Generalised advantage estimation backwards over time; returns (advantages, returns)."""
    T = rewards.shape[-1]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[:, 0])
    values = values * mask
    for t in reversed(range(T)):
        next_v = values[:, t + 1] if t + 1 < T else torch.zeros_like(last)
        delta = rewards[:, t] + discount * next_v - values[:, t]
        last = (delta + discount * gae_lambda * last) * mask[:, t]
        adv[:, t] = last
    return adv, (adv + values) * mask


def ppo_policy_loss(logps, old_logps, advantages, mask, clip: float = 0.2) -> torch.Tensor:
    """Clipped surrogate: masked mean of max(−A·ratio, −A·clip(ratio, 1 − ε, 1 + ε))."""
    ratio = torch.exp(logps - old_logps)
    loss = torch.max(-advantages * ratio, -advantages * torch.clamp(ratio, 1 - clip, 1 + clip))
    return masked_mean(loss, mask)


def ppo_value_loss(values, old_values, returns, mask, clip: float = 0.2) -> torch.Tensor:
    """Clipped value loss: masked mean of ½·max((v − R)², (clip(v, v_old ± ε) − R)²)."""
    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    return 0.5 * masked_mean(torch.max((values - returns) ** 2, (clipped - returns) ** 2), mask)
