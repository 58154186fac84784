"""Two processes on CPU (``accelerate launch --multi_gpu --num_processes 2``: torchrun, gloo without a GPU)
train what one process trains: the same global batch split across the processes, DDP averaging the gradients.
Checkpoints and samples come from rank 0 only, and a resume under two processes continues the same curve."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ddp_fits import run_fits

ROOT = Path(__file__).resolve().parents[1]
LOSS_TOL = 1e-4  # measured: ≤ 1e-6 apart (the two processes' gradients are averaged, one process takes the batch mean)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_two(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    """``accelerate launch`` two processes on this machine (CPU only: gloo) running ``args`` (a script or -m module)."""
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision",
           "no",
           "--dynamo_backend", "no", "--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port()), *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_two_processes_train_what_one_process_trains(tmp_path):
    launch_two(str(ROOT / "tests" / "ddp_fits.py"), str(tmp_path / "two"))
    ranks = [json.loads((tmp_path / "two" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    one = run_fits(tmp_path / "one")
    for curve in ("trainer", "trainer_resumed", "dpo", "raft"):
        assert len(ranks[0][curve]) == 6 and len(one[curve]) == 6, curve
        assert ranks[0][curve] == pytest.approx(one[curve], abs=LOSS_TOL), curve
        assert ranks[1][curve] == ranks[0][curve], curve  # every process logs the mean over processes
    assert ranks[0]["resumed_from_step"] == 3
    for weights in ("dpo_weights_sum", "raft_weights_sum"):
        assert ranks[0][weights] == pytest.approx(one[weights], rel=1e-4)
        assert ranks[1][weights] == ranks[0][weights]  # DDP keeps the replicas identical
    # RAFT's two rounds were sampled once, on rank 0; checkpoints (trainer 2, DPO 2) written once, by rank 0.
    assert (ranks[0]["sample_calls"], ranks[1]["sample_calls"]) == (2, 0)
    assert (ranks[0]["checkpoint_writes"], ranks[1]["checkpoint_writes"]) == (4, 0)
    # Each process trains on half of each global batch: (6 + 3 + 3 + 6 steps) × 8 groups + RAFT's 6 × 4, halved.
    assert ranks[0]["trained_groups"] == ranks[1]["trained_groups"] == (18 * 8 + 6 * 4) // 2
    log = (tmp_path / "two" / "dpo" / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [1, 2, 3, 4, 5, 6]  # one log, not one line per process


def test_other_commands_and_ppo_refuse_to_run_once_per_process(monkeypatch):
    from alignbench.cli import main
    from alignbench.errors import AlignbenchError
    from alignbench.training.ppo import PPOConfig, train_ppo

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["grid", "nonexistent.yaml"]) != 0
    with pytest.raises(AlignbenchError, match="PPO does not shard across processes"):
        train_ppo(None, None, None, [], PPOConfig())


@pytest.mark.slow
def test_a_whole_run_under_two_processes_equals_one_process(tmp_path):
    """``accelerate launch … -m alignbench run``: SFT and the methods train sharded, the reward model on rank 0,
    samples come from rank 0, and rank 0 alone writes, evaluates and publishes. A second launch resumes."""
    config = ROOT / "tests" / "data" / "tiny-ddp.yaml"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "alignbench", "run", str(config), "--run-dir", str(tmp_path / "one"),
                          "--leaderboard-dir", str(tmp_path / "lb1"), "--quiet"], capture_output=True, text=True,
                         env=env, timeout=400)
    assert one.returncode == 0, one.stderr[-3000:]
    for attempt in ("first", "resumed"):
        launch_two("-m", "alignbench", "run", str(config), "--run-dir", str(tmp_path / "two"),
                   "--leaderboard-dir", str(tmp_path / "lb2"), "--quiet", timeout=400)
        a, b = pd.read_csv(tmp_path / "lb1" / "oracle.csv"), pd.read_csv(tmp_path / "lb2" / "oracle.csv")
        assert list(a.method) == list(b.method) and list(a.win_rate) == list(b.win_rate), attempt
        for column in ("exact_reward", "kl_to_sft", "kl_to_target", "reward_regret"):
            assert b[column].to_numpy() == pytest.approx(a[column].to_numpy(), abs=1e-4, nan_ok=True), column
        # The reward model's Bradley–Terry offset is not identified (zero gradient but for float noise, which Adam
        # scales up): its mean reward may shift by a constant; measured 0.007.
        shift = (b.mean_reward - a.mean_reward)[a.evaluator == "reward-model"]
        assert float(shift.max() - shift.min()) < 1e-3 and abs(float(shift.mean())) < 0.05
    for method in ("sft", "dpo", "raft", "best-of-n"):
        outputs = f"methods/{method}/seed-0/outputs.jsonl"
        assert (tmp_path / "two" / outputs).read_text() == (tmp_path / "one" / outputs).read_text(), method
    for log in ("sft_train_log.jsonl", "methods/dpo/seed-0/train_log.jsonl", "methods/raft/seed-0/train_log.jsonl"):
        losses = [
            [json.loads(line)["loss"] for line in (tmp_path / run / log).read_text().splitlines()]
            for run in ("one", "two")
        ]
        assert losses[1] == pytest.approx(losses[0], abs=LOSS_TOL), log
    run_log = (tmp_path / "two" / "run.log").read_text()
    assert run_log.count("start: alignbench") == 2  # rank 0's log only, once per launch
    assert run_log.count("sft: ") == 1 and run_log.count("reward model: ") == 1  # trained once, resumed after
