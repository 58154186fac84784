"""Training-step throughput and peak memory: alignbench's shared trainer on DPO vs TRL's DPOTrainer.

Same tiny GPT-2 (2 layers, width 128), same BPE tokenizer, same HH-RLHF pairs, batch size,
sequence length and steps; each side runs in its own child process so peak RSS is its own.
Also BRAIn and EXO with K = 8 and K = 32 responses per prompt: seconds per prompt-group step.

Last line: ``trainer_vs_trl ratio=R`` with R = alignbench tokens/s ÷ TRL tokens/s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import hh_pairs, peak_rss_mb, run_child  # noqa: E402

MAX_LEN = 128


def setup(n_pairs: int):
    import torch

    from alignbench.models.policy import Policy, ResponseFormat, TinyGPT2Spec, build_tiny_gpt2
    from alignbench.models.tokenizers import train_bpe_tokenizer

    torch.manual_seed(0)
    torch.set_num_threads(2)
    pairs = hh_pairs(n_pairs)
    rows = [(p.prompt[-300:], " " + p.chosen[:200], " " + p.rejected[:200]) for p in pairs]
    tok = train_bpe_tokenizer([r[0] for r in rows] + [r[1] for r in rows], 2048)
    model = build_tiny_gpt2(len(tok), TinyGPT2Spec(2, 128, 4, 512))
    policy = Policy(model, tok, ResponseFormat(max_new_tokens=48, max_prompt_tokens=80))
    return rows, tok, policy


def token_count(rows, tok, steps, batch):
    n = 0
    for i in range(steps * batch):
        p, c, r = rows[i % len(rows)]
        lp = len(tok(p)["input_ids"])
        n += min(MAX_LEN, lp + len(tok(c)["input_ids"])) + min(MAX_LEN, lp + len(tok(r)["input_ids"]))
    return n


def child_alignbench(steps, batch, n_pairs):
    from alignbench.training.losses import dpo_loss
    from alignbench.training.trainer import GroupData, GroupTrainer, TrainConfig, cache_logprobs

    rows, tok, policy = setup(n_pairs)
    setup_rss = peak_rss_mb()
    ref = policy.clone()
    data = GroupData([policy.encode_prompt(p) for p, _, _ in rows], [[policy.encode_response(c), policy.encode_response(r)] for _, c, r in rows])
    t0 = time.perf_counter()
    cache_logprobs(ref, data, "ref_logps")  # once, then the reference can go
    del ref
    trainer = GroupTrainer(policy, TrainConfig(steps=steps, lr=1e-4, batch_size=batch))
    trainer.fit(data, lambda lp, b: dpo_loss((lp - b["ref_logps"])[:, 0], (lp - b["ref_logps"])[:, 1], 0.1))
    secs = time.perf_counter() - t0
    return {"seconds": secs, "tokens": token_count(rows, tok, steps, batch), "peak_rss_mb": peak_rss_mb(), "setup_rss_mb": setup_rss}


def child_trl(steps, batch, n_pairs, precompute):
    import copy

    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    rows, tok, policy = setup(n_pairs)
    setup_rss = peak_rss_mb()
    ds = Dataset.from_list([{"prompt": p, "chosen": c, "rejected": r} for p, c, r in rows])
    args = DPOConfig(output_dir="/tmp/alignbench-bench-trl", per_device_train_batch_size=batch, max_steps=steps, learning_rate=1e-4,
                     report_to="none", beta=0.1, max_length=MAX_LEN, logging_steps=10**6, save_strategy="no", use_cpu=True,
                     precompute_ref_log_probs=precompute, disable_tqdm=True)
    ref = None if precompute else copy.deepcopy(policy.model)
    if precompute:
        policy.model.config.name_or_path = ""
    trainer = DPOTrainer(model=policy.model, ref_model=ref, args=args, train_dataset=ds, processing_class=tok)
    t0 = time.perf_counter()
    trainer.train()
    secs = time.perf_counter() - t0
    return {"seconds": secs, "tokens": token_count(rows, tok, steps, batch), "peak_rss_mb": peak_rss_mb(), "setup_rss_mb": setup_rss}


def child_group(method, K, steps):
    import torch

    from alignbench.training.losses import brain_alpha, brain_loss, exo_loss
    from alignbench.training.trainer import GroupData, GroupTrainer, TrainConfig, cache_logprobs

    rows, tok, policy = setup(64)
    prompts = [policy.encode_prompt(p) for p, _, _ in rows[:16]]
    resp = [[policy.encode_response(rows[(i + j) % len(rows)][1]) for j in range(K)] for i in range(16)]
    data = GroupData(prompts, resp, {"rewards": torch.randn(16, K)})
    cache_logprobs(policy, data, "ref_logps", length_average=(method == "brain"))
    data.tensors["alpha"] = brain_alpha(data.tensors["rewards"], 1.0, data.tensors["ref_logps"], data.tensors["ref_logps"])
    if method == "brain":
        fn = lambda lp, b: brain_loss(lp, b["ref_logps"], b["alpha"])  # noqa: E731
    else:
        fn = lambda lp, b: exo_loss(lp - b["ref_logps"], b["rewards"], 0.1, 0.1)  # noqa: E731
    trainer = GroupTrainer(policy, TrainConfig(steps=steps, lr=1e-4, batch_size=4))
    trainer.fit(data, fn, steps=1, length_average=(method == "brain"))  # warm-up
    t0 = time.perf_counter()
    trainer.fit(data, fn, steps=steps, length_average=(method == "brain"))
    return {"seconds_per_step": (time.perf_counter() - t0) / steps}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs="*")
    ap.add_argument("--tiny", action="store_true")
    a = ap.parse_args()
    if a.child is not None:
        kind, *rest = a.child
        if kind == "alignbench":
            out = child_alignbench(*map(int, rest))
        elif kind == "trl":
            out = child_trl(int(rest[0]), int(rest[1]), int(rest[2]), rest[3] == "1")
        else:
            out = child_group(kind, int(rest[0]), int(rest[1]))
        print(json.dumps(out))
        return
    steps, batch = (3, 4) if a.tiny else (40, 8)
    n_pairs = steps * batch  # one epoch: each side scores every pair under the reference once
    me = run_child(Path(__file__), "alignbench", str(steps), str(batch), str(n_pairs))
    trl = run_child(Path(__file__), "trl", str(steps), str(batch), str(n_pairs), "0")
    trl_pre = run_child(Path(__file__), "trl", str(steps), str(batch), str(n_pairs), "1")
    for name, r in [("alignbench (cached reference log-probs)", me), ("TRL DPOTrainer (reference model resident)", trl),
                    ("TRL DPOTrainer (precompute_ref_log_probs)", trl_pre)]:
        print(f"{name:45s} {r['tokens'] / r['seconds']:9.0f} tokens/s  {r['seconds']:7.2f} s  peak RSS {r['peak_rss_mb']:7.0f} MB"
              f"  (after imports and set-up {r['setup_rss_mb']:.0f} MB; training adds {r['peak_rss_mb'] - r['setup_rss_mb']:.0f} MB)")
    grow = lambda r: r["peak_rss_mb"] - r["setup_rss_mb"]  # noqa: E731
    print(f"memory ratio alignbench/TRL, peak RSS: {me['peak_rss_mb'] / trl['peak_rss_mb']:.2f} (vs precompute: "
          f"{me['peak_rss_mb'] / trl_pre['peak_rss_mb']:.2f}); memory added by training: {grow(me) / grow(trl):.2f} "
          f"(vs precompute: {grow(me) / grow(trl_pre):.2f})")
    gsteps = 2 if a.tiny else 10
    for method in ("brain", "exo"):
        times = {K: run_child(Path(__file__), method, str(K), str(gsteps))["seconds_per_step"] for K in ((2, 4) if a.tiny else (8, 32))}
        ks = sorted(times)
        print(f"{method}: " + ", ".join(f"K={k}: {times[k] * 1000:.0f} ms/step (4 prompts)" for k in ks)
              + f"; growth ×{times[ks[1]] / times[ks[0]]:.2f} for K ×{ks[1] / ks[0]:.0f}")
    print(f"trainer_vs_trl ratio={(me['tokens'] / me['seconds']) / (trl['tokens'] / trl['seconds']):.3f}")


if __name__ == "__main__":
    main()
