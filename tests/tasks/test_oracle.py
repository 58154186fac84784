"""The oracle's vectorised reward over a whole enumeration equals its per-pair reward bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from alignbench.tasks import load_task
from alignbench.tasks.oracle import all_response_texts


@pytest.mark.parametrize("options", [{"n_test_prompts": 8},
                                     {"n_test_prompts": 8, "n_response_symbols": 5, "response_length": 3,
                                      "repeat_penalty": 0.7, "near_weight": 1.3, "match_weight": 2.5}])
def test_score_all_equals_the_per_pair_reward_exactly(options):
    """Broken variants it catches: a neighbour counted on one side only ((y − t) mod n == 1), the repeat
    penalty averaged over L instead of L − 1, an off-by-one target position."""
    task = load_task("oracle", options)
    reward = task.gold_reward
    prompts = [p.text for p in task.test_prompts]
    responses = all_response_texts(reward.spec)
    grid = reward.score_all(prompts, responses)
    one_by_one = np.array(reward([p + r for p in prompts for r in responses], [p for p in prompts for _ in responses],
                                 responses * len(prompts))).reshape(len(prompts), len(responses))
    assert grid.shape == one_by_one.shape and np.array_equal(grid, one_by_one)
    assert len(np.unique(grid)) > 10  # the grid is not degenerate


def test_variable_length_responses_fall_back_to_the_per_pair_reward():
    task = load_task("oracle", {"n_test_prompts": 4, "variable_length": True, "n_response_symbols": 3,
                                "response_length": 5})
    assert task.gold_reward.score_all([p.text for p in task.test_prompts], ["a b"]) is None
