"""rank_run on a finished tiny oracle comparison: ranking CSV, pairwise matrices, exact frontier, regret."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny.yaml"


@pytest.mark.slow
def test_rank_run_on_tiny_oracle_run(tmp_path):
    from alignbench.config import load_config
    from alignbench.pipeline import run_comparison
    from alignbench.progress import progress_bar
    from alignbench.rundir import RunDir
    from alignbench.stages.evaluate import evaluate_run
    from alignbench.stages.fit_and_generate import fit_and_generate
    from alignbench.stages.prepare import prepare_shared
    from alignbench.stages.publish import exact_frontier, rank_run

    cfg = load_config(TINY)
    run_comparison(cfg, tmp_path / "run", tmp_path / "lb", quiet=True)
    rd = RunDir(tmp_path / "run", cfg.model_dump(mode="json"))
    with progress_bar(True) as progress:
        shared = prepare_shared(cfg, rd, progress)
        fitted = fit_and_generate(cfg, rd, shared, progress)
        _, comparisons = evaluate_run(cfg, rd, shared, fitted, [], progress)
    rows = json.loads((tmp_path / "run" / "rows.json").read_text())
    rank_run(cfg, rd, comparisons, shared.task.name, tmp_path / "lb")
    ranking = pd.read_csv(tmp_path / "lb" / "oracle-ranking.csv")
    assert set(ranking.evaluator) == {"reward-model", "gold-reward"}
    assert ((ranking.ci_low <= ranking.bt_score) & (ranking.bt_score <= ranking.ci_high)).all()
    assert (ranking[ranking.method == "sft"].bt_score == 1000).all()
    assert (tmp_path / "run" / "pairwise-gold-reward-vs-sft.csv").exists()
    assert exact_frontier(shared) is not None
    regrets = [r["reward_regret"] for r in rows if r.get("reward_regret") is not None]
    assert regrets and min(regrets) > -1e-3  # no method beats the exact optimum
