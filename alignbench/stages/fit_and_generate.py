"""Stage 2: fit every configured method for every seed, sample its outputs on the test prompts and measure
its policy (exact metrics on an enumerable task, else its KL to π_sft as the policy itself knows it)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import Config, method_instances
from ..errors import AlignbenchError
from ..evaluation.outputs import OutputRecord, load_outputs, write_outputs, write_submission_files
from ..io import atomic_write_json
from ..methods.base import Method, MethodContext
from ..models.exact import exact_metrics, kl, target_logprobs
from ..models.generation import get_backend
from ..rundir import RunDir
from ..tasks.base import NeedsPairs
from ..tasks.chat import record_extra
from .prepare import Shared


@dataclass
class Fitted:
    """One method × seed after this stage: where its files are and what ``metrics.json`` says."""

    label: str
    seed: int
    dir: Path
    method: Method
    info: dict

    def outputs(self) -> list[OutputRecord]:
        return load_outputs(self.dir / "outputs.jsonl")


def fit_and_generate(cfg: Config, rd: RunDir, shared: Shared, progress) -> list[Fitted]:
    """Every seed × method (seed-major), each fitted once: a finished one is read back from its directory."""
    gen = cfg.generation
    budget = {"memory_budget_mb": gen.memory_budget_mb} if gen.backend == "transformers" else {}
    backend = get_backend(gen.backend, **budget)
    task = shared.task
    test_texts = [p.text for p in task.test_prompts]
    fitted = []
    for seed in cfg.seeds:
        for label, method in method_instances(cfg):
            stage = f"methods/{label}/seed-{seed}"
            mdir = rd.path / stage
            if rd.done(stage):
                fitted.append(Fitted(label, seed, mdir, method, rd.stage_info(stage)))
                continue
            t0 = time.time()
            mdir.mkdir(parents=True, exist_ok=True)
            ctx = MethodContext(task=task, sft_policy=shared.sft, reward_fn=shared.reward_fn, run_dir=mdir, seed=seed,
                                progress=progress, backend=backend)
            torch.manual_seed(seed)
            try:
                policy = method.fit(ctx)
            except NeedsPairs as e:
                raise AlignbenchError(f"method {label}: {e}") from None
            fit_s = time.time() - t0
            if policy is not shared.sft and rd.writes:
                policy.save(mdir / "policy")
            t1 = time.time()
            samples = policy.sample(test_texts, n=1, seed=10_000 + seed, backend=backend)  # rank 0 samples, shares them
            if not rd.writes:
                continue  # under accelerate launch: outputs, metrics and evaluation are rank 0's
            records = [OutputRecord(prompt_id=p.prompt_id, prompt=p.text, output=o[0], generator=label, seed=seed,
                                    extra=record_extra(p.text)) for p, o in zip(task.test_prompts, samples.texts)]
            write_outputs(mdir / "outputs.jsonl", records)
            write_submission_files(mdir, records)
            info = {"fit_seconds": round(fit_s, 3), "generate_seconds": round(time.time() - t1, 3),
                    "target_beta": method.target_beta(task), "method": method.name, "hyperparameters": method.hp}
            info.update(policy_metrics(cfg, shared, policy, method, test_texts, samples))
            atomic_write_json(mdir / "metrics.json", info)
            rd.mark_done(stage, time.time() - t0, info)
            fitted.append(Fitted(label, seed, mdir, method, info))
            progress.log(summary_line(label, seed, info))
    return fitted


def policy_metrics(cfg: Config, shared: Shared, policy, method: Method, prompts: list[str], samples) -> dict:
    """Exact oracle metrics when the task can enumerate responses; else the policy's own account of its KL to
    π_sft: a Monte Carlo estimate from the token ids it sampled, or (best-of-n) a bound."""
    enumeration = shared.enumeration
    lp = enumeration.logprobs(policy) if enumeration is not None else None
    if lp is not None and enumeration.sft_logp is not None:
        sft_lp, gold = enumeration.sft_logp, enumeration.gold
        m = exact_metrics(lp, sft_lp, gold, cfg.beta)
        own = method.target_beta(shared.task)
        m["kl_to_own_target"] = float(kl(lp, target_logprobs(sft_lp, gold, own)).mean()) if own else None
        m["kl_kind"] = "exact"
        return m
    return policy.kl_to_reference(shared.sft, prompts, samples)


def summary_line(label: str, seed: int, info: dict) -> str:
    bits = [f"{label} (seed {seed}): fit {info['fit_seconds']:.1f}s"]
    if info.get("exact_reward") is not None:
        bits.append(f"exact reward {info['exact_reward']:.3f}, KL→sft {info['kl_to_sft']:.3f}, "
                    f"KL→π*β {info['kl_to_target']:.3f}")
    elif info.get("kl_to_sft") is not None:
        bits.append(kl_label(info))
    return " · ".join(bits)


def kl_label(info: dict) -> str:
    """KL(π‖π_sft) as text that says how it was obtained: exact, a sampled estimate ± its SE, or a bound."""
    kind, value, se = info.get("kl_kind"), info["kl_to_sft"], info.get("kl_to_sft_se")
    if kind == "sampled":
        return f"KL→sft {value:.3f} ± {se:.3f} (sampled, ± 1 SE)"
    if kind == "upper-bound":
        return f"KL→sft ≤ {value:.3f} (bound)"
    return f"KL→sft {value:.3f}"


def policy_columns(infos: list[dict], beta: float | None) -> dict:
    """The leaderboard's policy columns of one method from its per-seed ``metrics.json``: seed means, the
    pooled SE of a sampled KL, and how the KL was obtained."""
    def mean(key):
        vals = [i.get(key) for i in infos if i.get(key) is not None]
        return float(sum(vals) / len(vals)) if vals else None

    ses = [i.get("kl_to_sft_se") for i in infos]
    pooled_se = None if any(se is None for se in ses) else float(sum(se * se for se in ses) ** 0.5 / len(ses))
    return {"kl_to_sft": mean("kl_to_sft"), "kl_to_sft_se": pooled_se, "kl_kind": infos[0].get("kl_kind"),
            "exact_reward": mean("exact_reward"), "kl_to_target": mean("kl_to_target"),
            "kl_to_own_target": mean("kl_to_own_target"), "target_beta": infos[0].get("target_beta"), "beta": beta}
