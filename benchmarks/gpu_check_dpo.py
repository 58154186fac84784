"""Part of benchmarks/gpu_check.sh (run under ``accelerate launch --mixed_precision bf16`` on a GPU): DPO on a
GPT-2-small-shaped model over HH pairs, then vLLM sampling of the trained policy before and after one more
optimiser step. Prints tokens/s and peak GPU memory. Not run yet: no GPU was available when it was written."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import torch

from alignbench.models.generation import get_backend
from alignbench.training.losses import dpo_loss
from alignbench.training.trainer import GroupData, GroupTrainer, TrainConfig, cache_logprobs

STEPS, BATCH, N_PAIRS, SAMPLE_PROMPTS, SAMPLES_PER_PROMPT = 200, 16, 2000, 64, 8

spec = importlib.util.spec_from_file_location("bench_trainer_vs_trl",
                                              Path(__file__).with_name("bench_trainer_vs_trl.py"))
bench = importlib.util.module_from_spec(spec)
sys.path.insert(0, str(Path(__file__).parent))
spec.loader.exec_module(bench)


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check_dpo: no CUDA device")
    rows, tok, policy = bench.setup("gpt2-small", N_PAIRS)  # 12 × 768, vocabulary 50,257, ≤ 128 + 128 tokens
    policy.model.to("cuda")
    data = GroupData([policy.encode_prompt(p) for p, _, _ in rows],
                     [[policy.encode_response(c), policy.encode_response(r)] for _, c, r in rows])
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    cache_logprobs(policy, data, "ref_logps")
    trainer = GroupTrainer(policy, TrainConfig(steps=STEPS, lr=1e-4, batch_size=BATCH, accelerate=True))
    loss = lambda lp, b: dpo_loss(  # noqa: E731
        (lp - b["ref_logps"].to(lp.device))[:, 0], (lp - b["ref_logps"].to(lp.device))[:, 1], 0.1)
    trainer.fit(data, loss)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    tokens = bench.token_count(rows, tok, STEPS, BATCH, bench.max_len(bench.SHAPES["gpt2-small"]))
    mixed = trainer.accelerator.mixed_precision if trainer.accelerator is not None else "no (not under accelerate)"
    print(f"dpo: {policy.n_params() / 1e6:.0f}M params, {STEPS} steps × {BATCH} pairs, mixed precision {mixed}: "
          f"{seconds:.1f} s incl. reference log-probs, {tokens / seconds:,.0f} tokens/s, "
          f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB, final loss {trainer.history[-1]:.4f}")

    backend = get_backend("vllm", gpu_memory_utilization=0.4)
    prompts = [p for p, _, _ in rows[:SAMPLE_PROMPTS]]
    for phase in ("engine built", "after one more step (weights pushed in place)"):
        if phase.startswith("after"):
            trainer.fit(data, loss, steps=1)
        t = time.perf_counter()
        samples = backend.sample(trainer.policy, prompts, n=SAMPLES_PER_PROMPT, seed=0)
        seconds = time.perf_counter() - t
        n_tokens = sum(len(ids) for row in samples.token_ids for ids in row)
        print(f"vllm sample, {phase}: {len(prompts)} prompts × {SAMPLES_PER_PROMPT}, "
              f"{n_tokens:,} tokens in {seconds:.1f} s ({n_tokens / seconds:,.0f} tokens/s), weight "
              f"syncs so far {backend.weight_syncs}")
    trainer.finish()
    print(f"peak GPU memory (this process, torch allocations) {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB; "
          f"device total {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")


if __name__ == "__main__":
    main()
