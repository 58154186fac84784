"""A small oracle world shared by the method tests: task, SFT policy, exact evaluation."""

from __future__ import annotations

import functools

import torch

from alignbench.models.exact import exact_metrics, kl, target_logprobs
from alignbench.models.factory import build_policy
from alignbench.models.policy import Policy, ResponseFormat, TinyGPT2Spec, build_tiny_gpt2
from alignbench.models.tokenizers import build_symbol_tokenizer
from alignbench.tasks.oracle import OracleSpec, all_response_texts, load_oracle
from alignbench.training.losses import sft_nll_loss
from alignbench.training.trainer import GroupData, GroupTrainer, TrainConfig

N_EVAL = 16


def sft_world(spec: OracleSpec, model: TinyGPT2Spec, train: TrainConfig):
    """An oracle task and a π_sft trained on its chosen responses (token-level NLL), in eval mode."""
    torch.manual_seed(0)
    task = load_oracle(spec)
    sft = build_policy(task, None, model, seed=0)
    pairs = task.train_pairs
    data = GroupData([sft.encode_prompt(p.prompt) for p in pairs], [[sft.encode_response(p.chosen)] for p in pairs])
    GroupTrainer(sft, train).fit(data, lambda lp, b: sft_nll_loss(lp[:, 0], b["response_lengths"][:, 0]))
    sft.model.eval()
    return task, sft


@functools.lru_cache(maxsize=1)
def oracle_world():
    spec = OracleSpec(n_test_prompts=32)
    task, sft = sft_world(spec, TinyGPT2Spec(n_layer=2, n_embd=64, n_head=4),
                          TrainConfig(steps=250, lr=3e-3, batch_size=64))
    # Evaluate on training prompts: the methods train there, so the exact effect is measured where it acts.
    prompts = [p.text for p in task.train_prompts[:N_EVAL]]
    responses = all_response_texts(spec)
    gold = torch.tensor(
        [task.gold_reward([p + r for r in responses], [p] * len(responses), responses) for p in prompts]
    )
    sft_lp = sft.exact_logprobs(prompts)
    return task, sft, prompts, gold, sft_lp


def evaluate(policy, beta):
    task, sft, prompts, gold, sft_lp = oracle_world()
    lp = policy.exact_logprobs(prompts)
    m = exact_metrics(lp, sft_lp, gold, beta if beta else 0.1)
    m["kl_to_own_target"] = float(kl(lp, target_logprobs(sft_lp, gold, beta)).mean()) if beta else None
    return m


def sft_baseline(beta):
    task, sft, prompts, gold, sft_lp = oracle_world()
    return evaluate(sft, beta)


def pair_objectives(policy) -> dict:
    """A pair method's own objective on every training pair, averaged over the pairs: the chosen response's
    log-likelihood, the margin log π(y_w) − log π(y_l) (DPO's and KTO's h_w − h_l once π_sft's is
    subtracted) and ORPO's log odds ratio on token-averaged likelihoods."""
    from alignbench.methods._offline import pair_groups
    from alignbench.training.losses import log_odds
    from alignbench.training.trainer import group_logprobs

    task = oracle_world()[0]
    lp = group_logprobs(policy, pair_groups(policy, task.train_pairs), grad=False).double()
    lw, ll = lp[:, 0], lp[:, 1]
    length = task.response_length
    return {"chosen_loglik": float(lw.mean()), "pair_margin": float((lw - ll).mean()),
            "odds_ratio": float((log_odds(lw / length) - log_odds(ll / length)).mean())}


@functools.lru_cache(maxsize=1)
def sft_pair_objectives() -> dict:
    return pair_objectives(oracle_world()[1])


def tiny_policy(fixed=True):
    """A 1-layer 16-wide policy over x, y (prompts) and a, b, c: 3-symbol responses, or free ones of ≤ 5 tokens."""
    tok = build_symbol_tokenizer(["x", "y", "a", "b", "c"])
    model = build_tiny_gpt2(len(tok), TinyGPT2Spec(1, 16, 2, 16))
    fmt = (
        ResponseFormat(allowed_token_ids=tok.convert_tokens_to_ids(["a", "b", "c"]), fixed_length=3, max_new_tokens=3)
        if fixed
        else ResponseFormat(max_new_tokens=5)
    )
    return Policy(model, tok, fmt)
