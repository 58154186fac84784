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
from pathlib import Path

import yaml

from .errors import AlignbenchError
from .io import atomic_write_json, atomic_write_text


class RunDir:
    def __init__(self, path: Path, config_dict: dict):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        cfg_path = self.path / "config.yaml"
        text = yaml.safe_dump(config_dict, sort_keys=True, allow_unicode=True)
        if cfg_path.exists():
            if yaml.safe_load(cfg_path.read_text()) != yaml.safe_load(text):
                raise AlignbenchError(
                    f"{self.path}: holds a run of a different config; pass --run-dir for a new run or delete the directory"
                )
        else:
            atomic_write_text(cfg_path, text)
        self.manifest_path = self.path / "manifest.json"
        self.manifest = json.loads(self.manifest_path.read_text()) if self.manifest_path.exists() else _new_manifest(config_dict)
        self._save_manifest()

    def done(self, stage: str) -> bool:
        return (self.path / f"{stage}.done").exists()

    def mark_done(self, stage: str, seconds: float, info: dict | None = None) -> None:
        marker = self.path / f"{stage}.done"
        atomic_write_json(marker, {"seconds": round(seconds, 3), **(info or {})})
        self.manifest["stages"][stage] = {"seconds": round(seconds, 3), "finished": _now()}
        self._save_manifest()

    def stage_info(self, stage: str) -> dict:
        return json.loads((self.path / f"{stage}.done").read_text())

    def _save_manifest(self) -> None:
        atomic_write_json(self.manifest_path, self.manifest)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _new_manifest(config_dict: dict) -> dict:
    from importlib.metadata import PackageNotFoundError, version

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
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
