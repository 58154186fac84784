"""A run directory: resolved config, manifest with versions and stage timings, stage markers.

Every stage writes its files first and its ``.done`` marker last (atomically), so a killed run
resumes at the first stage without a marker.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml

from .config import method_instances, validate_config
from .distributed import is_main
from .errors import AlignbenchError
from .io import atomic_write_json, atomic_write_text


class RunDir:
    """Under ``accelerate launch`` every process reads it and rank 0 alone writes it (``writes``)."""

    def __init__(self, path: Path, config_dict: dict):
        self.path = Path(path)
        self.writes = is_main()
        self.path.mkdir(parents=True, exist_ok=True)
        cfg_path = self.path / "config.yaml"
        text = yaml.safe_dump(config_dict, sort_keys=True, allow_unicode=True)
        if cfg_path.exists():
            if yaml.safe_load(cfg_path.read_text()) != yaml.safe_load(text):
                raise AlignbenchError(
                    f"{self.path}: holds a run of a different config; pass --run-dir for a "
                    "new run or delete the directory"
                )
        elif self.writes:
            atomic_write_text(cfg_path, text)
        self.manifest_path = self.path / "manifest.json"
        self.manifest = (
            json.loads(self.manifest_path.read_text()) if self.manifest_path.exists() else _new_manifest(config_dict)
        )
        self._save_manifest()

    def done(self, stage: str) -> bool:
        return (self.path / f"{stage}.done").exists()

    def mark_done(self, stage: str, seconds: float, info: dict | None = None) -> None:
        if not self.writes:
            return
        marker = self.path / f"{stage}.done"
        atomic_write_json(marker, {"seconds": round(seconds, 3), **(info or {})})
        self.manifest["stages"][stage] = {"seconds": round(seconds, 3), "finished": _now()}
        self._save_manifest()

    def stage_info(self, stage: str) -> dict:
        return json.loads((self.path / f"{stage}.done").read_text())

    def _save_manifest(self) -> None:
        if self.writes:
            atomic_write_json(self.manifest_path, self.manifest)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _new_manifest(config_dict: dict) -> dict:
    versions = {}
    for pkg in ("alignbench", "torch", "transformers", "numpy", "scipy", "pandas", "openai", "accelerate"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    return {
        "created": _now(),
        "run_id": f"{config_dict.get('name', 'run')}-{int(time.time())}",
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "seed": config_dict.get("seed"),
        "seeds": config_dict.get("seeds"),
        "stages": {},
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def run_status(path: str | Path) -> str:
    """Which stages of a run are done (with their times), and which remain, as lines of text."""
    path = Path(path)
    cfg_path = path / "config.yaml"
    if not cfg_path.exists():
        raise AlignbenchError(f"{path}: not a run directory (no config.yaml)")
    try:
        cfg = validate_config(yaml.safe_load(cfg_path.read_text(encoding="utf-8")), str(cfg_path))
    except yaml.YAMLError as e:
        raise AlignbenchError(f"{cfg_path}: bad YAML ({str(e).splitlines()[0]})") from None
    stages = ["sft", "reward_model"] + [
        f"methods/{label}/seed-{s}" for s in cfg.seeds for label, _ in method_instances(cfg)
    ]
    lines = [f"run {path} (config {cfg.name}, task {cfg.task.name}, seeds {cfg.seeds})"]
    done_s, remaining = 0.0, []
    for stage in stages:
        marker = path / f"{stage}.done"
        if marker.exists():
            try:
                seconds = float(json.loads(marker.read_text()).get("seconds", 0.0))
            except (ValueError, AttributeError):
                seconds = float("nan")
            done_s += seconds if seconds == seconds else 0.0
            lines.append(f"  done     {stage:<40} {seconds:8.1f} s")
        else:
            remaining.append(stage)
            lines.append(f"  pending  {stage}")
    evaluated = (path / "rows.json").exists() and not remaining  # rows from an earlier pass are stale
    lines.append(f"  {'done    ' if evaluated else 'pending '} evaluation (rows.json)")
    n_done = len(stages) - len(remaining)
    if not remaining and evaluated:
        lines.append(f"complete: {n_done} stages in {done_s:.1f} s; leaderboard rows in {path / 'rows.json'}")
    else:
        todo = len(remaining) + (0 if evaluated else 1)
        lines.append(f"{n_done}/{len(stages)} training stages done ({done_s:.1f} s); {todo} remaining: "
                     f"re-run `alignbench run` with the same config and --run-dir {path} to continue")
    return "\n".join(lines)
