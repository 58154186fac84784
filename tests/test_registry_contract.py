"""The contract of everything registered (alignbench/registry.py): adding a built-in method, evaluator, task or
reward-model kind is one table line plus its code, and these tests then say what else it owes — an oracle case,
a hand-value test of its loss, documented parameters and a README row (methods); a well-formed Comparison
(evaluators); TaskData that loads (tasks); a kind that names itself (reward kinds). No name list is kept here:
every parametrisation comes from the registry."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import pkgutil
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from alignbench.config import builtin_config_path
from alignbench.evaluation.evaluators import Comparison, Evaluator, EvaluatorSources
from alignbench.evaluation.outputs import OutputRecord
from alignbench.evaluation.simulated_judge import simulated_judge_for_task
from alignbench.methods.base import Method
from alignbench.models.reward import RewardModelBase
from alignbench.registry import ALL, EVALUATORS, METHODS, REWARD_KINDS, TASKS, resolve
from alignbench.safe_yaml import load_yaml_file
from alignbench.tasks import load_task
from alignbench.tasks.base import TaskData
from alignbench.tasks.oracle import OracleSpec, load_oracle, response_text
from alignbench.training import losses

TESTS = Path(__file__).parent
ROOT = TESTS.parent
HAND_VALUE_TESTS = [TESTS / "training" / "test_losses.py", TESTS / "training" / "test_losses_hand_values.py"]


def _test_module(relative: str):
    """A test file of another folder, by path (the folders are not packages)."""
    path = TESTS / relative
    spec = importlib.util.spec_from_file_location(f"contract_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_oracle, _normalisation = (
    _test_module("methods/test_methods_oracle.py"),
    _test_module("methods/test_length_normalisation.py"),
)
CASES, CHECKS = _oracle.CASES, _oracle.CHECKS
NORMALISATION, NOT_TRAINED = _normalisation.NORMALISATION, _normalisation.NOT_TRAINED
TRAINS_NOTHING = {"sft": "π_sft itself", "best-of-n": "reranks π_sft's samples"}
LOSS_FUNCTIONS = {
    name
    for name, fn in vars(losses).items()
    if inspect.isfunction(fn) and fn.__module__ == losses.__name__ and not name.startswith("_")
}


# --- the tables themselves --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, name", [(k, n) for k, r in ALL.items() for n in r.builtins])
def test_every_table_line_imports_and_is_of_its_kind(kind, name):
    """Broken variant: a misspelt class in a table line (``alignbench.methods.dpo:DPo``), or a method whose ``name``
    differs from its table key — each fails here, and ``register`` refuses the second at import."""
    registry = ALL[kind]
    obj = registry.get(name)
    assert obj is resolve(registry.builtins[name])
    if registry is METHODS:
        assert obj.name == name
    if registry is REWARD_KINDS:
        assert obj.kind == name and callable(getattr(obj, "load", None))


def test_every_built_in_adapter_module_is_in_the_table():
    """Broken variant: a new methods/<name>.py decorated @register without its line in registry.METHODS — it would
    never be imported; importing it fails, and this test imports every module of alignbench.methods."""
    package = importlib.import_module("alignbench.methods")
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"alignbench.methods.{info.name}")
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, Method)
                and obj.__module__ == module.__name__
                and obj.__dict__.get("name")
            ):
                assert METHODS.builtins.get(obj.name) == f"{obj.__module__}:{obj.__qualname__}", obj


def test_an_unknown_name_is_one_line_naming_the_setting_and_the_known_names():
    for registry in ALL.values():
        with pytest.raises(Exception) as e:
            registry.get("no-such-name", setting="here.there")
        message = str(e.value)
        assert "\n" not in message and "setting 'here.there'" in message and registry.names()[0] in message


# --- methods ------------------------------------------------------------------------------------------------------

def test_every_method_has_an_oracle_case_and_a_length_normalisation_entry():
    """``set(CASES) == registered − {sft}``. Broken variant: a method added to the table with no case in
    tests/methods/test_methods_oracle.py (or its case left after the method is gone)."""
    assert set(CASES) == set(METHODS.names()) - {"sft"} == set(CHECKS)
    assert set(NORMALISATION) | set(NOT_TRAINED) == set(METHODS.names())


def _loss_functions_used(module) -> set[str]:
    """The functions of alignbench.training.losses that a method's module names, or, where it names none, the ones
    named by the alignbench modules it imports from (PPO's loop in training/ppo.py, online DPO's dpo module)."""
    source = inspect.getsource(module)
    used = {name for name in LOSS_FUNCTIONS if re.search(rf"\b{name}\b", source)}
    if used:
        return used
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level and node.module and node.module.split(".")[-1] not in (
                "base", "params", "registry", "_offline", "sampling"):
            imported = importlib.import_module("." * node.level + node.module, module.__package__)
            used |= {name for name in LOSS_FUNCTIONS if re.search(rf"\b{name}\b", inspect.getsource(imported))}
    return used


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_trains_on_losses_that_have_a_hand_value_test(name):
    """Each loss function a method trains on is named in tests/training/test_losses.py or
    tests/training/test_losses_hand_values.py. Broken variant: a new method whose loss ``simpo_loss`` is added to
    training/losses.py with no hand-worked test, or a method that trains on nothing from losses.py without being listed
    in TRAINS_NOTHING."""
    module = inspect.getmodule(METHODS.get(name))
    used = _loss_functions_used(module)
    if name in TRAINS_NOTHING:
        return
    assert used, f"{name}: trains on no function of alignbench.training.losses (add one, with a hand-value test)"
    tested = "\n".join(p.read_text() for p in HAND_VALUE_TESTS)
    untested = sorted(fn for fn in used if not re.search(rf"\b{fn}\b", tested))
    assert not untested, f"{name}: no hand-value test names {', '.join(untested)}"


def test_the_method_lists_kept_outside_code_name_every_registered_method():
    """The golden defaults, the README's methods table and the quickstart (the config that runs every method)
    each list exactly the registered methods. Broken variant: a method added to the table without its README row."""
    names = set(METHODS.names())
    assert set(json.loads((TESTS / "data" / "method_defaults.json").read_text())) == names
    readme = (ROOT / "README.md").read_text()
    rows = set(re.findall(r"^\| `([a-z0-9-]+)` \|", readme, flags=re.M))
    assert rows == names, f"README methods table: missing {sorted(names - rows)}, extra {sorted(rows - names)}"
    quickstart = load_yaml_file(builtin_config_path("quickstart"), "config")
    assert set(quickstart["methods"]) == names
    assert f"all {len(names)})" in readme  # "`alignbench methods` lists all N"


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_documents_its_parameters(name):
    """Broken variant: a field declared as a bare default (no ``param(default, help)``)."""
    cls = METHODS.get(name)
    assert cls.description.strip(), f"{name}: no description"
    for field_name, type_name, _, help_text in cls.Params.describe():
        assert help_text.strip() and "\n" not in help_text and type_name, f"{name}.{field_name}"


# --- evaluators ---------------------------------------------------------------------------------------------------

class LengthRewardModel(RewardModelBase):
    """A saved reward model of a user's own kind (named by dotted path in reward_model.json): longer is better."""

    kind = f"{__name__}:LengthRewardModel"

    def scores(self, prompts, outputs):
        return torch.tensor([float(len(o)) for o in outputs])

    @classmethod
    def load(cls, directory, meta):
        return cls()


def _oracle_pairs(n: int = 6):
    task = load_oracle(OracleSpec(n_test_prompts=n, seed=0))
    spec = OracleSpec()
    pairs = []
    for i, p in enumerate(task.test_prompts):
        good, bad = response_text([0] * spec.response_length), response_text([i % 3 + 1] * spec.response_length)
        pairs.append((OutputRecord(p.prompt_id, p.text, good, "m", 0), OutputRecord(p.prompt_id, p.text, bad, "b", 0)))
    return task, pairs


def _check_comparison(comparison, evaluator, pairs):
    assert isinstance(comparison, Comparison)
    assert (comparison.method, comparison.baseline, comparison.seed) == ("m", "b", 0)
    assert comparison.evaluator == evaluator.name and comparison.judge == evaluator.identity and comparison.judge
    assert comparison.prompt_ids == [m.prompt_id for m, _ in pairs]
    outcome = np.asarray(comparison.outcome, float)
    assert outcome.shape == (len(pairs),)
    assert np.all(np.isnan(outcome) | np.isin(outcome, [0.0, 0.5, 1.0]))
    assert np.isfinite(outcome).sum() >= len(pairs) // 2  # most prompts judged
    for both in ("method_reward", "baseline_reward"):
        value = getattr(comparison, both)
        assert value is None or np.asarray(value).shape == (len(pairs),)


@pytest.mark.parametrize("name", EVALUATORS.names())
def test_every_evaluator_returns_a_well_formed_comparison(name, tmp_path):
    """Broken variant: an evaluator whose Comparison drops a prompt, or names another evaluator than its rows'."""
    task, pairs = _oracle_pairs()
    rm = LengthRewardModel()
    saved = tmp_path / "rm"
    saved.mkdir()
    (saved / "reward_model.json").write_text(json.dumps({"kind": LengthRewardModel.kind}))
    sources = EvaluatorSources(reward_model=rm, reward_model_identity="length", gold_reward=task.gold_reward,
                               judgments_dir=tmp_path, notify=lambda msg: None)
    arguments = {"rm": str(saved)}
    with simulated_judge_for_task(task, seed=0, max_requests=1000, deadline_s=60) as judge:
        arguments["llm"] = str(judge.yaml_path)
        # an evaluator that takes an argument gets one here
        evaluator = EVALUATORS.get(name)(sources, arguments.get(name, ""))
        assert isinstance(evaluator, Evaluator)
        _check_comparison(evaluator.compare(pairs, "m", "b", 0), evaluator, pairs)


# --- tasks --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TASKS.names())
def test_every_task_loads(name, tmp_path):
    """Every registered task loads with its defaults (jsonl with one small file) into TaskData with training data
    and test prompts; a task declared as data carries its version. Broken variant: a task YAML whose files.pairs
    points nowhere, or whose split holds out nothing."""
    options = {}
    if name == "jsonl":
        rows = [{"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(8)]
        (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        options = {"pairs_path": str(tmp_path / "p.jsonl"), "n_test": 2}
    task = load_task(name, options, seed=0)
    assert isinstance(task, TaskData) and task.train_pairs and task.test_prompts and task.name
    if name in TASKS.data_files():
        assert task.meta["task_version"] and task.name == name
