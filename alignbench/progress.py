"""Progress bars (rich) that every long stage shares; silent when quiet."""

from __future__ import annotations

from contextlib import contextmanager


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
def progress_bar(quiet: bool = False):
    if quiet:
        yield NullProgress()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
        console=Console(log_path=False),
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
