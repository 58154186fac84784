"""Methods by name: the table is :data:`alignbench.registry.METHODS`; the user's own methods come in as plugins
(:mod:`alignbench.plugins`: a dotted path or an ``alignbench.methods`` entry point)."""

from __future__ import annotations

from ..registry import METHODS, check_entry_name
from .base import Method


def register(cls: type[Method]) -> type[Method]:
    """A built-in adapter must be the class ``alignbench.registry.METHODS`` maps its ``name`` to (a missing table
    line fails at import); a class from outside alignbench (a notebook, a test) is added under its name."""
    if cls.__module__.startswith("alignbench."):
        check_entry_name(METHODS, cls.name, cls)
    else:
        METHODS.add(cls.name, cls)
    return cls


def all_methods(plugins: bool = False) -> dict[str, type[Method]]:
    """The built-in methods; with ``plugins``, also every installed ``alignbench.methods`` entry point."""
    return METHODS.items(plugins=plugins)


def get_method(name: str, setting: str = "method") -> type[Method]:
    """A built-in method by name, or the user's: ``package.module:Class`` or an installed entry point's name."""
    return METHODS.get(name, setting)
