"""Stage 4: rankings, pairwise matrices, the exact frontier and the leaderboard files, from the rows and
per-prompt comparisons the evaluation stage made (nothing is scored twice)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import Config
from ..evaluation.comparison import Comparison
from ..frontier import Frontier, add_reward_regret, optimal_frontier
from ..leaderboard import write_leaderboard
from ..ranking import publish_ranking
from ..rundir import RunDir
from .prepare import Shared


def publish(
    cfg: Config, rd: RunDir, shared: Shared, rows: list[dict], comparisons: list[Comparison], out_dir: Path
) -> dict[str, Path]:
    """Write ``<task>-ranking.*``, the run's pairwise matrices and ``<task>.csv/.md/.png/.html`` (+ frontier PNG);
    on an exact task ``rows`` get their ``reward_regret`` (in place)."""
    task = shared.task.name
    rank_run(cfg, rd, comparisons, task, out_dir)
    frontier = exact_frontier(shared)
    if frontier is not None:
        add_reward_regret(rows, frontier)
    reward_key = "exact_reward" if shared.task.gold_reward is not None else "mean_reward"
    return write_leaderboard(rows, out_dir / f"{task}.csv", optimal=frontier, reward_key=reward_key,
                             frontier_path=out_dir / f"{task}-frontier.png")


def rank_run(cfg: Config, rd: RunDir, comparisons: list[Comparison], task: str, out_dir: Path) -> list[dict]:
    """Bradley–Terry ranking (``<task>-ranking.csv``) and pairwise matrices from the pointwise evaluators'
    comparisons."""
    baseline, pointwise, vs_baseline = pointwise_rewards(comparisons)
    return publish_ranking(vs_baseline, baseline, task, out_dir, run_dir=rd.path, pointwise=pointwise,
                           n_boot=min(cfg.evaluation.bootstrap, 1000), seed=cfg.seed, ci=cfg.evaluation.ci)


def pointwise_rewards(comparisons: list[Comparison]) -> tuple[str, dict, dict]:
    """The baseline ranked against ("sft" when there is one), ``{evaluator: {name: per-prompt reward}}`` and
    ``{evaluator: {name: per-prompt outcome vs that baseline}}``, each averaged over seeds per prompt."""
    pointwise_comps = [c for c in comparisons if c.method_reward is not None]
    baseline = "sft" if any(c.baseline == "sft" for c in pointwise_comps) else "dataset"
    grouped: dict[tuple, list[Comparison]] = {}
    for c in pointwise_comps:
        grouped.setdefault((c.evaluator, c.method, c.baseline), []).append(c)
    pointwise: dict[str, dict[str, np.ndarray]] = {}
    vs_baseline: dict[str, dict[str, np.ndarray]] = {}
    for (ev, label, b), comps in grouped.items():
        pointwise.setdefault(ev, {})[label] = np.mean([c.method_reward for c in comps], axis=0)
        if b == baseline:
            pointwise[ev][b] = np.mean([c.baseline_reward for c in comps], axis=0)
            vs_baseline.setdefault(ev, {})[label] = np.mean([c.outcome for c in comps], axis=0)
    return baseline, pointwise, vs_baseline


def exact_frontier(shared: Shared) -> Frontier | None:
    """The exact optimal KL–reward frontier, when the task can enumerate every response of every test prompt."""
    enumeration = shared.enumeration
    if enumeration is None or enumeration.sft_logp is None:
        return None
    return optimal_frontier(enumeration.sft_logp, enumeration.gold)
