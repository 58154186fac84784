"""The simulated judge in the quickstart: its rows beside the gold rows, and how well each ranking agrees.

Runs (or resumes) the quickstart with the simulated annotator added the way the pipeline hook does
(``simulated_judge_if_configured`` around ``evaluate_run``), then ranks the methods against each
baseline by gold win rate, by the debiased (both-order) simulated-judge win rate, and by the win rate
the method-first order alone gives. Prints Spearman and Kendall correlations of each judge ranking
with the gold ranking, and the rows.

    PYTHONPATH=. python benchmarks/bench_simulated_judge.py --run-dir /tmp/qs --leaderboard-dir /tmp/qs-lb
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scipy.stats import kendalltau, spearmanr

from alignbench import pipeline
from alignbench.config import load_config
from alignbench.evaluation.outputs import align_outputs
from alignbench.evaluation.simulated_judge import (SimulatedJudgeSettings, gold_reward_of, sigmoid,
                                                   simulated_judge_if_configured)


def bias_free_expectations(cfg, shared, fitted, noise_scale) -> dict:
    """(method, baseline) → the win rate a bias-free simulated annotator gives in expectation:
    mean over prompts of σ(Δr*/noise), ½ where the two outputs are the same text (first seed)."""
    reward = gold_reward_of(shared.task)
    task, seed = shared.task, cfg.seeds[0]
    first_seed = {f.label: f.outputs() for f in fitted if f.seed == seed}
    refs = [type(o)(p.prompt_id, p.text, task.test_references[p.prompt_id], "dataset") for p, o in
            zip(task.test_prompts, first_seed["sft"])]
    out = {}
    for label, mine in first_seed.items():
        for baseline, ref in (("dataset", refs), ("sft", first_seed["sft"])):
            vals = [
                0.5
                if m.output == r.output
                else sigmoid((reward(m.prompt, m.output) - reward(r.prompt, r.output)) / noise_scale)
                for m, r in align_outputs(mine, ref)
            ]
            out[(label, baseline)] = 100 * sum(vals) / len(vals)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="quickstart")
    ap.add_argument("--run-dir", type=Path, required=True)
    ap.add_argument("--leaderboard-dir", type=Path, required=True)
    ap.add_argument("--noise-scale", type=float, default=1.0)
    ap.add_argument("--first-position-bias", type=float, default=0.7)
    ap.add_argument("--unparseable-rate", type=float, default=0.02)
    a = ap.parse_args()
    settings = SimulatedJudgeSettings(noise_scale=a.noise_scale, first_position_bias=a.first_position_bias,
                                      unparseable_rate=a.unparseable_rate)
    evaluate_run = pipeline.evaluate_run
    expected = {}

    def with_simulated_judge(cfg, rd, shared, fitted, judges, progress):
        expected.update(bias_free_expectations(cfg, shared, fitted, settings.noise_scale))
        with simulated_judge_if_configured(settings, shared.task) as extra:
            return evaluate_run(cfg, rd, shared, fitted, list(judges) + extra, progress)

    pipeline.evaluate_run = with_simulated_judge
    # this script adds its own, with the settings above
    cfg = load_config(a.config, ["evaluation.simulated_judge=null"])
    rows = pipeline.run_comparison(cfg, run_dir=a.run_dir, leaderboard_dir=a.leaderboard_dir, quiet=True)
    report = {"settings": settings.model_dump(), "baselines": {}}
    for baseline in sorted({r["baseline"] for r in rows}):
        gold = {
            r["method"]: r["win_rate"] for r in rows if r["baseline"] == baseline and r["evaluator"] == "gold-reward"
        }
        sim = {r["method"]: r for r in rows if r["baseline"] == baseline and r["evaluator"] == "llm:simulated"}
        methods = sorted(gold)
        g = [gold[m] for m in methods]
        both = [sim[m]["win_rate"] for m in methods]
        one = [sim[m]["one_order_win_rate"] for m in methods]
        free = [expected[(m, baseline)] for m in methods]
        report["baselines"][baseline] = {
            "n_methods": len(methods),
            "spearman_debiased": spearmanr(g, both).statistic,
            "spearman_one_order": spearmanr(g, one).statistic,
            "kendall_debiased": kendalltau(g, both).statistic,
            "kendall_one_order": kendalltau(g, one).statistic,
            "spearman_bias_free_vs_gold": spearmanr(g, free).statistic,
            "mean_abs_error_vs_bias_free_debiased": sum(abs(x - y) for x, y in zip(both, free)) / len(methods),
            "mean_abs_error_vs_bias_free_one_order": sum(abs(x - y) for x, y in zip(one, free)) / len(methods),
            "debiased_interval_covers_bias_free": sum(
                sim[m]["ci_low"] <= expected[(m, baseline)] <= sim[m]["ci_high"] for m in methods
            ),
            "rows": [
                {
                    "method": m,
                    "gold": gold[m],
                    "bias_free": expected[(m, baseline)],
                    "debiased": sim[m]["win_rate"],
                    "ci": [sim[m]["ci_low"], sim[m]["ci_high"]],
                    "one_order": sim[m]["one_order_win_rate"],
                    "consistency": sim[m]["consistency"],
                    "first_position_rate": sim[m]["first_position_rate"],
                    "n_parse_failures": sim[m]["n_parse_failures"],
                }
                for m in methods
            ],
        }
        print(f"vs {baseline}: {len(methods)} methods; rank correlation with gold — debiased Spearman "
              f"{report['baselines'][baseline]['spearman_debiased']:.3f} / Kendall "
              f"{report['baselines'][baseline]['kendall_debiased']:.3f}; one-order Spearman "
              f"{report['baselines'][baseline]['spearman_one_order']:.3f} / Kendall "
              f"{report['baselines'][baseline]['kendall_one_order']:.3f}; bias-free expectation Spearman "
              f"{report['baselines'][baseline]['spearman_bias_free_vs_gold']:.3f}")
        b = report["baselines"][baseline]
        print("  mean |judge − bias-free expectation|: debiased "
              f"{b['mean_abs_error_vs_bias_free_debiased']:.1f}, one-order "
              f"{b['mean_abs_error_vs_bias_free_one_order']:.1f} points; debiased interval covers it for "
              f"{b['debiased_interval_covers_bias_free']} of {len(methods)} methods")
        print(f"  {'method':<18} {'gold':>6} {'BT-free':>7} {'debiased [95% CI]':>22} {'one-order':>9} {'consist.':>8} "
              f"{'1st-pos':>7} {'unparsed':>8}")
        for r in report["baselines"][baseline]["rows"]:
            print(f"  {r['method']:<18} {r['gold']:6.1f} {r['bias_free']:7.1f} {r['debiased']:6.1f} "
                  f"[{r['ci'][0]:5.1f}, {r['ci'][1]:5.1f}] {r['one_order']:9.1f} {r['consistency']:8.1f} "
                  f"{r['first_position_rate']:7.1f} {r['n_parse_failures']:8d}")
    (a.leaderboard_dir / "simulated_judge_ranking.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
