"""The method × seed grid: independent runs on a local pool and on Ray, aggregated; a failed cell
does not stop the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from alignbench.grid import expand_grid, run_grid

TINY = Path(__file__).parent / "data" / "tiny.yaml"


def grid_file(tmp_path, methods, seeds, extra_set=None):
    spec = {"base": str(TINY), "grid": {"methods": methods, "seeds": seeds},
            "set": {"methods": {"sft": {}, "dpo": {"steps": 10, "lr": 2e-3, "batch_size": 16},
                                "exo": {"steps": 10, "lr": 2e-3, "batch_size": 16}},
                    "sft.steps": 20, "reward_model.steps": 20, **(extra_set or {})}}
    p = tmp_path / "grid.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def test_grid_expands_to_independent_cells(tmp_path):
    cells = expand_grid(grid_file(tmp_path, ["dpo", "exo"], [0, 1]), tmp_path / "g")
    assert sorted(c.name for c in cells) == ["oracle-dpo-s0", "oracle-dpo-s1", "oracle-exo-s0", "oracle-exo-s1"]
    cfg = yaml.safe_load(cells[0].config_path.read_text())
    assert set(cfg["methods"]) == {"sft", "dpo"} and cfg["seeds"] == [0]


def test_local_grid_survives_a_failed_cell(tmp_path, monkeypatch):
    g = grid_file(tmp_path, ["dpo", "exo"], [0])
    cells = expand_grid(g, tmp_path / "g")
    # Break one cell's config after expansion: that cell fails (twice, with its retry), the other runs.
    bad = next(c for c in cells if "exo" in c.name)
    import alignbench.grid as grid_mod

    real = grid_mod.expand_grid

    def expand_and_break(*a, **k):
        out = real(*a, **k)
        for c in out:
            if c.name == bad.name:
                c.config_path.write_text("methods: {exo: {steps: -1}}\nname: broken\n")
        return out

    monkeypatch.setattr(grid_mod, "expand_grid", expand_and_break)
    rows = run_grid(g, backend="local", workers=2, out_dir=tmp_path / "g", quiet=True)
    report = json.loads((tmp_path / "g" / "grid_report.json").read_text())
    assert report["cells"][bad.name]["returncode"] != 0
    assert {r["method"] for r in rows} == {"sft", "dpo"}
    assert (tmp_path / "g" / "leaderboard.csv").exists()


def test_ray_grid_in_local_mode(tmp_path):
    pytest.importorskip("ray")
    rows = run_grid(grid_file(tmp_path, ["dpo"], [0, 1]), backend="ray", workers=2, out_dir=tmp_path / "g", quiet=True)
    assert {r["method"] for r in rows} == {"sft", "dpo"}
    assert sorted({r["seed"] for r in rows}) == ["0", "0,1", "1"]
    summary = [r for r in rows if r["seed"] == "0,1" and r["method"] == "dpo"]
    assert summary and all(r["n_seeds"] == 2 and r["ci_low"] <= r["win_rate"] <= r["ci_high"] for r in summary)


def test_a_cells_stderr_keeps_its_whole_traceback():
    from alignbench.grid import STDERR_TAIL_LINES, stderr_tail

    frames = [f'  File "m.py", line {i}, in f{i}' for i in range(120)]
    text = "\n".join(["warning: noise"] * 50 + ["Traceback (most recent call last):", *frames, "ValueError: boom"])
    kept = stderr_tail(text).splitlines()
    assert kept[0] == "Traceback (most recent call last):" and kept[-1] == "ValueError: boom" and len(kept) == 122
    plain = stderr_tail("\n".join(f"line {i}" for i in range(100))).splitlines()
    assert plain == [f"line {i}" for i in range(100 - STDERR_TAIL_LINES, 100)]
