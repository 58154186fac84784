"""Everything a config can name, in one place: methods, evaluators, tasks and reward-model kinds.

Each kind is a :class:`Registry`: its built-in names mapped to import strings (``module:attribute``),
imported on first use, so listing names imports nothing and no module imports another only to register it;
names that are data (task YAMLs in ``alignbench/tasks/``) are found in their folder; any other name is
the user's own, through :mod:`alignbench.plugins` (a dotted path or an entry point of the kind's group).
Adding a built-in is one line here; every list of names (config checks, ``alignbench methods``, the
contract tests) comes from these tables.
"""

from __future__ import annotations

import importlib
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from .errors import AlignbenchError
from .plugins import check_kind, entry_point_names, find_plugin

YAML_SUFFIXES = (".yaml", ".yml")


def resolve(target: str) -> Any:
    """The object an import string ``package.module:attribute[.attribute]`` names."""
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry:
    """The names of one kind: built-ins (``builtins``, plus ``<name>.yaml`` files in ``data_dir`` read by
    ``from_yaml``), names added at run time (:meth:`add`), and the user's plugins.

    ``base`` (an import string) is the class every entry subclasses; without it, entries are callables."""

    def __init__(self, kind: str, setting: str, builtins: dict[str, str], base: str | None = None,
                 data_dir: str | None = None, from_yaml: str | None = None):
        self.kind, self.setting, self.builtins, self.base = kind, setting, dict(builtins), base
        self.data_dir, self.from_yaml = data_dir, from_yaml
        self._loaded: dict[str, Any] = {}
        self._added: dict[str, Any] = {}

    def names(self) -> list[str]:
        """Built-in names (table order, then the data files' names), then names added at run time."""
        return list(dict.fromkeys([*self.builtins, *self.data_files(), *self._added]))

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def data_files(self) -> dict[str, Path]:
        if not self.data_dir:
            return {}
        folder = Path(str(resources.files("alignbench") / self.data_dir))
        return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix in YAML_SUFFIXES}

    def add(self, name: str, obj: Any) -> Any:
        """A name registered at run time (tests, notebooks); built-in names cannot be replaced."""
        if not name or name in self.builtins or name in self.data_files():
            raise ValueError(f"{self.kind} name {name!r} is empty or built in")
        self._check(obj, name, self.setting)
        self._added[name] = obj
        return obj

    def __delitem__(self, name: str) -> None:
        del self._added[name]

    def get(self, name: str, setting: str | None = None) -> Any:
        """The entry ``name`` names: built in, added, a YAML file (where this kind has them), or the user's plugin;
        anything else is a one-line error naming ``setting`` and the known names."""
        setting = setting or self.setting
        if name in self._added:
            return self._added[name]
        if name in self._loaded:
            return self._loaded[name]
        obj = self._builtin(name, setting)
        if obj is None:
            return find_plugin(name, self.kind, setting, self.names(), subclass_of=self._base())
        # a user's YAML path is read again each time: it may change
        if name in self.builtins or name in self.data_files():
            self._loaded[name] = obj
        return obj

    def items(self, plugins: bool = False) -> dict[str, Any]:
        """Every built-in (and added) entry, imported; with ``plugins``, also every installed entry point."""
        found = {name: self.get(name) for name in self.names()}
        if plugins:
            found.update({name: self.get(name) for name in entry_point_names(self.kind) if name not in found})
        return found

    def _builtin(self, name: str, setting: str) -> Any:
        if name in self.builtins:
            obj = resolve(self.builtins[name])
            self._check(obj, name, setting)
            return obj
        path = self.data_files().get(name)
        if path is None and self.from_yaml and name.endswith(YAML_SUFFIXES):
            path = Path(name)
            if not path.is_file():
                raise AlignbenchError(f"setting '{setting}': {self.kind} file {name} not found")
        return resolve(self.from_yaml)(path) if path is not None else None

    def _base(self) -> type | None:
        return resolve(self.base) if self.base else None

    def _check(self, obj: Any, name: str, setting: str) -> None:
        check_kind(obj, name, setting, subclass_of=self._base())


METHODS = Registry("method", "method", {
    "sft": "alignbench.methods.sft:SFT",
    "dpo": "alignbench.methods.dpo:DPO",
    "dpo-sft": "alignbench.methods.dpo:DPOSFT",
    "best-of-n": "alignbench.methods.best_of_n:BestOfN",
    "expert-iteration": "alignbench.methods.expert_iteration:ExpertIteration",
    "arm": "alignbench.methods.arm:ARM",
    "arm-pl": "alignbench.methods.arm:ARMPL",
    "brain": "alignbench.methods.brain:BRAIn",
    "exo": "alignbench.methods.exo:EXO",
    "exo-pref": "alignbench.methods.exo:EXOPref",
    "dpo-rw": "alignbench.methods.exo:DPORW",
    "ppo": "alignbench.methods.ppo:PPO",
    "rso": "alignbench.methods.rso:RSO",
    "ipo": "alignbench.methods.ipo:IPO",
    "slic": "alignbench.methods.slic:SLiC",
    "kto": "alignbench.methods.kto:KTO",
    "orpo": "alignbench.methods.orpo:ORPO",
    "rrhf": "alignbench.methods.rrhf:RRHF",
    "raft": "alignbench.methods.raft:RAFT",
    "pro": "alignbench.methods.pro:PRO",
    "dpo-pl": "alignbench.methods.dpo_pl:DPOPL",
    "preferred-ft": "alignbench.methods.preferred_ft:PreferredFT",
    "online-dpo": "alignbench.methods.online_dpo:OnlineDPO",
}, base="alignbench.methods.base:Method")

# A builder (sources, argument) -> Evaluator; "llm" takes a judge YAML (configs name judges under evaluation.judges).
EVALUATORS = Registry("evaluator", "evaluation.evaluators", {
    "reward-model": "alignbench.evaluation.evaluators:run_reward_model",
    "gold-reward": "alignbench.evaluation.evaluators:gold_reward",
    "rm": "alignbench.evaluation.evaluators:saved_reward_model",
    "llm": "alignbench.evaluation.evaluators:llm_judge",
})

# A loader whose keyword arguments are the task's options, returning TaskData; data sets are YAML files.
TASKS = Registry("task", "task.name", {
    "oracle": "alignbench.tasks.oracle:load_oracle_task",
    "jsonl": "alignbench.tasks.jsonl:load_jsonl_task",
}, data_dir="tasks", from_yaml="alignbench.tasks.declared:DeclaredTask.from_yaml")

# The ``kind`` written in a saved reward model's reward_model.json.
REWARD_KINDS = Registry("reward kind", "kind", {
    "causal-lm-head": "alignbench.models.reward:CausalLMRewardModel",
    "hf-sequence-classification": "alignbench.models.reward:HFSequenceRewardModel",
    "minilm-encoder": "alignbench.models.encoder_reward:EncoderRewardModel",
}, base="alignbench.models.reward_base:RewardModelBase")

ALL: dict[str, Registry] = {r.kind: r for r in (METHODS, EVALUATORS, TASKS, REWARD_KINDS)}


def check_entry_name(registry: Registry, name: str, obj: Callable | type) -> None:
    """A built-in module's own declaration (``name = ...`` on a class) agrees with the table: a misspelt or
    missing table line fails at import, not when a user first names it."""
    target = f"{obj.__module__}:{obj.__qualname__}"
    if registry.builtins.get(name) != target:
        raise ValueError(f"{registry.kind} {name!r} ({target}) is not in alignbench.registry's table")
