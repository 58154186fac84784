"""Plugins: the user's own method, evaluator and task, in a package outside alignbench, named in a run config
by dotted path (``package.module:Name``) or through an installed package's entry points."""

from __future__ import annotations

import csv
import sys
import textwrap

import pytest

import alignbench
from alignbench.config import validate_config
from alignbench.errors import AlignbenchError
from alignbench.methods.registry import all_methods, get_method

SIMPO = '''
"""SimPO (Meng et al. 2024): −log σ(β(p_w − p_l) − γ), p the token-averaged log-likelihood, no reference."""
from dataclasses import dataclass

import torch.nn.functional as F

from alignbench.methods._offline import pair_groups, train_on_groups
from alignbench.methods.base import Method
from alignbench.methods.params import OfflineParams, param


@dataclass(frozen=True)
class SimPOParams(OfflineParams):
    beta: float = param(2.0, "β: scale of the length-normalised reward", positive=True)
    margin: float = param(0.5, "γ: target reward margin")


class SimPO(Method):
    name = "simpo"
    kind = "offline-group"
    description = "SimPO: −log σ(β(p_w − p_l) − γ), token-averaged log-likelihoods, reference-free"
    Params = SimPOParams

    def fit(self, ctx):
        data = pair_groups(ctx.sft_policy, ctx.task.train_pairs)
        beta, margin = self.params.beta, self.params.margin
        loss = lambda lp, batch: -F.logsigmoid(beta * (lp[:, 0] - lp[:, 1]) - margin).mean()
        return train_on_groups(ctx, self, data, loss, length_average=True, needs_reference=False)
'''

EVALS = '''
import numpy as np

from alignbench.evaluation.evaluators import Comparison, Evaluator


class Brevity(Evaluator):
    name, identity = "brevity", "the shorter response wins"

    def compare(self, pairs, method, baseline, seed, progress=None):
        mine = np.array([len(m.output) for m, _ in pairs], float)
        theirs = np.array([len(r.output) for _, r in pairs], float)
        outcome = np.where(mine < theirs, 1.0, np.where(mine > theirs, 0.0, 0.5))
        return Comparison(method, baseline, self.name, self.identity, seed, [m.prompt_id for m, _ in pairs], outcome)


def brevity(sources, argument):
    return Brevity()
'''

TASKS = '''
from alignbench.tasks.oracle import OracleSpec, load_oracle


def small_oracle(n_test_prompts: int = 8, seed: int = 0):
    """The oracle with fewer pairs, under its own name."""
    task = load_oracle(OracleSpec(n_test_prompts=n_test_prompts, pairs_per_train_prompt=2, pairs_per_test_prompt=2,
                                  seed=seed))
    task.name = "small-oracle"
    return task
'''


@pytest.fixture
def plugin_package(tmp_path, monkeypatch):
    """``my_plugins`` with a method, an evaluator and a task, importable, plus an installed distribution that
    declares the method under the entry point ``simpo-ep``."""
    pkg = tmp_path / "my_plugins"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name, text in {"simpo": SIMPO, "evals": EVALS, "tasks": TASKS}.items():
        (pkg / f"{name}.py").write_text(textwrap.dedent(text))
    dist = tmp_path / "my_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[alignbench.methods]\nsimpo-ep = my_plugins.simpo:SimPO\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for module in [m for m in sys.modules if m.startswith("my_plugins")]:
        del sys.modules[module]


def test_a_run_publishes_rows_for_a_plugin_method_evaluator_and_task(plugin_package, tmp_path):
    config = {
        "name": "plugins", "task": {"name": "my_plugins.tasks:small_oracle", "options": {"n_test_prompts": 8}},
        "beta": 1.0, "policy": {"n_layer": 1, "n_embd": 32, "n_head": 2},
        "sft": {"steps": 20, "batch_size": 32},
        "reward_model": {"backbone": "policy", "pooling": "next-token", "steps": 10},
        "methods": {"sft": {}, "dpo": {"steps": 5, "lr": 1e-3},
                    "simpo": {"method": "my_plugins.simpo:SimPO", "steps": 5, "lr": 1e-3},
                    "simpo-ep": {"steps": 3, "lr": 1e-3}},
        "evaluation": {"baselines": ["sft"], "evaluators": ["gold-reward", "my_plugins.evals:brevity"],
                       "bootstrap": 100},
    }
    rows = alignbench.run(validate_config(config), run_dir=tmp_path / "run", leaderboard_dir=tmp_path / "lb")
    assert {r["method"] for r in rows} >= {"dpo", "simpo", "simpo-ep"}
    assert {r["evaluator"] for r in rows} == {"gold-reward", "brevity"}
    published = list(csv.DictReader((tmp_path / "lb" / "small-oracle.csv").open()))
    assert {(r["method"], r["evaluator"]) for r in published} >= {("simpo", "brevity"), ("simpo", "gold-reward")}
    assert (tmp_path / "lb" / "small-oracle.html").exists()


def test_plugin_methods_are_listed_and_typed_like_built_ins(plugin_package):
    assert get_method("my_plugins.simpo:SimPO").Params.has("margin")
    assert "simpo-ep" in all_methods(plugins=True) and "simpo-ep" not in all_methods()
    with pytest.raises(AlignbenchError, match=r"methods.s.margin must be a finite, non-negative number"):
        validate_config({"methods": {"s": {"method": "my_plugins.simpo:SimPO", "margin": "wide"}}})


@pytest.mark.parametrize("config,message", [
    ({"methods": {"x": {"method": "no_such_pkg.mod:Thing"}}},
     r"setting 'methods.x.method': cannot import 'no_such_pkg.mod'"),
    ({"methods": {"x": {"method": "my_plugins.simpo:Nothing"}}},
     r"setting 'methods.x.method': module 'my_plugins.simpo' has no 'Nothing'"),
    ({"methods": {"x": {"method": "my_plugins.evals:brevity"}}},
     r"setting 'methods.x.method': 'my_plugins.evals:brevity' is not a subclass of alignbench.methods.base.Method"),
    ({"methods": {"sft": {}}, "evaluation": {"evaluators": ["my_plugins.simpo:SimPOParams.x"]}}, r"unknown evaluator"),
    ({"methods": {"sft": {}}, "task": {"name": "my_plugins.tasks:nothing"}},
     r"module 'my_plugins.tasks' has no 'nothing'"),
])
def test_a_bad_plugin_is_one_line_naming_the_setting(plugin_package, config, message):
    with pytest.raises(AlignbenchError, match=message) as e:
        validate_config(config)
    assert "\n" not in str(e.value)
