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


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A text cell a spreadsheet will not run: OWASP's advice for CSV injection, a leading ' before a cell that
    starts with = + - @, tab or CR (numbers are left alone; the exact text stays in the JSON files). A CR is
    written as a line break, which the CSV quotes (a bare CR would end the row for many readers)."""
    if not isinstance(value, str):
        return value
    return ("'" + value if value.startswith(_FORMULA_START) else value).replace("\r\n", "\n").replace("\r", "\n")


def from_csv_cell(value):
    """The text :func:`csv_cell` neutralised, as it was."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith((*_FORMULA_START, "\n")):
        return value[1:]
    return value


def md_cell(value) -> str:
    """Text for one Markdown table cell: a '|' or a line break cannot split the row."""
    return " ".join(str(value).replace("|", "\\|").splitlines()) if value is not None else ""


def plot_text(value) -> str:
    """Text for a plot label, drawn as written: a '$' never starts matplotlib's mathtext."""
    return str(value).replace("$", r"\$")
