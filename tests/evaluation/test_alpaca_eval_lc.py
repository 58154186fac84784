"""alpaca_eval's length-controlled win rate: the exact path against the alpaca-eval package's own function,
the jointly estimated instruction difficulty, the lc_method column and the baseline's own LC."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from alignbench.cli import main
from alignbench.errors import AlignbenchError
from alignbench.evaluation.alpaca_eval import rows_from_annotation_files

N = 300


def _annotations(rng, model: str, theta: float, difficulty: np.ndarray, verbosity: float, bias: float = 1.5,
                 baseline: str = "gpt4_ref") -> list[dict]:
    """A judge preferring the model by θ + d_i + bias · tanh(standardised length advantage), answering with
    soft preferences in [1, 2], some draws (0) and one missing verdict."""
    n = len(difficulty)
    base_len = rng.integers(80, 400, n)
    model_len = np.maximum(5, base_len + rng.normal(verbosity, 120, n)).astype(int)
    delta = model_len - base_len
    p = expit(theta + difficulty + bias * np.tanh(delta / delta.std(ddof=1)))
    pref = np.where(rng.random(n) < 0.5, 1 + (rng.random(n) < p), 1 + np.round(p, 2))
    out = [{"instruction": f"instruction {i}", "output_1": "b" * int(base_len[i]), "output_2": "m" * int(model_len[i]),
            "generator_1": baseline, "generator_2": model, "annotator": "stand_in", "preference": float(pref[i])}
           for i in range(n)]
    out[3]["preference"], out[7]["preference"], out[11]["preference"] = 0, None, 0
    return out


def _df_gamed(rng, difficulty: np.ndarray) -> pd.DataFrame:
    """A stand-in for alpaca_eval's df_gamed.csv: two gamed variants of the baseline on every instruction,
    the first one's rows in instruction order (so row i is the first row of index i, as alpaca_eval expects)."""
    frames = [pd.DataFrame({"index": np.arange(len(difficulty)), "preference": rng.random(len(difficulty)).round(3),
                            "std_delta_len": rng.normal(shift, 1, len(difficulty)),
                            "instruction_difficulty": difficulty, "not_gamed_baseline": False, "model": name})
              for name, shift in (("gpt4_ref_verbose", -1.0), ("gpt4_ref_concise", 1.0))]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def alpaca_eval_glm(monkeypatch):
    """The alpaca-eval package's glm_winrate, reading the stand-in df_gamed.csv instead of downloading it."""
    # alpaca_eval.utils imports it for version checks only; setuptools ≥ 81 dropped it
    if "pkg_resources" not in sys.modules:
        monkeypatch.setitem(sys.modules, "pkg_resources", types.ModuleType("pkg_resources"))
    glm = pytest.importorskip("alpaca_eval.metrics.glm_winrate")
    return glm


def test_exact_path_equals_alpaca_evals_own_function(tmp_path, alpaca_eval_glm, monkeypatch):
    """--lc-weights DIR: lc_win_rate and lc_std_error are alpaca_eval's length_controlled_v1 (|Δ| ≤ 1e-6);
    without it, one file alone: alpaca_eval's length_controlled_minimal GLM."""
    rng = np.random.default_rng(0)
    difficulty = rng.normal(0, 1.5, N)
    gamed_dir = tmp_path / "glm"
    gamed_dir.mkdir()
    _df_gamed(rng, difficulty).to_csv(gamed_dir / "df_gamed.csv", index=False)
    monkeypatch.setattr(alpaca_eval_glm, "hf_hub_download", lambda **kw: str(gamed_dir / "df_gamed.csv"))
    ann = _annotations(rng, "verbose-model", -1.0, difficulty, verbosity=150)
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(ann))

    theirs = alpaca_eval_glm.get_length_controlled_winrate(ann, save_weights_dir=None)
    row = rows_from_annotation_files([path], n_bootstrap=100, lc_weights=gamed_dir)[0]
    assert row["lc_method"] == "alpaca_eval"
    assert abs(row["lc_win_rate"] - theirs["length_controlled_winrate"]) <= 1e-6
    assert abs(row["lc_std_error"] - theirs["lc_standard_error"]) <= 1e-6
    assert abs(row["win_rate"] - theirs["win_rate"]) <= 1e-9
    assert row["lc_ci_low"] < row["lc_win_rate"] < row["lc_ci_high"]

    minimal = alpaca_eval_glm.get_length_controlled_winrate(ann, glm_name="length_controlled_minimal",
                                                            save_weights_dir=None)
    alone = rows_from_annotation_files([path], n_bootstrap=100)[0]
    assert alone["lc_method"] == "length-only"
    assert abs(alone["lc_win_rate"] - minimal["length_controlled_winrate"]) <= 1e-6
    assert abs(alone["lc_win_rate"] - row["lc_win_rate"]) > 0.5  # the difficulty and gamed rows matter here


def test_baseline_against_itself_is_50(tmp_path):
    rng = np.random.default_rng(1)
    ann = _annotations(rng, "gpt4_ref", 0.0, np.zeros(40), verbosity=0)
    path = tmp_path / "gpt4_ref.json"
    path.write_text(json.dumps(ann))
    row = rows_from_annotation_files([path], n_bootstrap=100)[0]
    assert (row["lc_win_rate"], row["lc_ci_low"], row["lc_ci_high"], row["lc_std_error"]) == (50.0, 50.0, 50.0, 0.0)


def _confounded(rng, model: str, theta: float, difficulty: np.ndarray, verbosity: float) -> list[dict]:
    """Harder prompts get longer answers (from the baseline and, ×(1 + verbosity), from the model), so length
    and difficulty are confounded, as on alpaca_eval's instructions; a length-biased judge, hard labels."""
    n = len(difficulty)
    base_len = np.maximum(20, 200 + 60 * difficulty + rng.normal(0, 40, n)).astype(int)
    model_len = np.maximum(5, base_len * (1 + verbosity) + rng.normal(0, 80, n)).astype(int)
    delta = model_len - base_len
    pref = 1 + (rng.random(n) < expit(theta + difficulty + 1.5 * np.tanh(delta / delta.std(ddof=1))))
    return [{"instruction": f"instruction {i}", "output_1": "b" * int(base_len[i]), "output_2": "m" * int(model_len[i]),
             "generator_1": "ref", "generator_2": model, "preference": float(pref[i])} for i in range(n)]


def test_difficulty_estimated_jointly_over_files_beats_length_only(tmp_path):
    """Eight models on the same 200 prompts (difficulty sd 2, confounded with length): imported together
    (lc_method estimated) their LC is far closer to the unbiased win rate mean_i σ(θ_m + d_i) than each
    file alone (length-only). Measured mean |error| (seeds 0, 1, 2): estimated 5.6, 2.3, 4.5; length-only
    21.3, 14.3, 18.0."""
    rng = np.random.default_rng(1)
    difficulty = rng.normal(0, 2.0, 200)
    models = {f"m{k}": tv for k, tv in enumerate([(-1.5, 0.8), (-0.5, 0.4), (0, -0.3), (0.5, 0), (1, 1.0), (-1, -0.5),
                                                   (0.3, 0.6), (-0.8, 0.2)])}
    paths = []
    for name, (theta, verbosity) in models.items():
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(_confounded(rng, name, theta, difficulty, verbosity)))
    truth = {m: 100 * expit(theta + difficulty).mean() for m, (theta, _) in models.items()}
    together = {r["method"]: r for r in rows_from_annotation_files(paths, n_bootstrap=100)}
    alone = {p.stem: rows_from_annotation_files([p], n_bootstrap=100)[0] for p in paths}
    assert {r["lc_method"] for r in together.values()} == {"estimated"}
    assert {r["lc_method"] for r in alone.values()} == {"length-only"}
    err_est = np.mean([abs(together[m]["lc_win_rate"] - t) for m, t in truth.items()])
    err_alone = np.mean([abs(alone[m]["lc_win_rate"] - t) for m, t in truth.items()])
    assert err_est < 8 and err_alone > 10, (err_est, err_alone)


def test_leaderboard_cli_names_the_lc_method(tmp_path):
    rng = np.random.default_rng(3)
    difficulty = rng.normal(0, 1, 60)
    files = []
    for name in ("a", "b"):
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(json.dumps(_annotations(rng, name, 0.0, difficulty, 50)))
    out = tmp_path / "lb.csv"
    assert (
        main(["leaderboard", "--alpaca-eval", *map(str, files), "--out", str(out), "--quiet", "--bootstrap", "100"])
        == 0
    )
    df = pd.read_csv(out)
    assert list(df["lc_method"]) == ["estimated", "estimated"]
    assert "estimated jointly from the models imported together" in out.with_suffix(".md").read_text()
    assert "estimated jointly from the models imported together" in out.with_suffix(".html").read_text()


def test_bad_glm_inputs_are_one_line_errors(tmp_path, capsys):
    rng = np.random.default_rng(4)
    ann = tmp_path / "a.json"
    ann.write_text(json.dumps(_annotations(rng, "m", 0.0, np.zeros(30), 50)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AlignbenchError, match="no df_gamed.csv"):
        rows_from_annotation_files([ann], lc_weights=empty)
    short = tmp_path / "short"
    short.mkdir()
    _df_gamed(rng, np.zeros(20)).to_csv(short / "df_gamed.csv", index=False)
    with pytest.raises(AlignbenchError, match="annotation 20 has no instruction difficulty"):
        rows_from_annotation_files([ann], lc_weights=short)
    _df_gamed(rng, np.zeros(30)).drop(columns=["std_delta_len"]).to_csv(short / "df_gamed.csv", index=False)
    with pytest.raises(AlignbenchError, match="missing column.*std_delta_len"):
        rows_from_annotation_files([ann], lc_weights=short)
    assert main(["leaderboard", "--lc-weights", str(short), str(tmp_path), "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--lc-weights" in err
