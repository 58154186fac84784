"""The judgment store: what a stored judgment keeps, and resuming from it."""

from __future__ import annotations

from judge_fixtures import judge_yaml, make_pairs

from alignbench.evaluation.judge_config import load_judge
from alignbench.evaluation.llm_judge import judge_pairs
from alignbench.evaluation.local_server import JudgeServer
from alignbench.evaluation.outputs import align_outputs
from alignbench.evaluation.store import JudgmentStore


def test_an_oversized_completion_is_capped_in_the_store_and_the_directory_resumes(tmp_path):
    """Before: a 20 MB reply was stored whole, and the store could not be opened again (line over the limit)."""
    huge = "x" * (20 * 2**20) + "\nFinal verdict: [[A]]"
    pairs = align_outputs(*make_pairs(1))
    with JudgeServer(lambda prompt: huge) as srv:
        judge = load_judge(str(judge_yaml(tmp_path, srv.base_url, both_orders=False)))
        judge_pairs(pairs, judge, JudgmentStore(tmp_path / "j.jsonl"), "method", "reference")
    store = JudgmentStore(tmp_path / "j.jsonl")  # resumes; before: "line is 20971928 bytes, over the … limit"
    from alignbench.evaluation.store import MAX_STORED_RAW

    (rec,) = store.records.values()
    assert rec["verdict"] == "A"  # parsed from the whole reply
    assert len(rec["raw"]) == MAX_STORED_RAW and rec["raw_truncated_from_chars"] == len(huge)
