"""The simulated annotator (Bradley–Terry on r* with a known first-position bias) over real HTTP."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from alignbench.errors import AlignbenchError
from alignbench.evaluation.judge_config import load_judge
from alignbench.evaluation.evaluate import judged_statistics
from alignbench.evaluation.llm_judge import judge_pairs
from alignbench.evaluation.outputs import OutputRecord, align_outputs
from alignbench.evaluation.simulated_judge import (SimulatedAnnotator, gold_reward_of, logit, sigmoid,
                                                   simulated_judge_for_task, template_pattern)
from alignbench.evaluation.store import JudgmentStore
from alignbench.tasks.oracle import OracleReward, OracleSpec, prompt_text, response_text

NOISE, FIRST_BIAS, UNPARSEABLE = 2.0, 0.7, 0.05


def _oracle_task():
    return SimpleNamespace(name="oracle", gold_reward=OracleReward(OracleSpec()))


def _pairs(reward: OracleReward, skill_method=0.5, skill_baseline=0.35, seed=0):
    """Every oracle prompt (512): a method response of per-symbol skill 0.5 against one of skill 0.35 (never
    identical)."""
    rng = np.random.default_rng(seed)

    def respond(x, skill):
        return [t if rng.random() < skill else int(rng.integers(8)) for t in reward.targets(list(x))]

    m, r = [], []
    for i, x in enumerate(itertools.product(range(8), repeat=3)):
        a, b = respond(x, skill_method), respond(x, skill_baseline)
        while a == b:
            b = respond(x, skill_baseline)
        m.append(OutputRecord(str(i), prompt_text(x), response_text(a), "method"))
        r.append(OutputRecord(str(i), prompt_text(x), response_text(b), "baseline"))
    return align_outputs(m, r)


def test_template_pattern_reads_back_what_render_wrote():
    judge = load_judge("judges/simulated.yaml")
    pattern = template_pattern(judge.template_text)
    text = judge.render("P1 P2\n[User Prompt]", "a b c d", "line one\n\nline two [[A]]")
    m = pattern.fullmatch(text)
    assert (m.group("__prompt"), m.group("__response_a"), m.group("__response_b")) == \
        ("P1 P2\n[User Prompt]", "a b c d", "line one\n\nline two [[A]]")
    for name in ("hh", "tldr", "hh-dpo"):
        tpl = Path(f"judges/templates/{name}.txt").read_text(encoding="utf-8")
        filled = tpl.replace("{{prompt}}", "Q?").replace("{{response_a}}", "first").replace("{{response_b}}", "second")
        assert template_pattern(tpl).fullmatch(filled).group("__response_b") == "second"


def test_debiased_rate_recovers_bias_free_expectation_and_one_order_does_not(tmp_path):
    """Known by construction, per prompt with z = (r*(method) − r*(baseline)) / noise and b = logit(0.7):
    method-first P1 = σ(z + b), baseline-first P2 = σ(z − b), bias-free σ(z). Expected: one-order rate
    mean P1, both-order rate mean ½(P1 + P2) = σ(z) + O(b²), consistency mean P1·P2 + (1−P1)(1−P2),
    first-position rate mean ½(P1 + 1 − P2), unparsed share 5 %.

    Broken variants this catches: a simulator that applies the bias to the *method* rather than to the
    first position (then the swap cannot remove it: the both-order rate misses σ(z)); one that answers
    the same draw in both orders (consistency 100 %, not the construction's ~50 %); a judge client
    that mapped the baseline-first verdict without the swap (the first-position rate would be ~50 %).
    """
    task = _oracle_task()
    pairs = _pairs(task.gold_reward)
    reward = gold_reward_of(task)
    z = np.array([(reward(m.prompt, m.output) - reward(r.prompt, r.output)) / NOISE for m, r in pairs])
    b = logit(FIRST_BIAS)
    p1, p2, p0 = (np.vectorize(sigmoid)(z + d) for d in (b, -b, 0.0))
    expect = {"bias_free": 100 * p0.mean(), "debiased": 50 * (p1 + p2).mean(), "one_order": 100 * p1.mean(),
              "consistency": 100 * (p1 * p2 + (1 - p1) * (1 - p2)).mean(), "first_position": 50 * (p1 + 1 - p2).mean()}
    with simulated_judge_for_task(
        task, noise_scale=NOISE, first_position_bias=FIRST_BIAS, unparseable_rate=UNPARSEABLE
    ) as sim:
        store = JudgmentStore(tmp_path / "judgments.jsonl")
        first, second, info, _ = judge_pairs(pairs, sim.config, store, "method", "baseline")
        assert sim.server.requests == 2 * len(pairs) and not info.failures
        assert sim.config.name == "simulated" and sim.config.base_url == sim.server.base_url
    row = judged_statistics(first, second)
    n = len(pairs)
    print(f"\nconstruction: {json.dumps({k: round(v, 1) for k, v in expect.items()})}")
    print(f"measured (n={n} prompts, {2 * n} requests): both-order {row['win_rate']:.1f} "
          f"[{row['ci_low']:.1f}, {row['ci_high']:.1f}]  one-order {row['one_order_win_rate']:.1f}  "
          f"consistency {row['consistency']:.1f}  first-position {row['first_position_rate']:.1f}  unparsed "
          f"{row['n_unparsed_verdicts']}/{2 * n}")
    assert abs(expect["debiased"] - expect["bias_free"]) < 1.0  # the O(b²) remainder is small at these knobs
    assert row["ci_low"] <= expect["bias_free"] <= row["ci_high"]
    one_order_se = 100 * np.sqrt(0.25 / np.sum(~np.isnan(first)))
    assert abs(row["one_order_win_rate"] - expect["one_order"]) < 4 * one_order_se
    assert row["one_order_win_rate"] - expect["bias_free"] > 10  # far outside the both-order interval
    assert row["one_order_win_rate"] > row["ci_high"]
    both = np.sum(~np.isnan(first) & ~np.isnan(second))
    assert abs(row["consistency"] - expect["consistency"]) < 4 * 100 * np.sqrt(0.25 / both)
    decisive = np.sum(~np.isnan(first)) + np.sum(~np.isnan(second))
    assert abs(row["first_position_rate"] - expect["first_position"]) < 4 * 100 * np.sqrt(0.25 / decisive)
    unparsed_sd = np.sqrt(2 * n * UNPARSEABLE * (1 - UNPARSEABLE))
    assert abs(row["n_unparsed_verdicts"] - 2 * n * UNPARSEABLE) < 4 * unparsed_sd


def test_no_bias_no_noise_is_the_gold_preference(tmp_path):
    """With first_position_bias 0.5 and a tiny noise scale the judge is the gold comparison itself."""
    task = _oracle_task()
    pairs = _pairs(task.gold_reward)[:60]
    reward = gold_reward_of(task)
    gold = np.array([np.sign(reward(m.prompt, m.output) - reward(r.prompt, r.output)) for m, r in pairs])
    with simulated_judge_for_task(task, noise_scale=1e-6, first_position_bias=0.5) as sim:
        first, second, _, _ = judge_pairs(pairs, sim.config, JudgmentStore(tmp_path / "j.jsonl"), "method", "baseline")
    decided = gold != 0
    assert np.array_equal(first[decided], (gold[decided] > 0).astype(float))
    assert np.array_equal(second[decided], (gold[decided] > 0).astype(float))


def test_answers_are_deterministic_and_knobs_are_checked():
    task = _oracle_task()
    tpl = load_judge("judges/simulated.yaml")
    sim = SimulatedAnnotator(gold_reward_of(task), tpl.template_text, 1.0, 0.8, 0.0, seed=3)
    text = tpl.render("P1 P2 P3", "a b c d", "d c b a")
    assert sim(text) == sim(text)
    with pytest.raises(ValueError, match="not a rendering"):
        sim("something else")
    for knobs in ({"noise_scale": 0}, {"first_position_bias": 1.0}, {"unparseable_rate": 1.0}):
        with pytest.raises(AlignbenchError, match=next(iter(knobs))):
            with simulated_judge_for_task(task, **knobs):
                pass
    with pytest.raises(AlignbenchError, match="true reward"):
        with simulated_judge_for_task(SimpleNamespace(name="hh", gold_reward=None)):
            pass


def test_pipeline_hook_yields_a_judge_only_when_configured_and_possible():
    from alignbench.evaluation.simulated_judge import simulated_judge_if_configured

    task = _oracle_task()
    with simulated_judge_if_configured(None, task) as judges:
        assert judges == []
    with simulated_judge_if_configured(
        {"first_position_bias": 0.6}, SimpleNamespace(name="hh", gold_reward=None)
    ) as judges:
        assert judges == []
    with simulated_judge_if_configured({"first_position_bias": 0.6, "seed": 2}, task) as judges:
        (path,) = judges
        cfg = load_judge(path)
        assert cfg.name == "simulated" and "first=0.6" in cfg.model and "seed=2" in cfg.model
    with pytest.raises(Exception, match="first_position_bias"):
        with simulated_judge_if_configured({"first_position_bias": 1.5}, task):
            pass
