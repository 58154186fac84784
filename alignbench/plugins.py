"""The user's own code named in a config: a dotted path ``package.module:Name``, or the name of an entry point
in one of alignbench's groups, declared by an installed package (as lm-evaluation-harness and torchtune do):

    [project.entry-points."alignbench.methods"]
    simpo = "my_pkg.simpo:SimPO"

A method is a :class:`~alignbench.methods.base.Method` subclass; an evaluator a callable ``(sources, argument)``
returning an :class:`~alignbench.evaluation.evaluators.Evaluator`; a task a callable returning a
:class:`~alignbench.tasks.base.TaskData` (its keyword arguments are the task's options); a reward-model kind a
:class:`~alignbench.models.reward.RewardModelBase` subclass whose ``load(directory, meta)`` reads what it saved.
The built-in names are in :mod:`alignbench.registry`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re

from .errors import AlignbenchError

GROUPS = {"method": "alignbench.methods", "evaluator": "alignbench.evaluators", "task": "alignbench.tasks",
          "reward kind": "alignbench.reward_kinds"}
DOTTED = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*")


def is_dotted(spec: str) -> bool:
    return bool(DOTTED.fullmatch(spec))


def entry_point_names(kind: str) -> list[str]:
    return sorted(ep.name for ep in importlib.metadata.entry_points(group=GROUPS[kind]))


def load_plugin(spec: str, kind: str, setting: str):
    """The object a dotted path or an entry point of ``kind``'s group names; None when ``spec`` is neither."""
    if is_dotted(spec):
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise AlignbenchError(f"setting '{setting}': cannot import "
                                  f"{module_name!r} for {kind} {spec!r} ({e})") from None
        if not hasattr(module, attr):
            raise AlignbenchError(f"setting '{setting}': module {module_name!r} has no {attr!r} ({kind} {spec!r})")
        return getattr(module, attr)
    points = [ep for ep in importlib.metadata.entry_points(group=GROUPS[kind]) if ep.name == spec]
    if not points:
        return None
    try:
        return points[0].load()
    except Exception as e:  # a broken installed plugin: say which one, in one line
        raise AlignbenchError(f"setting '{setting}': entry point {spec!r} of "
                              f"{GROUPS[kind]} does not load ({e})") from None


def find_plugin(spec: str, kind: str, setting: str, known: list[str], subclass_of: type | None = None):
    """The user's object that ``spec`` names, of the right kind; a one-line error listing ``known`` (the built-in
    names) when nothing has that name."""
    obj = load_plugin(spec, kind, setting)
    if obj is None:
        raise AlignbenchError(f"setting '{setting}': unknown {kind} {spec!r} (known: "
                              f"{', '.join(known)}; or the user's own as package.module:Name, or an "
                              f"installed {GROUPS[kind]} entry point)")
    check_kind(obj, spec, setting, subclass_of=subclass_of)
    return obj


def check_kind(obj, spec: str, setting: str, *, subclass_of: type | None = None) -> None:
    """A plugin is of the kind its setting needs: a subclass of ``subclass_of``, or else a callable."""
    if subclass_of is not None:
        if not (isinstance(obj, type) and issubclass(obj, subclass_of)):
            raise AlignbenchError(f"setting '{setting}': {spec!r} is not a subclass of "
                                  f"{subclass_of.__module__}.{subclass_of.__name__}")
    elif not callable(obj):
        raise AlignbenchError(f"setting '{setting}': {spec!r} is not callable")
