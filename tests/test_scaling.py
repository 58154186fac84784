"""Scale-out code paths exercised on CPU: the vLLM backend's weight hand-off and sampling
parameters (against the stand-in ``vllm`` module in vllm_standin.py), LoRA training and hand-off, accelerate configs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import yaml

from alignbench.models.generation import get_backend
from alignbench.models.policy import Policy, ResponseFormat, TinyGPT2Spec, build_tiny_gpt2, load_policy
from alignbench.models.tokenizers import build_symbol_tokenizer

import vllm_standin
from vllm_standin import StandInLLM


def tiny_policy(fixed=True):
    tok = build_symbol_tokenizer(["x", "y", "a", "b", "c"])
    model = build_tiny_gpt2(len(tok), TinyGPT2Spec(1, 16, 2, 16))
    fmt = ResponseFormat(allowed_token_ids=tok.convert_tokens_to_ids(["a", "b", "c"]), fixed_length=3, max_new_tokens=3) if fixed \
        else ResponseFormat(max_new_tokens=5)
    return Policy(model, tok, fmt)


@pytest.fixture
def fake_vllm(monkeypatch):
    return vllm_standin.install(monkeypatch)


def test_vllm_backend_hands_off_weights_and_enforces_the_response_format(fake_vllm, tmp_path):
    pol = tiny_policy()
    backend = get_backend("vllm", gpu_memory_utilization=0.3)
    s = backend.sample(pol, ["x y", "y"], n=4, seed=7)
    assert len(s.texts) == 2 and all(len(row) == 4 for row in s.texts)
    assert all(len(text.split()) == 3 and set(text.split()) <= {"a", "b", "c"} for row in s.texts for text in row)
    llm = StandInLLM.instances[0]
    assert llm.kwargs["gpu_memory_utilization"] == 0.3
    # a saved policy is read from its own directory, not snapshotted again
    pol.save(tmp_path / "p")
    loaded = load_policy(tmp_path / "p")
    get_backend("vllm").sample(loaded, ["x"], n=1, seed=0)
    assert StandInLLM.instances[-1].model_dir == str(tmp_path / "p")
    params = backend.sampling_params(pol, 4, 7)
    assert (params.n, params.seed, params.temperature, params.top_p, params.top_k) == (4, 7, 1.0, 1.0, -1)
    assert params.min_tokens == params.max_tokens == 3 and params.ignore_eos
    assert params.allowed_token_ids == pol.format.allowed_token_ids


def test_vllm_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    from alignbench.errors import AlignbenchError

    with pytest.raises(AlignbenchError, match=r"alignbench\[vllm\]"):
        get_backend("vllm")


def test_lora_trains_adapters_and_saves_merged_weights(tmp_path):
    pytest.importorskip("peft")
    from alignbench.training.trainer import GroupData, GroupTrainer, TrainConfig

    pol = tiny_policy()
    pol.lora = {"r": 4, "alpha": 8}
    clone = pol.clone()
    trainable = sum(p.numel() for p in clone.model.parameters() if p.requires_grad)
    assert 0 < trainable < sum(p.numel() for p in clone.model.parameters()) / 2  # only the adapters train
    data = GroupData([pol.encode_prompt("x y")] * 4, [[pol.encode_response("a b c")]] * 4)
    GroupTrainer(clone, TrainConfig(steps=60, lr=5e-2, batch_size=4)).fit(data, lambda lp, b: -lp.mean())
    clone.save(tmp_path / "lora")
    assert (tmp_path / "lora" / "adapter").is_dir()
    merged = load_policy(tmp_path / "lora")
    before, after = pol.exact_logprobs(["x y"]), merged.exact_logprobs(["x y"])
    idx = 0 * 9 + 1 * 3 + 2  # "a b c"
    assert after[0, idx] > before[0, idx] + 0.5


def test_accelerate_configs_ship_and_parse():
    root = Path(__file__).resolve().parents[1] / "alignbench" / "configs" / "accelerate"
    kinds = {}
    for f in ("deepspeed_zero2.yaml", "deepspeed_zero3.yaml", "fsdp.yaml"):
        cfg = yaml.safe_load((root / f).read_text())
        kinds[f] = cfg["distributed_type"]
    assert kinds == {"deepspeed_zero2.yaml": "DEEPSPEED", "deepspeed_zero3.yaml": "DEEPSPEED", "fsdp.yaml": "FSDP"}


def test_trainer_under_accelerate_single_process():
    from alignbench.training.trainer import GroupData, GroupTrainer, TrainConfig

    pol = tiny_policy()
    data = GroupData([pol.encode_prompt("x")] * 4, [[pol.encode_response("a a a")]] * 4)
    tr = GroupTrainer(pol, TrainConfig(steps=5, lr=1e-2, batch_size=4, accelerate=True))
    assert tr.accelerator is not None
    tr.fit(data, lambda lp, b: -lp.mean())
    tr.finish()
    assert isinstance(pol.model, torch.nn.Module) and tr.step == 5


def test_gpu_check_script_parses_and_says_why_it_cannot_run_without_a_gpu(tmp_path):
    """benchmarks/gpu_check.sh is for a GPU machine; without nvidia-smi it stops at once with the reason (exit 2)."""
    import shutil
    import subprocess

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    if shutil.which("nvidia-smi", path="/usr/bin:/bin"):
        pytest.skip("a GPU machine: run benchmarks/gpu_check.sh itself")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(["/bin/bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2 and "no NVIDIA GPU here" in proc.stderr
