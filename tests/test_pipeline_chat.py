"""Your model, your data, end to end. The slow test: conversational preference data (a save_to_disk directory,
implicit prompt as HH stores it) and Parquet test prompts, a chat-template Qwen2 used as π_sft as given
(sft.steps: 0), and a Hugging Face sequence-classification reward model with its own tokenizer and template as
the run's training reward (reward_model.path) and as the rm:<dir> evaluator — every quickstart method. The fast
ones: unpaired data (KTO) and prompt-only data (the sampling methods) through whole runs."""

from __future__ import annotations

import json

import pytest

from alignbench.config import builtin_config_path, validate_config
from alignbench.evaluation.outputs import load_outputs
from alignbench.pipeline import run_comparison
from alignbench.safe_yaml import load_yaml_file
from chat_fixtures import write_chat_data, write_chat_policy, write_hf_reward_model

CONTROL = ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "<|user|>", "<|assistant|>", "</s>")


def quickstart_methods_small() -> dict:
    """Every method of the quickstart, sized for a 2-core CPU run of a few minutes."""
    methods = load_yaml_file(builtin_config_path("quickstart"), "config")["methods"]
    small = {}
    for label, hp in methods.items():
        hp = dict(hp or {})
        for key, value in {"steps": 4, "steps_per_round": 2, "rounds": 2, "iterations": 2, "rollout_batch": 8,
                           "minibatch": 4,
                           "ppo_epochs": 1, "n": 4, "num_accepted": 2, "prompts_per_round": 8, "batch_size": 8}.items():
            if key in hp:
                hp[key] = value
        if "group_size" in hp:
            hp["group_size"] = 2
        if label in ("brain", "rso", "expert-iteration", "arm", "arm-pl", "exo", "dpo-rw", "pro", "rrhf", "dpo-pl",
                     "dpo-sft"):
            hp["max_prompts"] = 8
        small[label] = hp
    return small


def chat_config(root, paths, policy, rm, methods):
    return validate_config({
        "name": "chat",
        "task": {"name": "jsonl",
                 "options": {"pairs_path": str(paths["disk"]), "test_prompts_path": str(paths["prompts"])}},
        "policy": {"path": str(policy), "max_new_tokens": 12, "max_prompt_tokens": 128},
        "sft": {"steps": 0},
        "reward_model": {"path": str(rm)},
        "methods": methods,
        "evaluation": {"evaluators": [f"rm:{rm}"], "bootstrap": 100},
        "runs_dir": str(root / "runs"), "leaderboard_dir": str(root / "lb"),
    })


@pytest.mark.slow
def test_chat_model_chat_data_hf_reward_model_every_method_first_time(tmp_path):
    # 32 prompts: with 8, a sampled KL's own SE is too noisy to hold −3 SE
    paths = write_chat_data(tmp_path / "data", n_test=32)
    policy, rm = write_chat_policy(tmp_path / "policy"), write_hf_reward_model(tmp_path / "rm")
    methods = quickstart_methods_small()
    rows = run_comparison(chat_config(tmp_path, paths, policy, rm, methods), quiet=True)
    assert {r["method"] for r in rows} == set(methods)
    assert all(r["judge"] == f"rm:{rm}" for r in rows)
    for r in rows:
        if r["kl_kind"] == "sampled":
            assert r["kl_to_sft"] >= -3 * r["kl_to_sft_se"] - 1e-12, r
    sft = [r for r in rows if r["method"] == "sft"]
    assert sft and all(r["kl_to_sft"] == 0.0 for r in sft)
    run = tmp_path / "runs" / "chat"
    for label in methods:
        out = load_outputs(run / "methods" / label / "seed-0" / "outputs.jsonl")
        assert len(out) == 32 and all(isinstance(o.extra.get("messages"), list) for o in out)
        for o in out:
            assert not any(c in o.output for c in CONTROL), (label, o.output)
        alpaca = json.loads((run / "methods" / label / "seed-0" / "alpaca_eval" / "model_outputs.json").read_text())
        assert [a["output"] for a in alpaca] == [o.output for o in out]


def test_unpaired_data_run_kto_trains_on_it_and_a_pair_method_refuses_in_one_line(tmp_path):
    """KTO's own {prompt, completion, label} input through a whole run (no "dataset" baseline: the run says so);
    DPO in the same run stops with a one-line reason naming it."""
    from datasets import Dataset

    from alignbench.errors import AlignbenchError
    from chat_fixtures import conversations

    rows = [
        {"prompt": r["prompt"], "completion": r[key], "label": key == "chosen"}
        for r in conversations(16)
        for key in ("chosen", "rejected")
    ]
    Dataset.from_list(rows).to_parquet(str(tmp_path / "kto.parquet"))
    policy, rm = write_chat_policy(tmp_path / "policy"), write_hf_reward_model(tmp_path / "rm")
    paths = {"disk": tmp_path / "kto.parquet", "prompts": None}
    methods = {"sft": {}, "kto": {"steps": 2, "batch_size": 8}, "best-of-n": {"n": 2}}
    cfg = chat_config(tmp_path, paths, policy, rm, methods).model_dump()
    cfg["task"]["options"] = {"pairs_path": str(paths["disk"]), "n_test": 4}
    cfg["sft"] = {"steps": 2, "batch_size": 4}  # SFT on the desirable completions
    rows = run_comparison(validate_config(cfg), quiet=True)
    # no dataset baseline
    assert {r["method"] for r in rows} == {"kto", "best-of-n"} and {r["baseline"] for r in rows} == {"sft"}
    assert 'no "dataset" baseline' in (tmp_path / "runs" / "chat" / "run.log").read_text()
    cfg["methods"] = {"sft": {}, "dpo": {"steps": 1}}
    cfg["runs_dir"] = str(tmp_path / "runs2")
    with pytest.raises(AlignbenchError,
                       match=r"^method dpo: .*kto.parquet holds unpaired \{prompt, completion, label\} examples: "
                                              "this method needs preference pairs") as e:
        run_comparison(validate_config(cfg), quiet=True)
    assert "\n" not in str(e.value)


def test_prompt_only_training_data_feeds_the_sampling_methods(tmp_path):
    """Prompts only {prompt} (no responses): with the given model as π_sft and the user's reward model, the methods
    that sample train on them; the test file has no references, so there is no "dataset" baseline."""
    from datasets import Dataset

    from alignbench.errors import AlignbenchError
    from chat_fixtures import conversations

    Dataset.from_list([{"prompt": r["prompt"]} for r in conversations(16)]).save_to_disk(str(tmp_path / "prompts_disk"))
    policy, rm = write_chat_policy(tmp_path / "policy"), write_hf_reward_model(tmp_path / "rm")
    methods = {"sft": {}, "best-of-n": {"n": 2},
               "raft": {"rounds": 1, "steps_per_round": 2, "batch_size": 4, "n": 2, "prompts_per_round": 4}}
    cfg = chat_config(tmp_path, {"disk": tmp_path / "prompts_disk", "prompts": None}, policy, rm, methods).model_dump()
    cfg["task"]["options"] = {"pairs_path": str(tmp_path / "prompts_disk"), "n_test": 4}
    rows = run_comparison(validate_config(cfg), quiet=True)
    assert {r["method"] for r in rows} == {"best-of-n", "raft"} and {r["baseline"] for r in rows} == {"sft"}
    cfg.update(methods={"sft": {}, "orpo": {"steps": 1}}, runs_dir=str(tmp_path / "runs2"))
    with pytest.raises(AlignbenchError,
                       match=r"^method orpo: .*prompts_disk holds prompts only \{prompt\}: "
                             r"this method needs preference pairs"):
        run_comparison(validate_config(cfg), quiet=True)
    cfg.update(sft={"steps": 3}, runs_dir=str(tmp_path / "runs3"))
    with pytest.raises(AlignbenchError, match="no responses to train SFT on .*set sft.steps: 0"):
        run_comparison(validate_config(cfg), quiet=True)
