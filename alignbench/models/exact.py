"""Exact distributions over every response of a fixed-length, fixed-alphabet task.

With responses of length L over A symbols, the A^(L-1) prefixes of length L-1 give every
conditional needed for all A^L responses in one forward pass each (the "prefix trick").
"""

from __future__ import annotations

import itertools

import torch

from .logprobs import allowed_bias


def response_grid(n_symbols: int, length: int) -> torch.Tensor:
    """All responses as symbol indices, ``[A^L, L]``, first position most significant."""
    return torch.tensor(list(itertools.product(range(n_symbols), repeat=length)), dtype=torch.long)


@torch.no_grad()
def response_texts(policy) -> list[str]:
    """Every response the policy can give, as text, in :func:`response_grid` order."""
    fmt = policy.format
    symbols = policy.tokenizer.convert_ids_to_tokens(fmt.allowed_token_ids)
    return [" ".join(c) for c in itertools.product(symbols, repeat=fmt.fixed_length)]


def exact_logprobs(policy, prompts: list[str], batch_prompts: int = 8) -> torch.Tensor:
    """``log π(y | x)`` for every prompt and every response: ``[P, A^L]`` (rows sum to 1 in prob)."""
    fmt = policy.format
    allowed = torch.tensor(fmt.allowed_token_ids, dtype=torch.long)
    A, L = len(allowed), fmt.fixed_length
    prefixes = allowed[response_grid(A, L - 1)] if L > 1 else torch.zeros((1, 0), dtype=torch.long)
    grid = response_grid(A, L)  # [N, L]
    prefix_index = grid[:, : L - 1] @ (A ** torch.arange(L - 2, -1, -1)) if L > 1 else torch.zeros(len(grid), dtype=torch.long)
    model = policy.model
    was_training = model.training
    model.eval()
    bias = None
    rows = []
    for start in range(0, len(prompts), batch_prompts):
        chunk = [policy.encode_prompt(p) for p in prompts[start : start + batch_prompts]]
        Lp = len(chunk[0])
        if any(len(c) != Lp for c in chunk):
            # Differing prompt lengths: score prompts one at a time.
            rows.extend(exact_logprobs(policy, [p], 1)[0:1] for p in prompts[start : start + batch_prompts])
            continue
        ids = torch.cat(
            [torch.cat([torch.tensor(c).expand(len(prefixes), Lp), prefixes], dim=1) for c in chunk], dim=0
        ).to(policy.device)
        logits = model(input_ids=ids).logits[:, Lp - 1 :].float()  # [C*A^(L-1), L, V]
        if bias is None:
            bias = allowed_bias(logits.shape[-1], fmt.allowed_token_ids, logits.device)
        cond = torch.log_softmax(logits + bias, dim=-1)[..., allowed.to(logits.device)]  # [C*M, L, A]
        cond = cond.view(len(chunk), len(prefixes), L, A).cpu()
        # log π(y) = Σ_t cond[prefix(y), t, y_t]
        gathered = cond[:, prefix_index]  # [C, N, L, A]
        lp = torch.gather(gathered, 3, grid.view(1, -1, L, 1).expand(len(chunk), -1, -1, 1)).squeeze(-1).sum(-1)
        rows.append(lp)
    model.train(was_training)
    return torch.cat(rows, dim=0)


def target_logprobs(sft_logp: torch.Tensor, rewards: torch.Tensor, beta: float) -> torch.Tensor:
    """``log π*_β(y|x)`` with ``π*_β ∝ π_sft · exp(r/β)`` (per row)."""
    unnorm = sft_logp + rewards / beta
    return unnorm - torch.logsumexp(unnorm, dim=-1, keepdim=True)


def kl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) per row from log-probabilities; 0·log 0 terms are 0."""
    p = logp.exp()
    diff = torch.where(p > 0, logp - logq, torch.zeros_like(logp))
    return (p * diff).sum(-1)


def exact_metrics(logp: torch.Tensor, sft_logp: torch.Tensor, gold: torch.Tensor, beta: float) -> dict:
    """Exact expected gold reward, KL(π ‖ π_sft) and KL(π ‖ π*_β), averaged over prompts."""
    return {
        "exact_reward": float((logp.exp() * gold).sum(-1).mean()),
        "kl_to_sft": float(kl(logp, sft_logp).mean()),
        "kl_to_target": float(kl(logp, target_logprobs(sft_logp, gold, beta)).mean()),
    }


def best_of_n_logprobs(sft_logp: torch.Tensor, rewards: torch.Tensor, n: int) -> torch.Tensor:
    """Exact law of best-of-n: n i.i.d. draws from π_sft, keep the highest reward, ties uniform.

    P(y) = π(y)/m(r_y) · [F(r_y)^n − F_<(r_y)^n] where F / F_< are the π-mass with reward ≤ / < r_y
    and m(r) the mass with reward exactly r.
    """
    p = sft_logp.exp().double()
    r = rewards.double()
    out = torch.empty_like(p)
    for i in range(p.shape[0]):
        order = torch.argsort(r[i])
        rs, ps = r[i][order], p[i][order]
        uniq, inverse = torch.unique_consecutive(rs, return_inverse=True)
        mass = torch.zeros(len(uniq), dtype=p.dtype).index_add_(0, inverse, ps)
        F = torch.cumsum(mass, 0)
        F_lt = F - mass
        level = (F.clamp(max=1.0) ** n - F_lt.clamp(min=0.0) ** n) / mass.clamp(min=1e-300)
        prob_sorted = ps * level[inverse]
        out[i, order] = prob_sorted
    out = out / out.sum(-1, keepdim=True)
    return out.clamp(min=1e-300).log().to(sft_logp.dtype)
