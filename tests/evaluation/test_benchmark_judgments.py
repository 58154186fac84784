"""Arena-Hard-Auto and FastChat MT-Bench judgment files: read as existing verdicts and summarised as the
benchmarks' own show_result.py do, checked against independent reimplementations on constructed files."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from alignbench.cli import main
from alignbench.errors import AlignbenchError
from alignbench.evaluation.arena_hard import rows_from_arena_hard
from alignbench.evaluation.mtbench_results import rows_from_mt_bench

ARENA_LABELS = ["A>>B", "A>B", "A=B", "B>A", "B>>A"]


def _write_jsonl(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _arena_files(tmp_path, rng, n=120):
    """Three models' judgment files against gpt-4-0314; model k leans toward the model by its own amount."""
    files = []
    for k, lean in enumerate([(0.4, 0.2, 0.1, 0.2, 0.1), (0.05, 0.15, 0.2, 0.35, 0.25), (0.1, 0.3, 0.3, 0.2, 0.1)]):
        recs = []
        for q in range(n):
            g1, g2 = (str(rng.choice(ARENA_LABELS, p=lean)), str(rng.choice(ARENA_LABELS, p=lean[::-1])))
            recs.append({"question_id": f"q{q}", "model": f"model-{k}", "judge": "gpt-4-1106-preview",
                         "games": [{"user_prompt": "...", "judgment": "...", "score": g1},
                                   {"user_prompt": "...", "judgment": "...", "score": None if q == 7 else g2}]})
        files.append(_write_jsonl(tmp_path / "model_judgment" / "gpt-4-1106-preview" / f"model-{k}.jsonl", recs))
    return files


def _reference_arena_score(path) -> float:
    """Independent: with every battle against the baseline, the Bradley–Terry MLE's predicted win rate is the
    model's weighted share (strong verdicts ×3, a tie half to each side) of its battles."""
    wins = total = 0.0
    for line in path.read_text().splitlines():
        g1, g2 = (g["score"] for g in json.loads(line)["games"])
        for label, model_letter in ((g1, "B"), (g2, "A")):  # game 1: the model is B; game 2: it is A
            if label is None:
                continue
            weight = 3 if ">>" in label else 1
            total += weight
            wins += weight * (0.5 if label == "A=B" else float(label[0] == model_letter))
    return 100 * wins / total


def test_arena_hard_score_equals_an_independent_reimplementation(tmp_path):
    rng = np.random.default_rng(0)
    files = _arena_files(tmp_path, rng)
    rows = {r["method"]: r for r in rows_from_arena_hard(files, n_bootstrap=200, num_rounds=20)}
    for path in files:
        row = rows[path.stem]
        assert abs(row["arena_hard_score"] - _reference_arena_score(path)) <= 1e-6
        assert row["arena_hard_ci_low"] < row["arena_hard_score"] < row["arena_hard_ci_high"]
        assert row["baseline"] == "gpt-4-0314" and row["evaluator"] == "arena-hard:gpt-4-1106-preview"
        assert row["consistency"] is not None and row["ci_low"] < row["win_rate"] < row["ci_high"]
        assert row["n_unparsed_verdicts"] == 1
    # the alignbench win rate (both orders combined, strong = weak) is another number than arena-hard's score
    assert abs(rows["model-0"]["win_rate"] - rows["model-0"]["arena_hard_score"]) > 1


def test_arena_hard_bad_input_is_one_line_naming_file_and_line(tmp_path, capsys):
    rng = np.random.default_rng(1)
    good = _arena_files(tmp_path, rng, n=5)[0]
    lines = good.read_text().splitlines()
    bad_label = tmp_path / "bad_label.jsonl"
    bad_label.write_text("\n".join(lines[:2] + [lines[2].replace('"score": "', '"score": "A<')] + lines[3:]) + "\n")
    with pytest.raises(AlignbenchError, match=r"bad_label.jsonl:3: game 1: verdict 'A<"):
        rows_from_arena_hard([bad_label])
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text("\n".join(lines[:4]) + "\n" + lines[4][: len(lines[4]) // 2])
    with pytest.raises(AlignbenchError, match=r"truncated.jsonl:5: malformed JSON"):
        rows_from_arena_hard([truncated])
    mt = _write_jsonl(tmp_path / "gpt-4_single.jsonl", [{"question_id": 81, "model": "m", "score": 5, "turn": 1}])
    assert main(["leaderboard", "--arena-hard", str(mt), "--out", str(tmp_path / "lb.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "gpt-4_single.jsonl:1" in err and "use --mt-bench" in err


def _single_records(rng):
    recs = []
    for model, mean in (("vicuna", 6.0), ("llama", 4.5)):
        for q in range(81, 101):
            for turn in (1, 2):
                score = int(np.clip(round(rng.normal(mean - turn + 1, 2)), 1, 10))
                recs.append({"question_id": q, "model": model, "judge": ["gpt-4", "single-v1"], "score":
                             -1 if (q, turn) in ((85, 2), (90, 1)) and model == "llama" else score, "turn": turn})
    return recs


def _pair_records(rng):
    recs = []
    winners = ["model_1", "model_2", "tie"]
    for other in ("vicuna", "llama"):
        for q in range(81, 101):
            for turn in (1, 2):
                m1, m2 = ("gpt-3.5-turbo", other) if q % 2 else (other, "gpt-3.5-turbo")
                g1, g2 = rng.choice(winners), rng.choice(winners)
                if (q, turn) == (83, 1):
                    g2 = "error"
                recs.append({"question_id": q, "model_1": m1, "model_2": m2, "g1_winner": str(g1), "g2_winner": str(g2),
                             "judge": ["gpt-4", "pair-v2"], "turn": turn})
    recs.append({"question_id": 81, "model_1": "vicuna", "model_2": "llama", "g1_winner": "model_1",
                 "g2_winner": "model_1", "judge": ["gpt-4", "pair-v2"], "turn": 1})  # no baseline: left out
    return recs


def _reference_single(recs) -> dict:
    """FastChat's display_result_single, independently: pandas means with −1 removed."""
    df = pd.DataFrame(recs)
    df = df[df["score"] != -1]
    return {
        m: (g["score"].mean(), g[g.turn == 1]["score"].mean(), g[g.turn == 2]["score"].mean())
        for m, g in df.groupby("model")
    }


def _reference_pair(recs, baseline) -> dict:
    """FastChat's display_result_pairwise, independently: counts per model, win_rate_adjusted."""
    tally = defaultdict(lambda: [0, 0, 0])  # win, loss, tie
    for r in recs:
        if "error" in (r["g1_winner"], r["g2_winner"]) or baseline not in (r["model_1"], r["model_2"]):
            continue
        if r["g1_winner"] == "tie" or r["g1_winner"] != r["g2_winner"]:
            tally[r["model_1"]][2] += 1
            tally[r["model_2"]][2] += 1
        else:
            w = r[r["g1_winner"]]
            loser = r["model_2"] if w == r["model_1"] else r["model_1"]
            tally[w][0] += 1
            tally[loser][1] += 1
    return {m: 100 * (w + 0.5 * t) / (w + lo + t) for m, (w, lo, t) in tally.items() if m != baseline}


def test_mt_bench_single_and_pair_equal_fastchats_show_result(tmp_path):
    rng = np.random.default_rng(2)
    single = _write_jsonl(tmp_path / "gpt-4_single.jsonl", _single_records(rng))
    pair = _write_jsonl(tmp_path / "gpt-4_pair.jsonl", _pair_records(rng))
    out = tmp_path / "lb.csv"
    assert main(["leaderboard", "--mt-bench", str(single), str(pair), "--out", str(out), "--quiet", "--bootstrap",
                 "200"]) == 0
    rows = pd.read_csv(out)
    assert (
        "win_rate_adjusted" in out.with_suffix(".md").read_text()
        and "win_rate_adjusted" in out.with_suffix(".html").read_text()
    )
    from alignbench.evaluation.evaluate import load_comparisons

    kept = load_comparisons(out.with_suffix(".comparisons.jsonl"))  # the pairwise rows' per-question outcomes
    assert sorted(c.method for c in kept) == ["llama", "vicuna"] and all(len(c.outcome) == 40 for c in kept)
    ref_single = _reference_single(_single_records(np.random.default_rng(2)))
    for model, (avg, t1, t2) in ref_single.items():
        r = rows[(rows.method == model) & (rows.evaluator == "mt-bench-single:gpt-4")].iloc[0]
        assert (
            abs(r.mean_score - avg) <= 1e-9
            and abs(r.mean_score_turn_1 - t1) <= 1e-9
            and abs(r.mean_score_turn_2 - t2) <= 1e-9
        )
    assert rows[(rows.method == "llama") & (rows.evaluator == "mt-bench-single:gpt-4")].iloc[0].n_parse_failures == 2
    rng = np.random.default_rng(2)
    _single_records(rng)
    ref_pair = _reference_pair(_pair_records(rng), "gpt-3.5-turbo")
    pair_rows = rows[rows.evaluator == "mt-bench-pair:gpt-4"]
    assert sorted(pair_rows.method) == sorted(ref_pair)
    for _, r in pair_rows.iterrows():
        assert abs(r.win_rate - ref_pair[r.method]) <= 1e-9 and r.baseline == "gpt-3.5-turbo"


def test_mt_bench_bad_input_names_file_and_line(tmp_path):
    rng = np.random.default_rng(3)
    recs = _single_records(rng)
    recs[4]["score"] = 11
    bad = _write_jsonl(tmp_path / "gpt-4_single.jsonl", recs)
    with pytest.raises(AlignbenchError, match=r"gpt-4_single.jsonl:5: 'score' must be a rating"):
        rows_from_mt_bench([bad])
    arena = _write_jsonl(tmp_path / "arena.jsonl", [{"question_id": "q", "model": "m", "games": []}])
    with pytest.raises(AlignbenchError, match=r"arena.jsonl:1: .*use --arena-hard"):
        rows_from_mt_bench([arena])
    pairs = _pair_records(rng)
    pairs[2]["g1_winner"] = "model_3"
    with pytest.raises(AlignbenchError, match=r"pair.jsonl:3: 'g1_winner' must be one of"):
        rows_from_mt_bench([_write_jsonl(tmp_path / "pair.jsonl", pairs)])


def test_arena_hard_answers_are_read_as_outputs_in_both_layouts(tmp_path):
    """v0.1's {question_id, choices: [{turns: [{content}]}]} with ../question.jsonl, and the current
    {uid, model, messages}: the same questions and answers, aligned; a missing question is one line."""
    from alignbench.evaluation.outputs import align_outputs, detect_format, load_outputs

    bench = tmp_path / "data" / "arena-hard-v0.1"
    _write_jsonl(bench / "question.jsonl", [{"question_id": f"q{i}", "category": "arena-hard-v0.1",
                                             "turns": [{"content": f"question {i}"}]} for i in range(4)])
    old = _write_jsonl(bench / "model_answer" / "old-model.jsonl", [
        {"question_id": f"q{i}", "answer_id": "x", "model_id": "old-model",
         "choices": [{"index": 0, "turns": [{"content": f"old answer {i}", "token_len": 3}]}]} for i in range(4)])
    new = _write_jsonl(bench / "model_answer" / "gpt-4-0314.jsonl", [
        {"uid": f"q{i}", "ans_id": "y", "model": "gpt-4-0314",
         "messages": [{"role": "user", "content": f"question {i}"},
                      {"role": "assistant", "content": {"answer": f"ref {i}"}}]}
        for i in range(4)])
    assert detect_format(old) == detect_format(new) == "arena_hard"
    a, b = load_outputs(old), load_outputs(new)
    pairs = align_outputs(a, b, str(old), str(new))
    assert [(m.prompt, m.output, r.output, m.generator) for m, r in pairs][1] == (
        "question 1",
        "old answer 1",
        "ref 1",
        "old-model",
    )
    short = _write_jsonl(
        bench / "model_answer" / "short.jsonl",
        [
            {
                "uid": f"q{i}",
                "model": "short",
                "messages": [
                    {"role": "user", "content": f"question {i}"},
                    {"role": "assistant", "content": {"answer": "a"}},
                ],
            }
            for i in range(3)
        ],
    )
    with pytest.raises(AlignbenchError, match=r"gpt-4-0314.jsonl: prompt_id 'q3' has no output in .*short.jsonl"):
        align_outputs(load_outputs(short), b, str(short), str(new))
    broken = _write_jsonl(bench / "model_answer" / "broken.jsonl", [
        {"uid": "q0", "model": "broken", "messages": [{"role": "user", "content": "question 0"}]}])
    with pytest.raises(AlignbenchError, match=r"broken.jsonl:1: no assistant message"):
        load_outputs(broken)


def test_arena_hard_judge_reads_the_users_config_and_parses_its_labels(tmp_path):
    """A judge YAML with arena_hard_config: the system prompt and template come from the user's arena-hard
    config (stand-in text here), both games are played, labels parsed; a conflicting reply is no verdict."""
    from alignbench.evaluation.judge_only import judge_outputs
    from alignbench.evaluation.local_server import JudgeServer
    from alignbench.evaluation.verdicts import parse_verdict

    (tmp_path / "cfg.yaml").write_text(json.dumps({
        "judge_model": "x", "system_prompt": "STAND-IN SYSTEM PROMPT",
        "prompt_template": ["<|Q|>\n{question_1}\n<|A|>\n{answer_1}\n<|B|>\n{answer_2}\n<|END|>"]}))
    judge = tmp_path / "ah.yaml"
    judge.write_text("model: m\nbase_url: http://127.0.0.1:1/v1\narena_hard_config: cfg.yaml\nparser: arena-hard\n")
    for name, outs in (("mine", ["long answer here", "x"]), ("ref", ["short", "a much longer reference"])):
        _write_jsonl(tmp_path / f"{name}.jsonl",
                     [{"prompt_id": str(i), "prompt": f"q{i}", "output": o, "generator": name}
                                                for i, o in enumerate(outs)])

    def script(prompt: str) -> str:
        a = prompt.split("<|A|>\n")[1].split("\n<|B|>")[0]
        b = prompt.split("<|B|>\n")[1].split("\n<|END|>")[0]
        return "Thinking. My final verdict: [[A>>B]]" if len(a) > len(b) else "Thinking. [[B>A]]"

    with JudgeServer(script) as srv:
        rows = judge_outputs([tmp_path / "mine.jsonl"], tmp_path / "ref.jsonl", str(judge), tmp_path / "out",
                             n_bootstrap=100, quiet=True, base_url=srv.base_url)
        assert srv.requests == 4 and set(srv.system_messages) == {"STAND-IN SYSTEM PROMPT"}
    assert rows[0]["win_rate"] == 50.0 and rows[0]["consistency"] == 100.0
    assert parse_verdict("[[A>B]] ... on reflection [[B>A]]", "arena-hard") is None
    assert parse_verdict("final: [[A=B]]", "arena-hard") == "tie"
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: m\nbase_url: http://127.0.0.1:1/v1\narena_hard_config: missing.yaml\nparser: arena-hard\n")
    with pytest.raises(AlignbenchError, match=r"bad.yaml: setting 'arena_hard_config': .*missing.yaml does not exist"):
        judge_outputs([tmp_path / "mine.jsonl"], tmp_path / "ref.jsonl", str(bad), tmp_path / "out2", quiet=True)
