"""Methods by name. Registering is the only place a method's name is mapped to its code; the user's own methods
come in as plugins (:mod:`alignbench.plugins`: a dotted path or an ``alignbench.methods`` entry point)."""

from __future__ import annotations

from ..plugins import entry_point_names, find_plugin
from .base import Method

_REGISTRY: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"method name {cls.name!r} is empty or taken")
    _REGISTRY[cls.name] = cls
    return cls


def all_methods(plugins: bool = False) -> dict[str, type[Method]]:
    """The built-in methods; with ``plugins``, also every installed ``alignbench.methods`` entry point."""
    _load_builtin()
    found = dict(_REGISTRY)
    if plugins:
        found.update({name: get_method(name) for name in entry_point_names("method") if name not in found})
    return found


def get_method(name: str, setting: str = "method") -> type[Method]:
    """A built-in method by name, or the user's: ``package.module:Class`` or an installed entry point's name."""
    _load_builtin()
    if name in _REGISTRY:
        return _REGISTRY[name]
    return find_plugin(name, "method", setting, list(_REGISTRY), subclass_of=Method)


def _load_builtin() -> None:
    from . import (  # noqa: F401  (each registers itself)
        arm, best_of_n, brain, dpo, dpo_pl, exo, expert_iteration, ipo, kto, online_dpo, orpo, ppo, preferred_ft, pro, raft, rrhf, rso,
        sft, slic,
    )
