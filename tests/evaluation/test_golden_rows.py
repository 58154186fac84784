"""The evaluation refactor into one flow changed no number: rows of judge-only re-evaluation and of the
alpaca_eval import equal, in every statistic column, the rows the code before the refactor wrote
(``tests/data/golden-rows.json``, recorded at commit bb11da7 with ``python tests/test_refactor_golden.py --write``,
since moved to tests/evaluation/test_golden_rows.py).

Columns the refactor added (e.g. ``lc_win_rate`` on judge-only LLM rows, ``n_seeds``) are allowed; a
column the old rows had must hold the same value. The published leaderboards themselves are compared by
the slow test ``test_published_oracle_leaderboard_reproduces`` (full quickstart and oracle-sweep runs).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden-rows.json"
# Columns that name where a row came from rather than what was measured.
PROVENANCE = {"run_id", "judge", "run", "seed"}


def _write_inputs(d: Path) -> tuple[list[Path], Path, Path]:
    from alignbench.evaluation.outputs import OutputRecord, write_outputs

    rng = np.random.default_rng(7)
    n = 60
    ref = [OutputRecord(str(i), f"question {i}", "r" * int(rng.integers(5, 40)), "reference") for i in range(n)]
    write_outputs(d / "reference.jsonl", ref)
    methods = []
    for name, scale in (("short", 10), ("medium", 25), ("long", 45)):
        recs = [OutputRecord(str(i), f"question {i}", "m" * int(rng.integers(1, scale + 1)), name) for i in range(n)]
        write_outputs(d / f"{name}.jsonl", recs)
        methods.append(d / f"{name}.jsonl")
    prefs = [2, 1, 0, 1.5, 1.75, None, 2, 1.25, 1, 2, 0, 1.9, 1.1, 2, 1] * 4
    ann = [{"instruction": f"q{i}", "output_1": "a" * (5 + i % 7), "output_2": "b" * (3 + (i * 5) % 11),
            "generator_1": "gpt4_ref", "generator_2": "mine" if i % 2 else "theirs", "preference": p}
           for i, p in enumerate(prefs)]
    annotations = d / "annotations.json"
    annotations.write_text(json.dumps(ann))
    return methods, d / "reference.jsonl", annotations


def golden_rows(d: Path) -> dict[str, list[dict]]:
    """Rows of the same inputs through judge-only (a position-biased scripted judge over HTTP) and the alpaca_eval
    import."""
    from alignbench.evaluation.alpaca_eval import rows_from_annotations
    from alignbench.evaluation.judge_only import judge_outputs
    from alignbench.evaluation.local_server import JudgeServer, ScriptedJudge, prefer_longer

    methods, reference, annotations = _write_inputs(d)
    with JudgeServer(ScriptedJudge(prefer_longer, position_bias=0.3)) as srv:
        judged = judge_outputs(methods, reference, str(REPO / "judges" / "local-scripted.yaml"), d / "judged",
                               seed=3, n_bootstrap=500, quiet=True, base_url=srv.base_url)
    imported = rows_from_annotations(annotations, seed=1, n_bootstrap=400)
    return {"judge_only": judged, "alpaca_eval": imported}


def _same(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if isinstance(a, (int, float)) and not isinstance(a, bool):
        return isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return a == b


def statistic_differences(before: list[dict], after: list[dict]) -> list[str]:
    """Every (row, column) where ``after`` differs from ``before``, over the columns ``before`` has."""
    key = lambda r: (str(r.get("task")), str(r["method"]), str(r["evaluator"]), str(r.get("baseline")))  # noqa: E731
    after_by = {key(r): r for r in after}
    diffs = []
    for r in before:
        other = after_by.get(key(r))
        if other is None:
            diffs.append(f"{key(r)}: row missing")
            continue
        for col, value in r.items():
            if col not in PROVENANCE and not _same(value, other.get(col)):
                diffs.append(f"{key(r)} {col}: {value!r} → {other.get(col)!r}")
    if len(after) != len(before):
        diffs.append(f"{len(before)} rows → {len(after)}")
    return diffs


def test_judge_only_and_alpaca_eval_rows_equal_the_pre_refactor_rows(tmp_path):
    golden = json.loads(GOLDEN.read_text())
    now = golden_rows(tmp_path)
    for path, rows in now.items():
        assert statistic_differences(golden[path], rows) == [], path


def test_statistic_differences_catches_a_changed_value():
    row = {"task": "t", "method": "m", "evaluator": "e", "baseline": "b", "win_rate": 50.0, "ci_low": 40.0,
           "run_id": "x"}
    assert statistic_differences([row], [{**row, "run_id": "y", "lc_win_rate": 3.0}]) == []
    assert statistic_differences([row], [{**row, "ci_low": 40.0000001}]) != []
    assert statistic_differences([row], []) != []


def leaderboard_differences(before_csv: Path, after_csv: Path) -> list[str]:
    rows = lambda p: [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}  # noqa: E731
                      for r in pd.read_csv(p).to_dict("records")]
    return statistic_differences(rows(before_csv), rows(after_csv))


@pytest.mark.slow
@pytest.mark.parametrize("config, published",
                         [("quickstart", "oracle.csv"), ("oracle-sweep", "oracle-sweep/oracle.csv")])
def test_published_oracle_leaderboard_reproduces(config, published, tmp_path):
    """The README's commands, run as the README runs them, write the published oracle leaderboards again:
    every statistic column equal (float rounding of the same work on another CPU could break this).
    hh-harmless takes about 20 minutes and is left out: ``leaderboard_differences`` compares its CSVs by hand."""
    proc = subprocess.run([sys.executable, "-m", "alignbench", "run", config, "--quiet", "--run-dir",
                           str(tmp_path / "run"),
                           "--leaderboard-dir", str(tmp_path / "lb")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert leaderboard_differences(REPO / "leaderboards" / published, tmp_path / "lb" / "oracle.csv") == []


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.write_text(json.dumps(golden_rows(Path(tmp)), indent=1, allow_nan=True) + "\n")
    print(f"wrote {GOLDEN}")
