"""The one evaluation flow: evaluators behind one interface, registered by name; one row schema;
per-prompt comparisons kept; seeds combined one way everywhere, grids included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from alignbench.errors import AlignbenchError
from alignbench.evaluation.evaluate import (RowContext, StatisticsSettings, evaluate, load_comparisons,
                                            rows_from_comparisons, save_comparisons)
from alignbench.evaluation.evaluators import (
    EVALUATORS,
    Comparison,
    Evaluator,
    EvaluatorSources,
    build_evaluator,
    register_evaluator,
)
from alignbench.evaluation.outputs import OutputRecord
from alignbench.evaluation.schema import ALL_COLUMNS, COLUMNS, LeaderboardRow, make_row
from alignbench.grid import Cell, seed_summary_rows
from alignbench.leaderboard import write_leaderboard
from alignbench.stats import across_seeds

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny.yaml"


class LengthJudge(Evaluator):
    """A new evaluator in a dozen lines: the longer response wins (what the README's "add an evaluator" shows)."""

    name, identity = "longer-wins", "len()"

    def compare(self, pairs, method, baseline, seed, progress=None):
        mine = np.array([len(m.output) for m, _ in pairs], float)
        theirs = np.array([len(r.output) for _, r in pairs], float)
        outcome = np.where(mine > theirs, 1.0, np.where(mine < theirs, 0.0, 0.5))
        return Comparison(method, baseline, self.name, self.identity, seed, [m.prompt_id for m, _ in pairs], outcome,
                          method_reward=mine, baseline_reward=theirs)


def _records(generator, lengths):
    return [OutputRecord(str(i), f"q{i}", "x" * n, generator) for i, n in enumerate(lengths)]


def test_a_registered_evaluator_flows_into_rows_with_the_same_statistics_as_any_other():
    register_evaluator("longer-wins")(lambda sources, argument: LengthJudge())
    try:
        evaluator = build_evaluator("longer-wins", EvaluatorSources())
    finally:
        del EVALUATORS["longer-wins"]
    outputs = {"a": {0: _records("a", [3, 5, 1, 4]), 1: _records("a", [3, 1, 1, 4])}}
    baselines = {"ref": {0: _records("ref", [2, 2, 2, 4]), 1: _records("ref", [2, 2, 2, 4])}}
    settings = StatisticsSettings(n_bootstrap=500, seed=4, ci=0.9)
    rows, comps = evaluate(outputs, baselines, [evaluator], settings, RowContext("t", "run-1", "0,1"))
    (row,) = rows
    # per prompt: seed 0 → 1, 1, 0, ½ ; seed 1 → 1, 0, 0, ½ ; mean over seeds 1, ½, 0, ½ → 50 %
    assert (
        row.win_rate == pytest.approx(50.0)
        and row.n_seeds == 2
        and row.seed_spread == pytest.approx(np.std([62.5, 37.5], ddof=1))
    )
    assert row.mean_reward == pytest.approx((13 / 4 + 9 / 4) / 2)
    expect = across_seeds([c.outcome for c in comps], 500, 4, 0.9)
    assert (row.ci_low, row.ci_high) == (expect["ci_low"], expect["ci_high"])
    assert row.evaluator == "longer-wins" and row.judge == "len()" and row.seed == "0,1"


def test_two_evaluators_with_one_name_are_refused():
    with pytest.raises(AlignbenchError, match="two evaluators are named longer-wins"):
        evaluate({"a": {0: _records("a", [1])}}, {"b": {0: _records("b", [1])}}, [LengthJudge(), LengthJudge()],
                 StatisticsSettings(), RowContext("t", "r", "0"))


def test_a_row_is_typed_and_every_csv_has_every_column_in_order(tmp_path):
    with pytest.raises(AlignbenchError, match="column win_rte"):
        make_row("rows of x", task="t", method="m", evaluator="e", win_rte=3.0)
    with pytest.raises(AlignbenchError, match="rows of x: column n_prompts"):
        make_row("rows of x", task="t", method="m", evaluator="e", n_prompts="many")
    row = make_row(task="t", method="m", evaluator="e", baseline="b", win_rate=50.0, n_prompts=2)
    paths = write_leaderboard([row.as_dict()], tmp_path / "lb.csv")
    df = pd.read_csv(paths["csv"])
    assert list(df.columns) == ALL_COLUMNS and ALL_COLUMNS[: len(COLUMNS)] == COLUMNS
    assert set(LeaderboardRow.model_fields) == set(ALL_COLUMNS)
    assert all(f.description for f in LeaderboardRow.model_fields.values())


def test_comparisons_round_trip_through_their_file_with_nan(tmp_path):
    c = Comparison("m", "b", "llm:j", "judge", 3, ["1", "2"], np.array([1.0, np.nan]), first=np.array([1.0, np.nan]),
                   second=np.array([1.0, 0.0]), n_request_failures=1, template_sha="abc")
    save_comparisons(tmp_path / "comparisons.jsonl", [c])
    (back,) = load_comparisons(tmp_path / "comparisons.jsonl")
    assert (
        back.seed == 3
        and back.second.tolist() == [1.0, 0.0]
        and np.isnan(back.outcome[1])
        and back.method_reward is None
    )
    with pytest.raises(AlignbenchError, match="no comparisons.jsonl"):
        load_comparisons(tmp_path / "elsewhere" / "comparisons.jsonl")


def test_grid_seed_summary_is_the_prompt_bootstrap_at_the_configured_level(tmp_path):
    """Before: a t-interval over per-seed win rates with a hard-coded 0.975 quantile, whatever ``evaluation.ci``
    said. Now a grid's seed summary is the run's own statistic: ``across_seeds`` of the cells' per-prompt outcomes."""
    base = yaml.safe_load(TINY.read_text())
    base["evaluation"] = {**(base.get("evaluation") or {}), "ci": 0.8, "bootstrap": 300}
    rng = np.random.default_rng(0)
    cells, per_seed = [], []
    for seed in (0, 1, 2):
        d = tmp_path / f"cell-{seed}"
        cfg_path = tmp_path / f"cell-{seed}.yaml"
        cfg_path.write_text(yaml.safe_dump({**base, "seed": seed, "seeds": [seed]}))
        outcome = rng.choice([0.0, 0.5, 1.0], size=40)
        per_seed.append(outcome)
        comp = Comparison("dpo", "sft", "gold-reward", "true reward r*", seed, [str(i) for i in range(40)], outcome,
                          method_reward=outcome, baseline_reward=np.zeros(40))
        save_comparisons(d / "comparisons.jsonl", [comp])
        (d / "methods" / "dpo" / f"seed-{seed}").mkdir(parents=True)
        (d / "methods" / "dpo" / f"seed-{seed}" / "metrics.json").write_text(
            json.dumps({"kl_to_sft": 0.1 * (seed + 1), "kl_kind": "exact"})
        )
        cells.append(Cell(f"oracle-dpo-s{seed}", cfg_path, d, "oracle-dpo", "dpo", seed))
    (row,) = seed_summary_rows(cells)
    expect = across_seeds(per_seed, 300, base.get("seed", 0), 0.8)
    assert (row["ci_low"], row["ci_high"], row["win_rate"]) == (expect["ci_low"], expect["ci_high"], expect["win_rate"])
    assert row["seed"] == "0,1,2" and row["n_seeds"] == 3 and row["kl_to_sft"] == pytest.approx(0.2)


def test_rows_from_comparisons_keeps_first_seen_order_and_skips_nothing():
    comps = [
        Comparison(m, "b", ev, "j", 0, ["1", "2"], np.array([1.0, 0.0])) for m in ("z", "a") for ev in ("e2", "e1")
    ]
    rows = rows_from_comparisons(comps, StatisticsSettings(n_bootstrap=100), RowContext("t", "r", "0"))
    assert [(r.method, r.evaluator) for r in rows] == [("z", "e2"), ("z", "e1"), ("a", "e2"), ("a", "e1")]


def test_run_only_evaluators_outside_a_run_are_one_line_errors():
    with pytest.raises(AlignbenchError, match="rm:<directory>"):
        build_evaluator("reward-model", EvaluatorSources())
    with pytest.raises(AlignbenchError, match="true reward"):
        build_evaluator("gold-reward", EvaluatorSources())


def test_a_single_answer_judge_is_a_pointwise_evaluator_in_judge_only(tmp_path):
    """A ``mode: single`` judge (MT-Bench's 1–10 rating) used to be refused by ``alignbench judge``; it is now an
    evaluator like the reward model: each response rated on its own, the higher rating wins, no rating = no verdict."""
    from alignbench.evaluation.judge_only import judge_outputs
    from alignbench.evaluation.local_server import JudgeServer
    from alignbench.evaluation.outputs import write_outputs

    def grade(prompt: str) -> str:  # rates what the answer asks for: "score=7" → [[7]]; "score=none" → no rating
        wanted = prompt.split("score=")[1].split()[0]
        return "No rating." if wanted == "none" else f"Fine.\nRating: [[{wanted}]]"

    mine = [7, 3, 5, "none", 9]
    ref = [5, 5, 5, 5, 5]
    write_outputs(tmp_path / "m.jsonl",
                  [OutputRecord(str(i), f"q{i}", f"answer score={s} end", "mine") for i, s in enumerate(mine)])
    write_outputs(tmp_path / "r.jsonl",
                  [OutputRecord(str(i), f"q{i}", f"answer score={s} done", "ref") for i, s in enumerate(ref)])
    with JudgeServer(grade) as srv:
        (row,) = judge_outputs([tmp_path / "m.jsonl"], tmp_path / "r.jsonl", "judges/local-scripted-single.yaml",
                               tmp_path / "out", n_bootstrap=200, quiet=True, base_url=srv.base_url)
        assert srv.requests == 10  # every response rated once
    assert row["evaluator"] == "llm-single:local-scripted-single"
    assert (row["wins"], row["ties"], row["losses"], row["n_parse_failures"]) == (2, 1, 1, 1)
    assert row["win_rate"] == pytest.approx(100 * 2.5 / 4) and row["mean_reward"] == pytest.approx(6.0)
