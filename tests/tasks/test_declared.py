"""Tasks declared as data (alignbench/tasks/declared.py): a YAML file names the files, fields, split and version; a
built-in data set is alignbench/tasks/<name>.yaml and a user's YAML path is a task too."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

import alignbench
from alignbench.config import task_name, validate_config
from alignbench.errors import AlignbenchError
from alignbench.registry import TASKS
from alignbench.tasks import load_task

# sha256 (first 16 hex digits) of hh-harmless's TaskData as the hand-written loader built it before the task became
# a YAML (commit e2fda72: tasks/hh.py's load_hh_harmless), over every field but the file's absolute path.
HH_BEFORE = {(("n_test", 256), ("n_eval", 64)): "bc36bd30e5d3fafe", (): "ea9d249091c543e2",
             (("n_test", 100),): "8946ef88ad92db5d"}


def _digest(task) -> str:
    data = {k: v for k, v in dataclasses.asdict(task).items() if k != "gold_reward"}
    data["meta"] = {k: v for k, v in task.meta.items() if k not in ("source", "task_version", "task_file")}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


@pytest.mark.parametrize("options, seed", [((("n_test", 256), ("n_eval", 64)), 0), ((), 0), ((("n_test", 100),), 3)])
def test_hh_harmless_as_yaml_loads_the_same_prompts_pairs_and_order_as_before(options, seed):
    """Broken variant: the YAML's id_prefix 'hh' (no dash), or a split that does not sort each side back to file
    order: the prompts' ids or order change and the digest with them."""
    task = load_task("hh-harmless", dict(options), seed=seed)
    assert _digest(task) == HH_BEFORE[options]
    assert task.meta["task_version"] == "1"


def _user_task(tmp_path, version=3, **extra):
    rows = [{"question": f"Human: tell me about topic {i}?\n\nAssistant:", "chosen": f" Topic {i} is a fine one.",
             "rejected": " No."} for i in range(24)]
    (tmp_path / "prefs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {"name": "my-prefs", "version": version, "files": {"pairs": "prefs.jsonl"}, "fields": {"prompt": "question"},
            "split": {"n_test": 6, "n_eval": 4}, **extra}
    path = tmp_path / "my-prefs.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


def test_a_yaml_and_a_jsonl_file_are_a_new_task_trained_in_a_tiny_run(tmp_path):
    """One YAML + one JSONL file, named by path in task.name: the run trains on it, publishes under the YAML's
    name and records its version in the manifest. Broken variant: the manifest line left out of prepare_shared,
    or n_eval not applied to a trl-format task (6 prompts generated on instead of 4)."""
    path = _user_task(tmp_path)
    config = {
        "name": "yaml-task", "task": {"name": str(path)},
        "policy": {"n_layer": 1, "n_embd": 32, "n_head": 2, "max_new_tokens": 8},
        "sft": {"steps": 5, "batch_size": 8}, "reward_model": {"backbone": "policy", "steps": 5, "batch_size": 8},
        "methods": {"sft": {}, "dpo": {"steps": 3, "batch_size": 4}},
        "evaluation": {"baselines": ["dataset"], "evaluators": ["reward-model"], "bootstrap": 100},
    }
    cfg = validate_config(config)
    assert task_name(cfg) == "my-prefs"
    rows = alignbench.run(cfg, run_dir=tmp_path / "run", leaderboard_dir=tmp_path / "lb")
    assert {r["method"] for r in rows} == {"sft", "dpo"} and {r["n_prompts"] for r in rows} == {4}
    assert (tmp_path / "lb" / "my-prefs.csv").exists()
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["task"] == {"name": "my-prefs", "version": "3", "file": str(path)}


@pytest.mark.parametrize("change, message", [
    ({"version": None}, r"my-prefs.yaml: setting 'version'"),
    ({"files": {"pairs": "nowhere.jsonl"}}, r"nowhere.jsonl: file not found"),
    ({"split": {"n_test": 0}}, r"my-prefs.yaml: setting 'split.n_test'"),
    ({"format": "parquet"}, r"my-prefs.yaml: setting 'format'"),
    ({"colums": {}}, r"my-prefs.yaml: setting 'colums'"),
    ({"format": "transcripts"}, r"format transcripts reads only files.pairs and the fields chosen, rejected"),
])
def test_a_bad_task_yaml_is_one_line_naming_the_file_and_setting(tmp_path, change, message):
    path = _user_task(tmp_path)
    spec = {**json.loads(path.read_text()), **change}
    spec = {k: v for k, v in spec.items() if v is not None}
    path.write_text(json.dumps(spec))
    with pytest.raises(AlignbenchError, match=message) as e:
        load_task(str(path), {}, seed=0)
    assert "\n" not in str(e.value)


def test_unknown_tasks_and_options_fail_at_config_time_naming_the_setting(tmp_path):
    """Broken variant: the old fall-back that let unknown options through config validation (checked only when
    the task loaded, after the run directory existed)."""
    with pytest.raises(AlignbenchError,
                       match=r"setting 'task.name': unknown task 'hh-harmles' \(known: oracle, jsonl, hh-harmless"):
        validate_config({"task": {"name": "hh-harmles"}, "methods": {"sft": {}}})
    with pytest.raises(AlignbenchError, match=r"setting 'task.name': task file .*missing.yaml not found"):
        validate_config({"task": {"name": str(tmp_path / "missing.yaml")}, "methods": {"sft": {}}})
    with pytest.raises(AlignbenchError,
                       match=r"setting 'task.options': unknown option\(s\) n_tset for task hh-harmless "
                                              r"\(known: max_pairs, n_eval, n_test, path, seed\)"):
        validate_config({"task": {"name": "hh-harmless", "options": {"n_tset": 3}}, "methods": {"sft": {}}})
    with pytest.raises(AlignbenchError, match=r"setting 'task.options.n_eval'"):
        validate_config({"task": {"name": str(_user_task(tmp_path)), "options": {"n_eval": "four"}},
                         "methods": {"sft": {}}})


def test_a_data_set_is_one_yaml_file_in_the_package():
    """The registered tasks include every YAML in alignbench/tasks/ under its file's name, and each names itself so."""
    for name, path in TASKS.data_files().items():
        assert name in TASKS.names() and TASKS.get(name).spec.name == name, path


def test_a_users_yaml_is_read_again_after_it_changes(tmp_path):
    """Broken variant: the registry caching a YAML path like a built-in name (a notebook's edit would be ignored)."""
    path = _user_task(tmp_path, version=1)
    assert load_task(str(path), {}, seed=0).meta["task_version"] == "1"
    _user_task(tmp_path, version=2)
    assert load_task(str(path), {}, seed=0).meta["task_version"] == "2"
