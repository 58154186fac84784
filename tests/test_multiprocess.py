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

import pytest

from ddp_fits import run_fits

ROOT = Path(__file__).resolve().parents[1]
LOSS_TOL = 1e-4  # measured: ≤ 1e-6 apart (the two processes' gradients are averaged, one process takes the batch mean)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_two(script: Path, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port()), str(script), *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_two_processes_train_what_one_process_trains(tmp_path):
    launch_two(ROOT / "tests" / "ddp_fits.py", str(tmp_path / "two"))
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
