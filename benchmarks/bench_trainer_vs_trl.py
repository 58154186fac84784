"""Training-step throughput and peak memory: alignbench's shared trainer on DPO vs TRL's DPOTrainer.

Same GPT-2 shape, same local BPE tokenizer, same HH-RLHF pairs, batch size, sequence length and
steps, and the same precision on both sides: fp32 (TRL: ``bf16=False, fp16=False``), no activation
checkpointing (TRL: ``gradient_checkpointing=False``; its DPOConfig defaults turn both on). TRL
runs twice: reference model resident, and ``precompute_ref_log_probs``. Each side runs in its own
child process, so peak RSS is its own; each side's time covers tokenisation, reference log-probs
and training.

``--shape tiny`` (default): 2 layers × 128, the BPE tokenizer's vocabulary (2,048), ≤ 128 tokens.
``--shape gpt2-small``: 12 layers × 768, vocabulary 50,257 (a GPT2Config built locally, no
download; the BPE tokenizer uses the first ids), ≤ 256 tokens; minutes per side.
Also, at the tiny shape, BRAIn and EXO with K responses per prompt: seconds per group step.

The sides run in rounds (``--pairs``, default 3; each round runs all three, in rotated order) and the figure is the
median over rounds of alignbench's tokens/s ÷ the faster TRL configuration's in that round (min and max
beside it); no ratio is printed when the load average at start exceeds the core count. The machine's own
ceiling is measured too: fp32 matmul FLOP/s at the step's shapes, and each side's model FLOP utilisation.

Last line: ``trainer_vs_trl ratio=R``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from alignbench.models.logprobs import FUSED_HEAD_MIN_VOCAB, HEAD_CHUNK_LOGITS, materialises_logits
from alignbench.models.policy import Policy, ResponseFormat, TinyGPT2Spec, build_tiny_gpt2
from alignbench.models.tokenizers import train_bpe_tokenizer
from alignbench.training.losses import brain_alpha, brain_loss, dpo_loss, exo_loss
from alignbench.training.trainer import GroupData, GroupTrainer, TrainConfig, cache_logprobs

sys.path.insert(0, str(Path(__file__).parent))
from _common import hh_pairs, peak_rss_mb, run_child  # noqa: E402

SHAPES = {
    # layers, width, heads, model vocabulary (None: the tokenizer's), tokenizer vocabulary, max prompt / response tokens
    "tiny": dict(n_layer=2, n_embd=128, n_head=4, vocab=None, bpe_vocab=2048, prompt_tokens=80, response_tokens=48,
                 prompt_chars=300, response_chars=200, steps=40, batch=8, activation="gelu"),
    "gpt2-small": dict(n_layer=12, n_embd=768, n_head=12, vocab=50257, bpe_vocab=8192, prompt_tokens=128,
                       response_tokens=128, prompt_chars=1200, response_chars=900, steps=8, batch=8,
                       activation="gelu_pytorch_tanh"),  # GPT-2's own tanh GELU, as one kernel
}
THREADS_ENV = "ALIGNBENCH_BENCH_THREADS"  # intra-op threads of every child (both sides alike)
TRL_PRECISION = dict(bf16=False, fp16=False, gradient_checkpointing=False)


def max_len(shape) -> int:
    return shape["prompt_tokens"] + shape["response_tokens"]


def _fit(text: str, tok, limit: int, keep_end: bool) -> str:
    """Cut ``text`` (characters) until it has at most ``limit`` tokens: no truncation on either side."""
    while len(tok(text, add_special_tokens=False)["input_ids"]) > limit:
        cut = max(1, len(text) // 10)
        text = text[cut:] if keep_end else text[:-cut]
    return text


def setup(shape_name: str, n_pairs: int):
    shape = SHAPES[shape_name]
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get(THREADS_ENV, "2")))
    pairs = hh_pairs(n_pairs)
    rows = [(p.prompt[-shape["prompt_chars"]:], " " + p.chosen[: shape["response_chars"]],
             " " + p.rejected[: shape["response_chars"]])
            for p in pairs]
    tok = train_bpe_tokenizer([r[0] for r in rows] + [r[1] for r in rows] + [r[2] for r in rows], shape["bpe_vocab"])
    # One token of each budget is the BOS / EOS alignbench adds (TRL adds the EOS).
    rows = [(_fit(p, tok, shape["prompt_tokens"] - 1, True), _fit(c, tok, shape["response_tokens"] - 1, False),
             _fit(r, tok, shape["response_tokens"] - 1, False)) for p, c, r in rows]
    vocab = shape["vocab"] or len(tok)
    model = build_tiny_gpt2(vocab, TinyGPT2Spec(shape["n_layer"], shape["n_embd"], shape["n_head"],
                                                max(512, max_len(shape)), shape["activation"]))
    policy = Policy(model, tok,
                    ResponseFormat(max_new_tokens=shape["response_tokens"], max_prompt_tokens=shape["prompt_tokens"]))
    return rows, tok, policy


def token_count(rows, tok, steps, batch, limit):
    n = 0
    for i in range(steps * batch):
        p, c, r = rows[i % len(rows)]
        lp = len(tok(p)["input_ids"])
        n += min(limit, lp + len(tok(c)["input_ids"])) + min(limit, lp + len(tok(r)["input_ids"]))
    return n


def _result(t0, rows, tok, steps, batch, shape_name, setup_rss, policy, config):
    return {"seconds": time.perf_counter() - t0,
            "tokens": token_count(rows, tok, steps, batch, max_len(SHAPES[shape_name])),
            "peak_rss_mb": peak_rss_mb(), "setup_rss_mb": setup_rss, "n_params": policy.n_params(), "config": config}


def child_alignbench(shape_name, steps, batch, n_pairs):
    rows, tok, policy = setup(shape_name, n_pairs)
    setup_rss = peak_rss_mb()
    t0 = time.perf_counter()
    data = GroupData([policy.encode_prompt(p) for p, _, _ in rows],
                     [[policy.encode_response(c), policy.encode_response(r)] for _, c, r in rows])
    # The policy before its first step is the reference: its log-probs are cached once, and only
    # one model is ever resident.
    cache_logprobs(policy, data, "ref_logps")
    data = CountingData(data.prompt_ids, data.response_ids, data.tensors)
    trainer = GroupTrainer(policy, TrainConfig(steps=steps, lr=1e-4, batch_size=batch))

    def loss(lp, b):
        return dpo_loss((lp - b["ref_logps"])[:, 0], (lp - b["ref_logps"])[:, 1], 0.1)

    # The same steps as one fit; the first (allocations, first calls) is kept out of the steady-state figure.
    trainer.fit(data, loss, steps=1)
    data.tokens, t_fit = 0, time.perf_counter()
    trainer.fit(data, loss)
    fit_seconds, fit_tokens = time.perf_counter() - t_fit, data.tokens
    head = (
        "materialised logits"
        if materialises_logits(policy.model)
        else "fused response-only LM head (logits in 32 MB chunks)"
    )
    config = ("fp32, no activation checkpointing, torch AdamW (fused), reference log-probs "
              f"cached (one model resident), {head}")
    return (_result(t0, rows, tok, steps, batch, shape_name, setup_rss, policy, config)
            | {"fit_seconds": fit_seconds, "fit_tokens": fit_tokens})


class CountingData(GroupData):
    """GroupData that counts the tokens of every batch the trainer selects (prompt + response, per sequence)."""

    tokens = 0

    def select(self, index):
        self.tokens += sum(len(self.prompt_ids[i]) * len(self.response_ids[i]) + sum(map(len, self.response_ids[i]))
                           for i in index)
        return super().select(index)


def child_trl(shape_name, steps, batch, n_pairs, precompute):
    from datasets import Dataset  # optional: the bench extra; only the TRL child pays for it
    from trl import DPOConfig, DPOTrainer

    rows, tok, policy = setup(shape_name, n_pairs)
    setup_rss = peak_rss_mb()
    ds = Dataset.from_list([{"prompt": p, "chosen": c, "rejected": r} for p, c, r in rows])
    args = DPOConfig(output_dir="/tmp/alignbench-bench-trl", per_device_train_batch_size=batch, max_steps=steps,
                     learning_rate=1e-4,
                     report_to="none", beta=0.1, max_length=max_len(SHAPES[shape_name]), logging_steps=10**6,
                     save_strategy="no",
                     use_cpu=True, precompute_ref_log_probs=precompute, disable_tqdm=True, **TRL_PRECISION)
    ref = None if precompute else copy.deepcopy(policy.model)
    if precompute:
        policy.model.config.name_or_path = ""
    t0 = time.perf_counter()  # DPOTrainer() tokenises and, with precompute, scores the reference
    trainer = DPOTrainer(model=policy.model, ref_model=ref, args=args, train_dataset=ds, processing_class=tok)
    trainer.train()
    config = (f"DPOConfig(bf16={args.bf16}, fp16={args.fp16}, gradient_checkpointing={args.gradient_checkpointing}, "
              f"precompute_ref_log_probs={args.precompute_ref_log_probs}, "
              f"optim={getattr(args.optim, 'value', args.optim)}), "
              + ("reference log-probs precomputed" if precompute else "reference model resident"))
    return _result(t0, rows, tok, steps, batch, shape_name, setup_rss, policy, config)


def child_group(method, K, steps):
    rows, tok, policy = setup("tiny", 64)
    prompts = [policy.encode_prompt(p) for p, _, _ in rows[:16]]
    resp = [[policy.encode_response(rows[(i + j) % len(rows)][1]) for j in range(K)] for i in range(16)]
    data = GroupData(prompts, resp, {"rewards": torch.randn(16, K)})
    cache_logprobs(policy, data, "ref_logps", length_average=(method == "brain"))
    data.tensors["alpha"] = brain_alpha(data.tensors["rewards"], 1.0, data.tensors["ref_logps"],
                                        data.tensors["ref_logps"])
    if method == "brain":
        fn = lambda lp, b: brain_loss(lp, b["ref_logps"], b["alpha"])  # noqa: E731
    else:
        fn = lambda lp, b: exo_loss(lp - b["ref_logps"], b["rewards"], 0.1, 0.1)  # noqa: E731
    trainer = GroupTrainer(policy, TrainConfig(steps=steps, lr=1e-4, batch_size=4))
    trainer.fit(data, fn, steps=1, length_average=(method == "brain"))  # warm-up
    t0 = time.perf_counter()
    trainer.fit(data, fn, steps=steps, length_average=(method == "brain"))
    return {"seconds_per_step": (time.perf_counter() - t0) / steps}


def child_ceiling(shape_name, batch):
    """fp32 matmul FLOP/s on this CPU at the shapes of one training step (same threads as the sides): the GPT-2
    block's projections over every token of the batch, and the LM head; the ceiling is their total FLOPs over
    their total time (what a step made only of these matmuls would reach)."""
    s = SHAPES[shape_name]
    torch.set_num_threads(int(os.environ.get(THREADS_ENV, "2")))
    H, M, V = s["n_embd"], 2 * batch * max_len(s), s["vocab"] or s["bpe_vocab"]
    shapes = {"qkv [M,H]×[H,3H]": (M, H, 3 * H), "attention out [M,H]×[H,H]": (M, H, H),
              "MLP in [M,H]×[H,4H]": (M, H, 4 * H),
              "MLP out [M,4H]×[4H,H]": (M, 4 * H, H), "LM head [M/2,H]×[H,V]": (M // 2, H, V)}
    out, flops, seconds = {}, 0.0, 0.0
    for name, (m, k, n) in shapes.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)  # warm-up
        reps, t0 = 0, time.perf_counter()
        while reps < 3 or time.perf_counter() - t0 < 0.5:
            torch.mm(a, b)
            reps += 1
        dt = (time.perf_counter() - t0) / reps
        out[name] = 2 * m * k * n / dt
        flops, seconds = flops + 2 * m * k * n, seconds + dt
    return {"per_shape": out, "ceiling": flops / seconds}


def memory_estimate(shape_name: str, n_params: int, batch: int) -> list[tuple[str, float, float, float]]:
    """(component, alignbench MB, TRL resident MB, TRL precompute MB), estimated from shapes."""
    s = SHAPES[shape_name]
    vocab = s["vocab"] or s["bpe_vocab"]
    mb = 4 / 2**20  # fp32 bytes → MB
    seqs, T, H, L = 2 * batch, max_len(s), s["n_embd"], s["n_layer"]
    weights = n_params * mb
    # ≈ 30 floats × width saved for backward per token and GPT-2 block (layer norms, QKV, attention,
    # the MLP's 4H in and out and gelu_new's intermediates): measured with saved-tensor hooks at T = 128.
    activations = 30 * seqs * T * H * L * mb
    logits_trl = 3 * seqs * T * vocab * mb  # logits, their log-softmax kept for backward, their gradient
    fused = vocab >= FUSED_HEAD_MIN_VOCAB
    logits_ours = min(seqs * T * vocab, HEAD_CHUNK_LOGITS) * mb if fused else logits_trl  # one chunk when fused
    return [("weights", weights, weights, weights), ("gradients", weights, weights, weights),
            ("Adam state (2 moments)", 2 * weights, 2 * weights, 2 * weights),
            ("reference model", 0.0, weights, 0.0),
            ("activations (full batch, ≤ max length)", activations, activations, activations),
            ("logits [2B, T, V] (+ log-softmax, gradient)", logits_ours, logits_trl, logits_trl)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs="*")
    ap.add_argument("--tiny", action="store_true", help="a few steps at the tiny shape (the test suite's run)")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    ap.add_argument("--steps", type=int, help="override the shape's step count")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads on each side (default 2)")
    ap.add_argument("--pairs", type=int, default=3, help="rounds of the sides, order rotated (default 3)")
    ap.add_argument("--batch", type=int, help="override the shape's pairs per step")
    ap.add_argument("--trl", choices=["both", "resident", "precompute"], default="both",
                    help="TRL's configurations to run (default both; the figure uses the faster one each round)")
    a = ap.parse_args()
    os.environ.setdefault(THREADS_ENV, str(a.threads))
    if a.child is not None:
        kind, *rest = a.child
        if kind == "alignbench":
            out = child_alignbench(rest[0], *map(int, rest[1:]))
        elif kind == "ceiling":
            out = child_ceiling(rest[0], int(rest[1]))
        elif kind == "trl":
            out = child_trl(rest[0], int(rest[1]), int(rest[2]), int(rest[3]), rest[4] == "1")
        else:
            out = child_group(kind, int(rest[0]), int(rest[1]))
        print(json.dumps(out))
        return
    shape = SHAPES[a.shape]
    steps, batch = (3, 4) if a.tiny else (shape["steps"], shape["batch"])
    steps, batch = a.steps or steps, a.batch or batch
    n_pairs = steps * batch  # one epoch: each side scores every pair under the reference once
    args = [a.shape, str(steps), str(batch), str(n_pairs)]
    cores, load = os.cpu_count() or 1, os.getloadavg()[0]
    print(f"machine: {cores} cores, load average {load:.2f} at start")
    names = {"alignbench": "alignbench (cached reference log-probs)",
             "trl-resident": "TRL DPOTrainer (reference model resident)",
             "trl-precompute": "TRL DPOTrainer (precompute_ref_log_probs)"}
    child_args = {"alignbench": ("alignbench", *args), "trl-resident": ("trl", *args, "0"),
                  "trl-precompute": ("trl", *args, "1")}
    if a.trl != "both":
        names.pop("trl-precompute" if a.trl == "resident" else "trl-resident")
    runs: dict[str, list[dict]] = {k: [] for k in names}
    order = list(names)
    for i in range(1 if a.tiny else a.pairs):  # A B C, B C A, C A B, …: drift over the session cancels in the ratios
        for key in order[i % len(order):] + order[: i % len(order)]:
            runs[key].append(run_child(Path(__file__), *child_args[key]))
    ceiling = run_child(Path(__file__), "ceiling", a.shape, str(batch))
    rate = {k: [r["tokens"] / r["seconds"] for r in rs] for k, rs in runs.items()}
    trl_rate = [max(rate[k][i] for k in rate if k != "alignbench") for i in range(len(rate["alignbench"]))]
    ratios = [ours / theirs for ours, theirs in zip(rate["alignbench"], trl_rate)]
    sides = {
        names[k]: min(rs, key=lambda r: r["seconds"])
        | {"median_rate": statistics.median(rate[k]), "peak": max(r["peak_rss_mb"] for r in rs)}
        for k, rs in runs.items()
    }
    me = sides[names["alignbench"]]
    print(f"shape {a.shape}: {shape['n_layer']} layers × {shape['n_embd']}, vocabulary "
          f"{shape['vocab'] or 'BPE ' + str(shape['bpe_vocab'])}, ≤ {max_len(shape)} tokens, "
          f"{me['n_params'] / 1e6:.1f} M parameters, activation {shape['activation']}; {steps} steps × {batch} pairs, "
          f"fp32 on both sides, "
          f"{os.environ[THREADS_ENV]} threads; {len(ratios)} round(s), each side once per round, order rotated")
    print(f"matmul ceiling (fp32, this CPU, the step's shapes): {ceiling['ceiling'] / 1e9:.1f} GFLOP/s; "
          + ", ".join(f"{k} {v / 1e9:.1f}" for k, v in ceiling["per_shape"].items()))
    for name, r in sides.items():
        mfu = 6 * r["n_params"] * r["median_rate"] / ceiling["ceiling"]
        print(f"{name:45s} {r['median_rate']:9.0f} tokens/s (median)  {r['seconds']:7.2f} s "
              f"(best)  peak RSS {r['peak']:7.0f} MB  (after imports and set-up {r['setup_rss_mb']:.0f} MB)  MFU "
              f"{100 * mfu:.1f} % of the matmul ceiling")
        print(f"{'':45s} config: {r['config']}")
    print("MFU = 6 · N · tokens/s ÷ ceiling, N = every parameter (embeddings included, "
          "tied head counted once); tokens = prompt + response tokens of chosen and rejected; time covers "
          "tokenisation, reference log-probs and the steps")
    if steps > 1:
        fit_rates = [r["fit_tokens"] / r["fit_seconds"] for r in runs["alignbench"]]
        fit_mfu = [6 * me["n_params"] * f / ceiling["ceiling"] for f in fit_rates]
        print(f"alignbench fit steps 2–{steps} alone (steady state: the reference's log-probs cached before the first "
              f"step; 6·N FLOPs a token; tokens = each sequence's own, BOS and EOS included): "
              f"{statistics.median(fit_rates):.0f} tokens/s (median), MFU {100 * statistics.median(fit_mfu):.1f} % "
              f"of the matmul ceiling (min {100 * min(fit_mfu):.1f}, max {100 * max(fit_mfu):.1f})")
    trl_sides = [r for name, r in sides.items() if name.startswith("TRL")]
    least = min(r["peak"] for r in trl_sides)
    print(f"memory ratio alignbench/TRL peak RSS: {me['peak'] / least:.2f} (vs TRL's smaller peak)")
    print("where the memory goes (MB, estimated from shapes; fp32) — alignbench | TRL resident | TRL precompute:")
    for name, ours, trl_res, trl_pre in memory_estimate(a.shape, me["n_params"], batch):
        print(f"  {name:45s} {ours:8.0f} | {trl_res:8.0f} | {trl_pre:8.0f}")
    if a.shape == "tiny":
        gsteps = 2 if a.tiny else 10
        for method in ("brain", "exo"):
            times = {
                K: run_child(Path(__file__), method, str(K), str(gsteps))["seconds_per_step"]
                for K in ((2, 4) if a.tiny else (8, 32))
            }
            ks = sorted(times)
            print(f"{method}: " + ", ".join(f"K={k}: {times[k] * 1000:.0f} ms/step (4 prompts)" for k in ks)
                  + f"; growth ×{times[ks[1]] / times[ks[0]]:.2f} for K ×{ks[1] / ks[0]:.0f}")
    print("per-round ratios (alignbench ÷ TRL's faster configuration that round): "
          f"{', '.join(f'{r:.3f}' for r in ratios)}; median {statistics.median(ratios):.3f}, min "
          f"{min(ratios):.3f}, max {max(ratios):.3f}")
    if load > cores and not a.tiny:
        print(f"load average {load:.2f} > {cores} cores at start: the sides would not see the "
              "same machine; no ratio printed")
        sys.exit(1)
    print(f"trainer_vs_trl ratio={statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
