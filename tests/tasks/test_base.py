"""What every task shares: calling its reward."""

from __future__ import annotations

import pytest

from alignbench.errors import AlignbenchError
from alignbench.tasks.base import call_reward


def test_nan_reward_is_refused():
    with pytest.raises(AlignbenchError, match="non-finite reward"):
        call_reward(lambda s, p, o: [0.0, float("nan")], ["p", "q"], ["a", "b"])
