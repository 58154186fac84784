"""`alignbench audit-judge` against a scripted judge whose biases are known by construction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from alignbench.cli import main
from alignbench.errors import AlignbenchError
from alignbench.evaluation.audit import audit_figures, audit_judge, load_labelled_pairs
from alignbench.evaluation.judge_config import load_judge
from alignbench.evaluation.local_server import JudgeServer, ScriptedJudge, _unit, prefer_longer
from alignbench.evaluation.verdicts import parse_verdict

JUDGE = "judges/local-scripted.yaml"
BIAS, UNPARSEABLE, N_PAIRS = 0.3, 0.05, 200


class SometimesUnparseable:
    """Strips the verdict from a share ``rate`` of requests, decided per request content (deterministic)."""

    def __init__(self, script, rate):
        self.script, self.rate = script, rate

    def __call__(self, prompt: str) -> str:
        if _unit("unparseable", prompt) < self.rate:
            return "I cannot decide between these two answers."
        return self.script(prompt)


def _replay(script, pairs):
    """The verdicts the script gives, computed offline without HTTP, from the human-chosen side."""
    judge = load_judge(JUDGE)
    value = {"A": 1.0, "B": 0.0, "tie": 0.5, None: np.nan}
    first = [value[parse_verdict(script(judge.render(p.prompt, p.chosen, p.rejected)), "brackets")] for p in pairs]
    second = [1 - value[parse_verdict(script(judge.render(p.prompt, p.rejected, p.chosen)), "brackets")] for p in pairs]
    return np.array(first), np.array(second)


def _expected(pairs, beta=BIAS, u=UNPARSEABLE) -> dict[str, float]:
    """The scripted judge prefers the longer response; with chance β per request it says "[[A]]" whatever
    the content; with chance u the server's fault plan strips the verdict. Per pair, from the human-chosen side:

    chosen longer:  chosen-first always 1; rejected-first 1 w.p. 1−β (0 when biased: A is the rejected one)
    chosen shorter: chosen-first 1 w.p. β (else 0); rejected-first always 0
    equal length:   each order [[C]] (½) unless biased ([[A]]): both-order score ½ whatever happens
    """
    longer = np.array([len(p.chosen) > len(p.rejected) for p in pairs])
    shorter = np.array([len(p.chosen) < len(p.rejected) for p in pairs])
    equal = ~longer & ~shorter
    both, one = (1 - u) ** 2, u * (1 - u)  # both orders usable; exactly this one usable
    usable = both + 2 * one
    score_longer = (both * (1 - beta / 2) + one * 1 + one * (1 - beta)) / usable
    score_shorter = (both * beta / 2 + one * beta + one * 0) / usable
    agreement = (longer.sum() * score_longer + shorter.sum() * score_shorter + equal.sum() * 0.5) / len(pairs)
    unequal = longer | shorter
    consistency = (unequal.sum() * (1 - beta) + equal.sum() * (1 - beta) ** 2) / len(pairs)
    # Unequal pairs: every verdict is decisive; the longer one is first in one order (chosen: 1) and
    # second in the other (chosen first only when biased: β). Equal pairs: only biased verdicts are decisive.
    first_pos = (unequal.sum() * (1 + beta) / 2 * 2 + equal.sum() * beta * 2) / (
        unequal.sum() * 2 + equal.sum() * beta * 2
    )
    return {"agreement_with_human": 100 * agreement, "position_consistency": 100 * consistency,
            "first_position_rate": 100 * first_pos, "length_bias": 100 * (1 - score_shorter),
            "unparseable_rate": 100 * u}


def test_audit_figures_match_the_construction(tmp_path):
    """Broken variants this catches: length bias computed over all pairs rather than those where the
    human chose the shorter (it would read ~50 %, not 85 %); first-position rate counting the
    baseline-first order's verdicts by outcome rather than by position (~50 %, not 65 %); agreement
    from the first order alone (it would read ~57 %, not ~43 %); tokens summed from the cached
    records twice (the second, fully cached run would differ)."""
    pairs = load_labelled_pairs(limit=N_PAIRS)
    expected = _expected(pairs)
    script = SometimesUnparseable(ScriptedJudge(prefer_longer, position_bias=BIAS), UNPARSEABLE)
    with JudgeServer(script) as srv:
        result = audit_judge(JUDGE, limit=N_PAIRS, out_dir=tmp_path / "audit", base_url=srv.base_url, n_boot=1000)
        requests = srv.requests
        again = audit_judge(JUDGE, limit=N_PAIRS, out_dir=tmp_path / "audit", base_url=srv.base_url, n_boot=1000)
        assert srv.requests == requests == 2 * N_PAIRS  # the second audit is served from the judgment store
    replayed = audit_figures(*_replay(script, pairs), np.array([len(p.chosen) < len(p.rejected) for p in pairs]),
                             n_boot=1000)
    for name, value in expected.items():
        fig = result["figures"][name]
        print(f"{name:<22} construction {value:5.1f}  measured {fig['percent']:5.1f} [{fig['ci_low']:5.1f}, "
              f"{fig['ci_high']:5.1f}] over {fig['n']}")
        # Over HTTP, each figure is exactly what the script's verdicts imply, interval included ...
        assert (fig["percent"], fig["ci_low"], fig["ci_high"], fig["n"]) == pytest.approx(
            replayed[name], nan_ok=True
        ), name
        # ... and those verdicts are one draw of the construction: within about 4 standard errors of it.
        half = (fig["ci_high"] - fig["ci_low"]) / 2
        assert abs(fig["percent"] - value) < 2 * half and half < 10, name
    assert result["n_judged_now"] == 2 * N_PAIRS and result["judgments_per_second"] > 0
    assert again["n_cached"] == 2 * N_PAIRS and again["judgments_per_second"] is None
    # The scripted server reports len(text) // 4 tokens for the prompt it got and the reply it sent.
    judge = load_judge(JUDGE)
    rendered = [
        judge.render(p.prompt, a, b) for p in pairs for a, b in ((p.chosen, p.rejected), (p.rejected, p.chosen))
    ]
    assert result["prompt_tokens"] == again["prompt_tokens"] == sum(len(t) // 4 for t in rendered)
    records = [json.loads(x) for x in (tmp_path / "audit" / "judgments.jsonl").read_text().splitlines()]
    assert result["completion_tokens"] == sum(len(r["raw"]) // 4 for r in records)
    assert result["price"] is None
    assert json.loads((tmp_path / "audit" / "audit.json").read_text())["n_pairs"] == N_PAIRS


def test_audit_cli_prints_the_table_and_prices_tokens(tmp_path, capsys):
    data = yaml.safe_load(open(JUDGE, encoding="utf-8"))
    data.update(template=str(Path("judges/templates/pairwise.txt").resolve()),
                price_per_million_prompt_tokens=2.5, price_per_million_completion_tokens=10.0)
    priced = tmp_path / "priced.yaml"
    priced.write_text(yaml.safe_dump(data))
    with JudgeServer(ScriptedJudge(prefer_longer)) as srv:
        code = main(["audit-judge", "--judge", str(priced), "--limit", "12", "--base-url", srv.base_url,
                     "--out", str(tmp_path / "a"), "--quiet", "--bootstrap", "200"])
    out, err = capsys.readouterr()
    assert code == 0, err
    for label in ("agreement with human label", "position consistency", "first-position rate",
                  "longer wins when human chose shorter", "unparseable verdicts", "judgments per second",
                  "tokens used"):
        assert label in out
    audit = json.loads((tmp_path / "a" / "audit.json").read_text())
    assert audit["price"] == pytest.approx((audit["prompt_tokens"] * 2.5 + audit["completion_tokens"] * 10.0) / 1e6)
    assert f"price {audit['price']:.4f}" in out
    # A judge with no position bias is perfectly consistent.
    assert audit["figures"]["position_consistency"]["percent"] == 100.0


def test_audit_figures_by_hand():
    first = np.array([1, 1, 0, np.nan, 0.5])
    second = np.array([1, 0, 0, 0, np.nan])
    shorter = np.array([False, True, True, True, False])
    f = audit_figures(first, second, shorter, n_boot=200)
    assert f["agreement_with_human"][0] == pytest.approx(100 * (1 + 0.5 + 0 + 0 + 0.5) / 5)
    assert f["position_consistency"][0] == pytest.approx(100 * 2 / 3)
    # decisive: first 1,1,0 (chose first: 2); second 1,0,0,0 (chose first = chosen lost: 3) → 5 of 7
    assert f["first_position_rate"][0] == pytest.approx(100 * 5 / 7)
    assert f["length_bias"][0] == pytest.approx(100 * (0.5 + 1 + 1) / 3)
    assert f["unparseable_rate"][0] == pytest.approx(100 * 2 / 10)


def test_audit_rejects_bad_input(tmp_path):
    with pytest.raises(AlignbenchError, match="--limit"):
        load_labelled_pairs(limit=0)
    with pytest.raises(AlignbenchError, match="file not found"):
        load_labelled_pairs(tmp_path / "missing.jsonl")
    custom = tmp_path / "pairs.jsonl"
    custom.write_text('{"prompt": "q", "chosen": "yes", "rejected": "no"}\n{"prompt": "r", '
                      '"chosen": "a", "rejected": "bb"}\n')
    assert [p.chosen for p in load_labelled_pairs(custom)] == ["yes", "a"]


def test_audit_of_the_simulated_annotator_offline(tmp_path):
    """The quickstart's simulated annotator (first-position bias 0.7) on oracle pairs labelled by BT on r*:
    its first-position bias shows (> 55 % of decisive verdicts), and it agrees with the BT labels more
    often than not (they were drawn from the same r*)."""
    result = audit_judge("simulated", limit=150, out_dir=tmp_path / "sim", n_boot=500)
    figures = result["figures"]
    print({k: round(v["percent"], 1) for k, v in figures.items()})
    assert result["n_pairs"] == 150 and result["judge"] == "simulated"
    assert figures["first_position_rate"]["ci_low"] > 55
    assert figures["agreement_with_human"]["ci_low"] > 50
    assert figures["length_bias"]["n"] == 0  # oracle responses all have the same length
    with pytest.raises(AlignbenchError, match="leave out --pairs"):
        audit_judge("simulated", pairs_path=tmp_path / "x.jsonl")
