"""alignbench: train alignment methods side by side and judge them honestly.

The Python API (the CLI is a thin layer over the same functions)::

    import alignbench
    rows = alignbench.run("quickstart", overrides=["methods.dpo.steps=50"])   # a full comparison
    rows = alignbench.judge(["dpo.jsonl"], "reference.jsonl", "judges/gpt-4o.yaml", "judged/")
    df = alignbench.load_leaderboard("leaderboards/oracle.csv")               # a pandas DataFrame

Each returns leaderboard rows (a list of dicts with the columns documented in
``leaderboards/README.md``) or, for ``load_leaderboard``, a DataFrame of them.
"""

from __future__ import annotations

import os
from pathlib import Path

# Idle OpenMP workers sleep instead of spinning. libgomp reads this once, when torch loads, so it is set here,
# before any alignbench module imports torch; a value the user set is kept. Beside another busy process the
# spinning workers took the cores the run's own threads needed (benchmarks/README.md, "a busy machine").
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .version import __version__
__all__ = ["run", "judge", "load_leaderboard", "__version__"]

# The functions below import their modules when called: every `alignbench.X` import and every CLI
# command runs this file first, and importing pipeline here would load torch for `alignbench --help`.


def run(config="quickstart", overrides: list[str] | None = None, run_dir: str | Path | None = None,
        leaderboard_dir: str | Path | None = None, judges: list[str] | tuple = (), quiet: bool = True) -> list[dict]:
    """Run a full method comparison, like ``alignbench run``.

    ``config``: a built-in name ("quickstart", "hh-harmless"), a YAML path, or a loaded
    :class:`alignbench.config.Config`. ``overrides``: ``KEY=VALUE`` strings as for ``--set``.
    Resumes from the finished stages in ``run_dir`` (default ``runs/<config name>``); writes
    ``<leaderboard_dir>/<task>.csv/.md/.png/.html``. Returns the leaderboard rows.
    """
    from .config import Config, load_config
    from .pipeline import run_comparison

    cfg = config if isinstance(config, Config) else load_config(config, overrides=list(overrides or []))
    return run_comparison(cfg, run_dir=run_dir, leaderboard_dir=leaderboard_dir, extra_judges=list(judges), quiet=quiet)


def judge(outputs: list[str | Path] | str | Path, reference: str | Path, judge: str, out_dir: str | Path,
          task: str = "custom", seed: int = 0, n_bootstrap: int = 2000, quiet: bool = True,
          base_url: str | None = None) -> list[dict]:
    """Judge existing outputs against a reference, like ``alignbench judge``.

    ``outputs``: one file per method in any accepted format (alignbench JSONL, alpaca_eval
    ``model_outputs.json``, FastChat MT-Bench answers). ``judge``: a judge YAML or name, or
    ``"rm:PATH"`` for a saved reward model. ``base_url`` overrides the YAML's endpoint.
    Writes ``judgments.jsonl`` and ``rows.json`` in ``out_dir``; returns the rows.
    """
    from .evaluation.judge_only import judge_outputs

    paths = [Path(outputs)] if isinstance(outputs, (str, Path)) else [Path(p) for p in outputs]
    return judge_outputs(outputs=paths, reference=Path(reference), judge=judge, out_dir=Path(out_dir), task=task,
                         seed=seed, n_bootstrap=n_bootstrap, quiet=quiet, base_url=base_url)


def load_leaderboard(path: str | Path):
    """A leaderboard CSV, a ``rows.json``, or a run/judge directory, as a pandas DataFrame."""
    from .leaderboard import load_leaderboard as _load

    return _load(path)
