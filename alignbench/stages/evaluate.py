"""Stage 3: every method × baseline × evaluator of the run through the one evaluation flow."""

from __future__ import annotations

from ..config import Config
from ..evaluation.evaluate import RowContext, StatisticsSettings, evaluate
from ..evaluation.evaluators import Comparison, EvaluatorSources, build_evaluator
from ..evaluation.outputs import OutputRecord
from ..evaluation.schema import LeaderboardRow
from ..rundir import RunDir
from ..tasks.chat import record_extra
from .fit_and_generate import Fitted, policy_columns
from .prepare import Shared


def evaluate_run(cfg: Config, rd: RunDir, shared: Shared, fitted: list[Fitted], judges: list[str],
                 progress) -> tuple[list[LeaderboardRow], list[Comparison]]:
    """The run's rows (seeds combined) and the per-prompt comparisons behind them."""
    task = shared.task
    rc = cfg.reward_model
    sources = EvaluatorSources(
        reward_model=shared.reward_model,
        reward_model_identity=f"rm:{rc.path}" if rc.path else f"train RM ({rc.backbone}, {rc.loss})",
        gold_reward=task.gold_reward,
        judgments_dir=rd.path / "judgments",
        notify=progress.log,
        task=task,
        sft_policy=shared.sft,
    )
    evaluators = [build_evaluator(name, sources) for name in cfg.evaluation.evaluators]
    evaluators += [build_evaluator(f"llm:{judge}", sources) for judge in judges]
    outputs: dict[str, dict[int, list[OutputRecord]]] = {}
    infos: dict[str, list[dict]] = {}
    for f in fitted:
        outputs.setdefault(f.label, {})[f.seed] = f.outputs()
        infos.setdefault(f.label, []).append(f.info)
    dataset = [OutputRecord(p.prompt_id, p.text, task.test_references[p.prompt_id], "dataset", None,
                            record_extra(p.text))
               for p in task.test_prompts if p.prompt_id in task.test_references]
    baselines = {"dataset": {s: dataset for s in cfg.seeds}, "sft": outputs.get("sft", {})}
    names = [n for n in cfg.evaluation.baselines if n != "dataset" or task.test_references]
    if len(names) < len(cfg.evaluation.baselines):
        progress.log("no \"dataset\" baseline: the test prompts have no reference responses")
    baselines = {name: baselines[name] for name in names}
    context = RowContext(task=task.name, run_id=rd.manifest["run_id"], seeds=",".join(str(s) for s in cfg.seeds),
                         method_columns=lambda label: policy_columns(infos[label], cfg.beta))
    settings = StatisticsSettings(cfg.evaluation.bootstrap, cfg.seed, cfg.evaluation.ci)
    rows, comparisons = evaluate(outputs, baselines, evaluators, settings, context, progress)
    for e in evaluators:  # where the evaluation's time went: each evaluator's requests and scoring
        rd.manifest["stages"][f"evaluation/{e.name}"] = {"seconds": round(e.seconds, 3)}
    return rows, comparisons
