"""The Python API (`alignbench.run`, `alignbench.judge`, ...) is documented."""

from __future__ import annotations

import pytest

import alignbench
from alignbench.errors import AlignbenchError


def test_python_api_is_documented():
    for fn in (alignbench.run, alignbench.judge, alignbench.load_leaderboard):
        assert fn.__doc__ and len(fn.__doc__) > 40
    with pytest.raises(AlignbenchError, match="nope.csv: file not found"):
        alignbench.load_leaderboard("nope.csv")
