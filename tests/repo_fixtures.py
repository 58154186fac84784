"""What many tests share: the repository root, an environment in which a subprocess imports this checkout,
and a judge YAML (the shipped local-scripted judge) pointed at a test's local server."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}


def judge_yaml(tmp_path, base_url, **over) -> Path:
    cfg = yaml.safe_load((REPO / "judges" / "local-scripted.yaml").read_text())
    cfg.update({"base_url": base_url, "template": str(REPO / "judges" / "templates" / "pairwise.txt"), **over})
    path = tmp_path / f"judge-{abs(hash(base_url)) % 10**6}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path
