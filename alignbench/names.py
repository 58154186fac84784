"""Names that become directory names, table cells and plot labels: checked once, where they are read."""

from __future__ import annotations

import unicodedata

MAX_NAME = 100


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a method (it becomes a directory under the run), or None when it can."""
    if not name:
        return "is empty"
    if len(name) > MAX_NAME:
        return f"is {len(name)} characters long (at most {MAX_NAME})"
    if "/" in name or "\\" in name or ".." in name:
        return "contains '/', '\\' or '..': a name is not a path"
    bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Cs")), None)
    if bad is not None:
        return f"contains the control character {bad!r}"
    return None
