"""The grid on a Ray cluster started separately: ``ray start --head`` and a second node process on this machine,
both on 127.0.0.1 only, reached with ``alignbench grid --backend ray --address``. Rows equal the local backend's;
a crashing cell is reported with its traceback while the others finish; a killed worker's cell is retried."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from test_grid import grid_file

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to stop its own cluster")]


def processes() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, command line) of every process this user can see."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            out[int(entry)] = (ppid, cmdline)
    return out


def stop_cluster(temp_dir: str) -> None:
    """Kill this cluster's processes (their command lines name its temp dir) and their children, by pid. Not
    ``ray stop``: that stops every Ray process of this user on the machine, other people's clusters too."""
    table = processes()
    mine = {pid for pid, (_, cmd) in table.items() if temp_dir in cmd}
    grew = True
    while grew:
        children = {pid for pid, (ppid, _) in table.items() if ppid in mine} - mine
        mine |= children
        grew = bool(children)
    mine.discard(os.getpid())
    for pid in mine:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.fixture
def ray_cluster():
    """A two-node Ray cluster on 127.0.0.1 (head: 1 CPU, second node: 1 CPU); its address and environment."""
    pytest.importorskip("ray")
    ray_bin = Path(sys.executable).with_name("ray")
    temp_dir = tempfile.mkdtemp(prefix="abray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1",
           # Loopback only: Ray rewrites 127.0.0.1 to the machine's external IP unless told it is not a cluster host;
           # no token: ~/.ray/auth_token is shared by every cluster of this user on the machine.
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
    address = f"127.0.0.1:{port}"
    try:
        subprocess.run([str(ray_bin), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                        "--num-cpus", "1",
                        "--include-dashboard", "false", "--temp-dir", temp_dir, "--disable-usage-stats"],
                       env=env, check=True, capture_output=True, timeout=120)
        subprocess.run([sys.executable, str(ROOT / "tests" / "ray_second_node.py"), address, temp_dir, "1"],
                       env=env, check=True, capture_output=True, timeout=120)
        yield address, env
    finally:
        stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def kill_worker_once(cell_config: str, killed: list, stop: threading.Event) -> None:
    """When the cell's ``alignbench run`` process is up, SIGKILL the Ray worker that started it (once)."""
    while not stop.is_set():
        for pid, (ppid, cmd) in processes().items():
            if cell_config in cmd and "alignbench" in cmd:
                time.sleep(1.0)
                os.kill(ppid, signal.SIGKILL)
                killed.append(ppid)
                return
        time.sleep(0.2)


def comparable(csv: Path) -> pd.DataFrame:
    df = pd.read_csv(csv).drop(columns=["run_id", "run"], errors="ignore")
    return df.sort_values(["method", "evaluator", "baseline", "seed"]).reset_index(drop=True)


def test_grid_on_a_two_node_ray_cluster(ray_cluster, tmp_path):
    address, env = ray_cluster
    (tmp_path / "local").mkdir()
    local = subprocess.run([sys.executable, "-m", "alignbench", "grid",
                            str(grid_file(tmp_path / "local", ["dpo"], [0, 1])),
                            "--backend", "local", "--out", str(tmp_path / "local" / "g"), "--quiet"],
                           # the same thread count as the Ray workers
                           env=env, capture_output=True, text=True, timeout=900)
    assert local.returncode == 0, local.stderr[-3000:]

    (tmp_path / "ray").mkdir()
    grid = grid_file(tmp_path / "ray", ["dpo", "exo"], [0, 1])
    out = tmp_path / "ray" / "g"
    # The exo cells crash: an unreadable config.yaml in their run directories (an uncaught YAML error: a traceback).
    for name in ("oracle-exo-s0", "oracle-exo-s1"):
        (out / "cells" / name).mkdir(parents=True)
        (out / "cells" / name / "config.yaml").write_text("methods: [unclosed\n")
    killed, stop = [], threading.Event()
    killer = threading.Thread(target=kill_worker_once, args=(str(out / "cells" / "oracle-dpo-s1.yaml"), killed, stop),
                              daemon=True)
    killer.start()
    try:
        proc = subprocess.run([sys.executable, "-m", "alignbench", "grid", str(grid), "--backend", "ray", "--address",
                               address,
                               "--out", str(out), "--quiet"], env=env, capture_output=True, text=True, timeout=900)
    finally:
        stop.set()
        killer.join(timeout=10)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert killed, "the dpo-s1 cell's worker was never seen running"
    report = json.loads((out / "grid_report.json").read_text())["cells"]
    assert set(report) == {"oracle-dpo-s0", "oracle-dpo-s1", "oracle-exo-s0", "oracle-exo-s1"}  # none lost
    # retried after the kill
    assert report["oracle-dpo-s0"]["returncode"] == 0 and report["oracle-dpo-s1"]["returncode"] == 0
    for name in ("oracle-exo-s0", "oracle-exo-s1"):
        assert report[name]["returncode"] != 0
        assert "Traceback (most recent call last)" in report[name]["stderr_tail"]
        assert f"cell {name} failed twice" in proc.stderr
    pd.testing.assert_frame_equal(comparable(out / "leaderboard.csv"),
                                  comparable(tmp_path / "local" / "g" / "leaderboard.csv"))
