"""Preference data in the formats TRL users have: JSONL, JSON, Parquet, CSV and save_to_disk; explicit and
implicit prompts, unpaired and prompt-only rows, standard and conversational; a column mapping; and bad input
as one line naming the file, the row and the field."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset

from alignbench.errors import AlignbenchError
from alignbench.tasks.chat import Chat
from alignbench.tasks.jsonl import load_jsonl_task, read_pairs, read_prompts
from chat_fixtures import conversations, implicit

STANDARD = [{"prompt": f"Question {i}?", "chosen": " A kind "
                                                   f"answer {i}.", "rejected": f" Go away {i}."} for i in range(6)]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_every_file_type_reads_the_same_pairs(tmp_path):
    ds = Dataset.from_list(STANDARD)
    files = [write_jsonl(tmp_path / "p.jsonl", STANDARD), tmp_path / "p.json", tmp_path / "p.parquet",
             tmp_path / "p.csv", tmp_path / "disk"]
    (tmp_path / "p.json").write_text(json.dumps(STANDARD))
    ds.to_parquet(str(tmp_path / "p.parquet"))
    ds.to_csv(str(tmp_path / "p.csv"), index=False)
    ds.save_to_disk(str(tmp_path / "disk"))
    expected = read_pairs(files[0])
    assert [p.chosen for p in expected] == [r["chosen"] for r in STANDARD]
    for f in files[1:]:
        assert read_pairs(f) == expected, f


def test_conversational_explicit_and_implicit_prompts_agree_and_keep_earlier_turns(tmp_path):
    rows = conversations(9)
    Dataset.from_list(rows).to_parquet(str(tmp_path / "explicit.parquet"))
    Dataset.from_list(implicit(rows)).save_to_disk(str(tmp_path / "implicit"))
    a, b = read_pairs(tmp_path / "explicit.parquet"), read_pairs(tmp_path / "implicit")
    assert a == b and all(isinstance(p.prompt, Chat) for p in a)
    # system, user, assistant, user: every earlier turn kept
    assert [len(p.prompt.messages) for p in a[:3]] == [4, 1, 1]
    assert "Assistant: Sure, the weather it is." in a[0].prompt  # the transcript a judge reads, not template markup
    assert a[1].chosen == rows[1]["chosen"][0]["content"]


def test_implicit_prompt_of_standard_strings_is_trls_extract_prompt(tmp_path):
    trl = pytest.importorskip("trl")
    rows = [{"chosen": f"\n\nHuman: hi {i}\n\nAssistant: Hello there {i}",
             "rejected": f"\n\nHuman: hi {i}\n\nAssistant: Hey you {i}"}
            for i in range(4)]
    pairs = read_pairs(write_jsonl(tmp_path / "hh.jsonl", rows))
    for p, r in zip(pairs, rows):
        assert (p.prompt, p.chosen, p.rejected) == tuple(
            trl.extract_prompt(r)[k] for k in ("prompt", "chosen", "rejected")
        )


def test_column_mapping(tmp_path):
    rows = [{"question": r["prompt"], "response_j": r["chosen"], "response_k": r["rejected"]} for r in STANDARD]
    Dataset.from_list(rows).to_csv(str(tmp_path / "se.csv"), index=False)
    cols = {"prompt": "question", "chosen": "response_j", "rejected": "response_k"}
    assert read_pairs(tmp_path / "se.csv", cols) == read_pairs(write_jsonl(tmp_path / "p.jsonl", STANDARD))
    with pytest.raises(AlignbenchError,
                       match=r"se.csv: row 1: missing column\(s\).*columns found: question, response_j, response_k"):
        read_pairs(tmp_path / "se.csv")
    with pytest.raises(AlignbenchError, match="task.options.columns': unknown field"):
        read_pairs(tmp_path / "se.csv", {"promt": "question"})


def test_unpaired_data_trains_kto_and_pair_methods_refuse_in_one_line(tmp_path):
    rows = [{"prompt": [{"role": "user", "content": f"Q{i // 2}?"}],  # each prompt twice: one desirable, one not
             "completion": [{"role": "assistant", "content": f"A{i}{'!' * (i % 2)}"}],
             "label": bool(i % 2)} for i in range(12)]
    Dataset.from_list(rows).to_parquet(str(tmp_path / "kto.parquet"))
    task = load_jsonl_task(str(tmp_path / "kto.parquet"), n_test=2)
    assert len(task.train_unpaired) == 8 and len(task.test_prompts) == 2 and not task.test_references
    assert len(task.train_prompts) == 4  # a prompt's examples stay together, on one side of the split
    assert any("no \"dataset\" baseline" in n for n in task.meta["notes"])
    with pytest.raises(AlignbenchError,
                       match=r"kto.parquet holds unpaired \{prompt, completion, label\} examples: "
                             r"this method needs preference pairs"):
        list(task.train_pairs)

    from alignbench.methods.base import MethodContext
    from alignbench.methods.dpo import DPO
    from alignbench.methods.kto import KTO
    from alignbench.models.factory import build_policy
    from alignbench.models.policy import TinyGPT2Spec

    texts_task = load_jsonl_task(str(write_jsonl(tmp_path / "p.jsonl", STANDARD)))
    policy = build_policy(texts_task, None, TinyGPT2Spec(n_layer=1, n_embd=16, n_head=2), tokenizer_vocab=300,
                          max_new_tokens=8)
    ctx = MethodContext(task=task, sft_policy=policy, reward_fn=None, run_dir=tmp_path / "run")
    fitted = KTO({"steps": 1, "batch_size": 4}).fit(ctx)
    assert fitted is not policy
    with pytest.raises(AlignbenchError, match="needs preference pairs"):
        DPO({"steps": 1}).fit(ctx)


def test_prompt_only_test_file_without_references_has_no_dataset_baseline(tmp_path):
    pairs = write_jsonl(tmp_path / "p.jsonl", STANDARD)
    prompts = write_jsonl(tmp_path / "t.jsonl",
                          [{"prompt": [{"role": "user", "content": "Why?"}]},
                           {"prompt": [{"role": "user", "content": "How?"}]}])
    task = load_jsonl_task(str(pairs), str(prompts))
    assert task.test_references == {} and [str(p.text) for p in task.test_prompts] == ["Why?", "How?"]
    assert task.meta["notes"] and "no \"dataset\" baseline" in task.meta["notes"][0]
    write_jsonl(prompts, [{"prompt": "Why?", "reference": "Because."}, {"prompt": "How?"}])
    with pytest.raises(AlignbenchError, match="t.jsonl: prompt_id .* has no 'reference'"):
        load_jsonl_task(str(pairs), str(prompts))
    prompts_only, _ = read_prompts(write_jsonl(tmp_path / "t2.jsonl", [{"prompt": "a"}, {"prompt": "b"}]))
    assert len(prompts_only) == 2


BAD = {
    "missing column names the formats": ([{"question": "q", "answer": "a"}],
                                         r"bad.jsonl:1: missing column\(s\) for \{prompt, chosen, rejected\} or "
                                         r"\{chosen, rejected\}.*accepted formats"),
    "missing field in a later row": ([STANDARD[0], {"prompt": "p", "chosen": "a"}],
                                     "bad.jsonl:2: missing field 'rejected'"),
    "no final assistant turn": ([{"prompt": [{"role": "user", "content": "q"}],
                                  "chosen": [{"role": "user", "content": "a"}],
                                  "rejected": [{"role": "assistant", "content": "b"}]}],
                                "bad.jsonl:1: field 'chosen' has no final assistant turn"),
    "implicit conversation without a reply": ([{"chosen": [{"role": "user", "content": "q"}],
                                                "rejected": [{"role": "user", "content": "q"},
                                                             {"role": "assistant", "content": "b"}]}],
                                              "bad.jsonl:1: field 'chosen' has no final "
                                              "assistant turn after the shared prompt"),
    "mixed standard and conversational": ([STANDARD[0], conversations(2)[1]],
                                          r"bad.jsonl:2: mixed formats in one file: this row is conversational "
                                          r"\(messages\) but the first row is standard"),
    "mixed row types": ([STANDARD[0], {"prompt": "p", "chosen": "a", "rejected": "b", "completion": "c", "label": True},
                         {"chosen": "q a", "rejected": "q b"}],
                        "bad.jsonl:3: missing field 'prompt'"),
    "unpaired then preference": ([{"prompt": "p", "completion": "c", "label": True}, STANDARD[1]],
                                 "bad.jsonl:2: missing field 'completion' \\(this file holds unpaired rows"),
    "bad role": ([{"prompt": [{"role": "robot", "content": "q"}], "chosen": [{"role": "assistant", "content": "a"}],
                   "rejected": [{"role": "assistant", "content": "b"}]}],
                 "bad.jsonl:1: field 'prompt' message 1 has role 'robot'"),
    "duplicate prompt_id": ([{**STANDARD[0], "prompt_id": "x"}, {**STANDARD[1], "prompt_id": "x"}],
                            "bad.jsonl:2: duplicate prompt_id 'x'"),
    "bad label": ([{"prompt": "p", "completion": "c", "label": "maybe"}],
                  "bad.jsonl:1: field 'label' must be true/false"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_rows_are_one_line_naming_file_row_and_field(tmp_path, case):
    rows, message = BAD[case]
    with pytest.raises(AlignbenchError, match=message) as e:
        load_jsonl_task(str(write_jsonl(tmp_path / "bad.jsonl", rows)))
    assert "\n" not in str(e.value)


def test_empty_and_unreadable_files(tmp_path):
    (tmp_path / "e.jsonl").write_text("")
    Dataset.from_dict({"prompt": [], "chosen": [], "rejected": []}).to_parquet(str(tmp_path / "e.parquet"))
    for name in ("e.jsonl", "e.parquet"):
        with pytest.raises(AlignbenchError, match=f"{name}: .*empty"):
            read_pairs(tmp_path / name)
    (tmp_path / "x.json").write_text('[{"prompt": "a", "chosen": "b", "rejected": "c"}, {"prompt": '
                                     '["not", "messages"], "chosen": 1}]')
    with pytest.raises(AlignbenchError, match=r"x.json: (cannot read as json|row 2)"):
        read_pairs(tmp_path / "x.json")
    with pytest.raises(AlignbenchError, match=r"p.txt: unknown data file type \(accepted: .jsonl"):
        (tmp_path / "p.txt").write_text("x")
        read_pairs(tmp_path / "p.txt")
