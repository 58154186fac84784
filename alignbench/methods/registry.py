"""Methods by name: the table is :data:`alignbench.registry.METHODS`; the user's own methods come in as plugins
(:mod:`alignbench.plugins`: a dotted path or an ``alignbench.methods`` entry point)."""

from __future__ import annotations

from ..registry import METHODS, check_entry_name
from .base import Method


def register(cls: type[Method]) -> type[Method]:
    """Marks a built-in adapter; its ``name`` must be the one ``alignbench.registry.METHODS`` maps to it."""
    check_entry_name(METHODS, cls.name, cls)
    return cls


def all_methods(plugins: bool = False) -> dict[str, type[Method]]:
    """The built-in methods; with ``plugins``, also every installed ``alignbench.methods`` entry point."""
    return METHODS.items(plugins=plugins)


def get_method(name: str, setting: str = "method") -> type[Method]:
    """A built-in method by name, or the user's: ``package.module:Class`` or an installed entry point's name."""
    return METHODS.get(name, setting)
