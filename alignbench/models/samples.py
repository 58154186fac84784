"""``Samples``: what every generation backend returns (a leaf, shared by the backends and the policy)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Samples:
    """``n`` responses per prompt: ``texts[i][j]`` and ``token_ids[i][j]`` for prompt ``i``."""

    texts: list[list[str]]
    token_ids: list[list[list[int]]]
