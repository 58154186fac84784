"""Exact distributions over every response of a fixed-alphabet task.

With responses of length L over A symbols, the A^(L-1) prefixes of length L-1 give every
conditional needed for all A^L responses in one forward pass each (the "prefix trick").
Variable-length responses over an alphabet with EOS (at most ``max_new_tokens`` tokens) are enumerated
explicitly — every sequence ended by EOS, and every sequence cut at ``max_new_tokens`` — and scored whole.
"""

from __future__ import annotations

import functools
import itertools

import torch

from .logprobs import allowed_bias, build_batch, cache_kwarg, returned_cache, sequence_logprobs


def response_grid(n_symbols: int, length: int) -> torch.Tensor:
    """All responses as symbol indices, ``[A^L, L]``, first position most significant."""
    return torch.tensor(list(itertools.product(range(n_symbols), repeat=length)), dtype=torch.long)


MAX_VARIABLE_RESPONSES = 100_000  # beyond this a variable-length law is not enumerated


def variable_response_ids(fmt, eos_id: int) -> list[list[int]] | None:
    """Every token sequence a variable-length format can sample: k = 0 … max_new_tokens − 1 symbols then EOS,
    or max_new_tokens symbols cut without EOS (shortest first). None when the format is not enumerable."""
    if fmt.fixed_length is not None or fmt.allowed_token_ids is None or eos_id not in fmt.allowed_token_ids:
        return None
    symbols = [i for i in fmt.allowed_token_ids if i != eos_id]
    n = fmt.max_new_tokens
    if sum(len(symbols) ** k for k in range(n + 1)) > MAX_VARIABLE_RESPONSES:
        return None
    ended = [list(c) + [eos_id] for k in range(n) for c in itertools.product(symbols, repeat=k)]
    return ended + [list(c) for c in itertools.product(symbols, repeat=n)]


@torch.no_grad()
def response_texts(policy) -> list[str]:
    """Every response the policy can give, as text, in :func:`response_grid` order (or that of
    :func:`variable_response_ids`)."""
    fmt = policy.format
    if fmt.fixed_length is None:
        return [policy.decode_response(ids) for ids in variable_response_ids(fmt, policy.tokenizer.eos_token_id)]
    symbols = policy.tokenizer.convert_ids_to_tokens(fmt.allowed_token_ids)
    return [" ".join(c) for c in itertools.product(symbols, repeat=fmt.fixed_length)]


@torch.no_grad()
def variable_length_logprobs(policy, prompts: list[str], chunk: int = 4096) -> torch.Tensor:
    """``log π(y | x)`` of every sequence of :func:`variable_response_ids`: ``[P, N]``, each scored whole
    (masked, with the format's allowed-token bias) in eval mode."""
    responses = variable_response_ids(policy.format, policy.tokenizer.eos_token_id)
    model, device = policy.model, policy.device
    was_training = model.training
    model.eval()
    out = torch.empty(len(prompts), len(responses))
    try:
        for i, prompt in enumerate(prompts):
            p = policy.encode_prompt(prompt)
            for s in range(0, len(responses), chunk):
                part = responses[s : s + chunk]
                ids, attn, rmask = build_batch([p] * len(part), part, policy.pad_id)
                total, _ = sequence_logprobs(model, ids.to(device), attn.to(device), rmask.to(device),
                                             policy.format.allowed_token_ids)
                out[i, s : s + len(part)] = total.float().cpu()
    finally:
        model.train(was_training)
    return out


class PrefixTree:
    """Equal-length token sequences as a tree of their distinct prefixes.

    ``parents[d]`` / ``tokens[d]`` describe the nodes at depth ``d + 1`` (parent index at depth
    ``d``, last token); ``node_of[d][s]`` is sequence ``s``'s node at depth ``d`` (depth 0: the root).
    A causal model run one token per node, each node reusing its parent's KV cache, sees every
    prefix once: 4 + 8 + 64 + 512 token steps per prompt for 4,096 responses of 4 symbols, where
    the full sequences would be 4,096 × 8.
    """

    def __init__(self, sequences: list[list[int]]):
        self.size = len(sequences)
        self.length = len(sequences[0])
        if any(len(s) != self.length for s in sequences):
            raise ValueError("PrefixTree needs sequences of one length")
        self.parents: list[torch.Tensor] = []
        self.tokens: list[torch.Tensor] = []
        self.node_of = [torch.zeros(self.size, dtype=torch.long)]
        previous = [0] * self.size
        for t in range(self.length):
            index: dict[tuple[int, int], int] = {}
            parents, tokens, nodes = [], [], []
            for s, seq in enumerate(sequences):
                key = (previous[s], seq[t])
                if key not in index:
                    index[key] = len(parents)
                    parents.append(previous[s])
                    tokens.append(seq[t])
                nodes.append(index[key])
            self.parents.append(torch.tensor(parents, dtype=torch.long))
            self.tokens.append(torch.tensor(tokens, dtype=torch.long))
            self.node_of.append(torch.tensor(nodes, dtype=torch.long))
            previous = nodes


@torch.no_grad()
def tree_states(
    model, prompt_ids: torch.Tensor, tree: PrefixTree, depth: int, read
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run ``model`` over the prompts ``[C, Lp]`` (no padding) and the tree's nodes down to ``depth``.

    Returns ``read(output)`` at every prompt position ``[C, Lp, S]`` and, per depth 1..depth, at
    every node ``[C, n_d, S]``.
    """
    kwarg = cache_kwarg(model)
    out = model(input_ids=prompt_ids, use_cache=True)
    prompt_states = read(out)
    cache, levels = returned_cache(out), []
    C, width = prompt_ids.shape[0], 1
    for d in range(depth):
        parents, tokens = tree.parents[d].to(prompt_ids.device), tree.tokens[d].to(prompt_ids.device)
        rows = (torch.arange(C, device=prompt_ids.device)[:, None] * width + parents[None]).reshape(-1)
        cache.reorder_cache(rows)  # each node starts from its parent's cache
        out = model(input_ids=tokens.repeat(C)[:, None], use_cache=True, **{kwarg: cache})
        levels.append(read(out)[:, -1].view(C, len(tokens), -1))
        cache, width = returned_cache(out), len(tokens)
    return prompt_states, levels


def _length_groups(token_ids: list[list[int]], rows_per_prompt: int, max_rows: int = 8192):
    """Indices of prompts with equal token length, in chunks of at most ``max_rows`` tree rows."""
    groups: dict[int, list[int]] = {}
    for i, ids in enumerate(token_ids):
        groups.setdefault(len(ids), []).append(i)
    step = max(1, max_rows // rows_per_prompt)
    for indices in groups.values():
        for start in range(0, len(indices), step):
            yield indices[start : start + step]


@torch.no_grad()
def exact_logprobs(policy, prompts: list[str]) -> torch.Tensor:
    """``log π(y | x)`` for every prompt and every response: ``[P, A^L]`` (rows sum to 1 in prob)."""
    fmt = policy.format
    if fmt.fixed_length is None:
        return variable_length_logprobs(policy, prompts)
    allowed = torch.tensor(fmt.allowed_token_ids, dtype=torch.long)
    A, L = len(allowed), fmt.fixed_length
    grid = response_grid(A, L)  # [N, L]
    tree = PrefixTree(allowed[grid].tolist())
    model, device = policy.model, policy.device
    was_training = model.training
    model.eval()
    encoded = [policy.encode_prompt(p) for p in prompts]
    out = torch.empty(len(prompts), len(grid))
    bias = None
    for chunk in _length_groups(encoded, len(tree.tokens[-1])):
        ids = torch.tensor([encoded[i] for i in chunk], device=device)
        prompt_logits, levels = tree_states(model, ids, tree, L - 1, lambda o: o.logits)
        if bias is None:
            bias = allowed_bias(prompt_logits.shape[-1], fmt.allowed_token_ids, device)
        lp = torch.zeros(len(chunk), len(grid))
        # log π(y) = Σ_t log π(y_t | x, y_<t), the conditional read at y's node of depth t
        for t, logits in enumerate([prompt_logits[:, -1:]] + levels):
            cond = torch.log_softmax(logits.float() + bias, dim=-1)[..., allowed.to(device)].cpu()  # [C, n_t, A]
            lp += cond[:, tree.node_of[t], grid[:, t]]
        out[chunk] = lp
    model.train(was_training)
    return out


@torch.no_grad()
def enumerated_rewards(reward_fn, prompts: list[str], responses: list[str]) -> torch.Tensor:
    """``reward_fn`` on every (prompt, response) pair: ``[P, N]`` float64, each pair scored once.

    A causal-LM reward model is run over the responses' prefix tree (one token step per distinct
    prefix); any other reward function gets one call with every pair.
    """
    rm = getattr(reward_fn, "reward_model", None)
    if rm is not None and hasattr(rm, "pool") and hasattr(rm, "response_token_ids"):
        scores = _tree_rewards(rm, prompts, responses)
        if scores is not None:
            return scores
    score_all = getattr(reward_fn, "score_all", None)  # a task's own vectorised reward (the oracle's)
    scores = score_all(prompts, responses) if score_all is not None else None
    if scores is not None:
        return torch.as_tensor(scores, dtype=torch.float64)
    flat = reward_fn([p + r for p in prompts for r in responses], [p for p in prompts for _ in responses],
                     responses * len(prompts))
    return torch.tensor(flat, dtype=torch.float64).view(len(prompts), len(responses))


def _tree_rewards(rm, prompts, responses):
    r_ids = rm.response_token_ids(responses)
    if len({len(r) for r in r_ids}) != 1:
        return None
    tree = PrefixTree(r_ids)
    p_ids = rm.prompt_token_ids(prompts)
    device = rm.head.weight.device
    was_training = rm.training
    rm.eval()
    responses_t = torch.tensor(r_ids)
    N, R = responses_t.shape
    out = torch.empty(len(prompts), N, dtype=torch.float64)
    # Next-token pooling reads each state for the token after it: the state at the EOS is unused.
    depth = R - 1 if getattr(rm, "pooling", None) == "next-token" else R
    for chunk in _length_groups(p_ids, N):
        ids = torch.tensor([p_ids[i] for i in chunk], device=device)
        C, Lp = ids.shape
        prompt_h, levels = tree_states(rm.backbone, ids, tree, depth, lambda o: o.last_hidden_state)
        per_depth = [levels[d][:, tree.node_of[d + 1].to(device)] for d in range(depth)]  # each [C, N, H]
        if depth < R:
            # the final (EOS) state, which next-token pooling never reads
            per_depth.append(torch.zeros_like(per_depth[-1]))
        hidden = torch.cat([prompt_h[:, None].expand(C, N, Lp, -1), torch.stack(per_depth, dim=2)], dim=2).flatten(0, 1)
        input_ids = torch.cat(
            [ids[:, None].expand(C, N, Lp), responses_t.to(device)[None].expand(C, N, R)], dim=2
        ).flatten(0, 1)
        attn = torch.ones_like(input_ids)
        rmask = torch.cat([torch.zeros(C * N, Lp), torch.ones(C * N, R)], dim=1)
        out[chunk] = rm.pool(hidden, input_ids, attn, rmask).view(C, N).double().cpu()
    rm.train(was_training)
    return out


class ExactEnumeration:
    """Every response of every test prompt, computed once per run and shared by every method's
    exact metrics: π_sft's exact law, the gold reward, and each reward function's scores."""

    def __init__(self, sft_policy, prompts: list[str], gold_reward):
        self.sft = sft_policy
        self.prompts = prompts
        self.gold_reward = gold_reward
        self._scored: list[tuple[object, torch.Tensor]] = []

    @functools.cached_property
    def responses(self) -> list[str]:
        return response_texts(self.sft)

    @functools.cached_property
    def sft_logp(self) -> torch.Tensor:
        return self.sft.exact_logprobs(self.prompts)

    @functools.cached_property
    def gold(self) -> torch.Tensor:
        return self.rewards(self.gold_reward).float()

    def rewards(self, reward_fn) -> torch.Tensor:
        """``[P, N]`` float64 scores of ``reward_fn``, computed once per function object."""
        for fn, scores in self._scored:
            if fn is reward_fn:
                return scores
        scores = enumerated_rewards(reward_fn, self.prompts, self.responses)
        self._scored.append((reward_fn, scores))
        return scores

    def logprobs(self, policy) -> torch.Tensor | None:
        """The policy's exact law on the prompts (``policy.exact_law(self)``), None where it has none."""
        if policy is self.sft:
            return self.sft_logp
        return policy.exact_law(self)


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
