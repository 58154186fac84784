"""Child processes that do not outlive their parent (a grid's cells): one place for both halves.

The parent starts a child with :func:`child_env` and :func:`die_with_parent_preexec`; the child, at start-up,
calls :func:`watch_parent`. On Linux the kernel kills the child when the parent dies (``PR_SET_PDEATHSIG``);
the watch also stops it cleanly, with SIGTERM, wherever ``getppid`` changes (a parent killed with -9).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PARENT_ENV = "ALIGNBENCH_PARENT_PID"  # set by a parent (grid) whose child processes must not outlive it


def child_env() -> dict[str, str]:
    """The environment for a child process that must stop when this one dies."""
    return {**os.environ, PARENT_ENV: str(os.getpid())}


def _pdeathsig() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def die_with_parent_preexec():
    """``preexec_fn`` for ``subprocess``: the kernel kills the child when its parent dies (Linux; else None)."""
    return _pdeathsig if sys.platform == "linux" else None


def watch_parent() -> None:
    """In the child: stop (SIGTERM, so cleanly) when the parent named by ``PARENT_ENV`` is gone."""
    parent = os.environ.pop(PARENT_ENV, None)  # not passed on: the child's own children watch nobody
    if not parent or not parent.isdigit():
        return

    def watch():
        while os.getppid() == int(parent):
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="die-with-parent").start()
