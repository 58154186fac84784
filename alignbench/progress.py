"""Progress bars (rich) that every long stage shares, on stderr; silent when quiet.

With ``log_path`` every logged line is also appended, time-stamped, to that file (a run's
``run.log``), quiet or not.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class NullProgress:
    def add_task(self, description, total=None, **kw):
        return 0

    def update(self, task_id, **kw):
        pass

    def advance(self, task_id, advance=1):
        pass

    def remove_task(self, task_id):
        pass

    def log(self, *a, **k):
        pass


@contextmanager
def progress_bar(quiet: bool = False, log_path: str | Path | None = None):
    if log_path is None:
        with _console_progress(quiet) as p:
            yield p
        return
    log = _LogFile(Path(log_path))
    log.write(f"start: alignbench {' '.join(sys.argv[1:])}".rstrip())
    outcome = "interrupted"
    try:
        with _console_progress(quiet) as p:
            yield _LoggingProgress(p, log)
        outcome = "finished"
    except BaseException as e:
        outcome = f"stopped: {type(e).__name__}: {' '.join(str(e).split())}"
        raise
    finally:
        log.write(outcome)


class _LogFile:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, message: str) -> None:
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{stamp} {message}\n")


class _LoggingProgress:
    """Forwards everything to the console progress; log lines also go to the run's log file."""

    def __init__(self, inner, log: _LogFile):
        self._inner = inner
        self._log = log

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def log(self, *a, **k):
        self._log.write(" ".join(str(x) for x in a))
        self._inner.log(*a, **k)


@contextmanager
def _console_progress(quiet: bool):
    if quiet:
        yield NullProgress()
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
        console=Console(log_path=False, stderr=True),
    ) as p:
        yield _RichProgress(p)


class _RichProgress:
    def __init__(self, p):
        self.p = p

    def add_task(self, description, total=None, **kw):
        kw.setdefault("info", "")
        return self.p.add_task(description, total=total, **kw)

    def update(self, task_id, **kw):
        self.p.update(task_id, **kw)

    def advance(self, task_id, advance=1):
        self.p.advance(task_id, advance)

    def remove_task(self, task_id):
        self.p.remove_task(task_id)

    def log(self, *a, **k):
        self.p.console.log(*a, **k)
