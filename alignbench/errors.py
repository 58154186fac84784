"""User-facing errors: one line naming the file and line, or the setting, that is wrong."""


class AlignbenchError(Exception):
    """An error caused by the user's input. The CLI prints ``str(err)`` on one line and exits 2."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def validation_error(e, origin, prefix: str = "") -> AlignbenchError:
    """A pydantic ``ValidationError`` as one line: the origin (a file), the setting (``prefix`` + the field's path)
    and pydantic's message for the first error."""
    err = e.errors()[0]
    key = prefix + ".".join(str(p) for p in err["loc"]) or "(top level)"
    return AlignbenchError(f"{origin}: setting '{key}': {err['msg'].removeprefix('Value error, ')}")


def where(path, line: int | None = None) -> str:
    """Format a location as ``path:line`` (or just ``path``)."""
    return f"{path}:{line}" if line is not None else str(path)
