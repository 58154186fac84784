"""Run configs: the shipped ones validate, and every bad setting is a one-line error at load, before any training."""

from __future__ import annotations

import pytest
from repo_fixtures import REPO

from alignbench.config import load_config
from alignbench.errors import AlignbenchError

EXPECTED = ["sft", "dpo", "dpo-sft", "best-of-n", "expert-iteration", "arm", "arm-pl", "brain", "exo", "exo-pref",
            "dpo-rw", "ppo",
            "rso", "ipo", "slic", "kto", "orpo", "rrhf", "raft", "pro", "dpo-pl", "preferred-ft", "online-dpo"]


def test_builtin_configs_validate():
    cfg = load_config("quickstart")
    assert list(cfg.methods) == EXPECTED
    assert load_config("quickstart", ["methods.dpo.steps=7"]).methods["dpo"]["steps"] == 7


@pytest.mark.parametrize(
    "override, message",
    [
        ("methods.dpo.beta=-1", "methods.dpo.beta must be a positive number"),
        ("methods.dpo.stepz=3", "unknown hyper-parameter(s) stepz"),
        ("methods.nosuch={}", "unknown method 'nosuch'"),
        ("sft.lr=0", "setting 'sft.lr'"),
        ("seeds=[]", "setting 'seeds'"),
        ("task.name=mnist", "setting 'task.name'"),
    ],
)
def test_bad_settings_are_one_line_errors(override, message):
    with pytest.raises(AlignbenchError) as e:
        load_config("quickstart", [override])
    assert message in str(e.value) and "\n" not in str(e.value)


LATE_FAILURES = [  # (override, message): each once passed loading and failed only after SFT + reward model, or never
    ("methods.dpo.lr=nan", "methods.dpo.lr must be a finite, non-negative number, got str 'nan'"),
    ("methods.dpo.lr='-1'", "methods.dpo.lr must be a finite, non-negative number, got str '-1'"),
    ("methods.dpo.steps=1e30", "methods.dpo.steps must be an integer"),
    ("methods.dpo.steps=1.0e+30", "methods.dpo.steps must be an integer"),
    ("methods.dpo.steps=2.5", "methods.dpo.steps must be an integer"),  # was silently 2
    ("methods.dpo.beta=inf", "methods.dpo.beta must be a finite, non-negative number, got str 'inf'"),
    ("methods.ppo.gae_lambda=-0.5", "methods.ppo.gae_lambda must be a finite, non-negative number"),
    ("methods.dpo-sft.max_prompts=abc", "methods.dpo-sft.max_prompts must be null or an integer"),
    # DPO trains on every pair: was ignored
    ("methods.dpo.max_prompts=8", "methods.dpo: unknown hyper-parameter(s) max_prompts"),
    ("methods.arm.checkpoint_every=.inf", "methods.arm.checkpoint_every must be an integer"),
    ("beta_sweep=[.nan]", "setting 'beta_sweep.0'"),
    ("beta=.inf", "setting 'beta': Input should be a finite number"),
    ("seed=-1", "setting 'seed': Input should be greater than or equal to 0"),
    ("seed=4294967296", "setting 'seed': Input should be less than or equal to 4294967295"),
    ("seeds=[0, -1]", "setting 'seeds.1'"),
    ("evaluation.bootstrap=1.0e+12", "setting 'evaluation.bootstrap'"),
    ("sft.steps=1.0e+12", "setting 'sft.steps'"),
    ("sft.lr=.inf", "setting 'sft.lr'"),
    ("policy.lora={r: 2.5}", "setting 'policy.lora.r'"),
    ("policy.lora={r: 8, alpha: .inf}", "setting 'policy.lora.alpha'"),
    ("policy.lora={rank: 8}", "setting 'policy.lora.rank'"),
    ("task.options.n_test_prompts=2.5", "setting 'task.options.n_test_prompts'"),
    ("task.options.demo_skill=.nan", "setting 'task.options.demo_skill'"),
    ("task.options.seed=-1", "setting 'task.options.seed'"),
    ("task.options.match_weight=[1, 2]", "setting 'task.options.match_weight'"),
]


@pytest.mark.parametrize("override,message", LATE_FAILURES)
def test_every_setting_is_validated_at_load(override, message):
    from alignbench.config import load_config

    with pytest.raises(AlignbenchError) as e:
        load_config(REPO / "tests" / "data" / "tiny.yaml", [override])
    assert message in str(e.value)


def test_valid_settings_still_load():
    """The bounds do not refuse what configs legitimately say (ints for floats, LoRA, a β sweep)."""
    from alignbench.config import load_config

    cfg = load_config(REPO / "tests" / "data" / "tiny.yaml", ["methods.dpo.beta=1", "policy.lora={r: 4, alpha: 8}",
                                                             "beta_sweep=[0.1, 1]", "seeds=[0, 4294967295]",
                                                              "methods.dpo-sft.max_prompts=8"])
    assert cfg.policy.lora == {"r": 4, "alpha": 8} and cfg.seeds == [0, 2**32 - 1]
    for name in ("quickstart", "hh-harmless"):
        load_config(name)


@pytest.mark.parametrize("override",
                         ["sft.steps=true", "seed=true", "reward_model.steps=true", "methods.dpo.steps=true"])
def test_a_boolean_is_not_a_number_in_any_setting(override):
    from alignbench.config import load_config
    from alignbench.errors import AlignbenchError

    with pytest.raises(AlignbenchError, match=override.split("=")[0].replace(".", r"\.")):
        load_config("quickstart", [override])


def test_5e_minus_4_is_a_float_everywhere(tmp_path):
    from alignbench.config import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("sft: {lr: 5e-4}\nreward_model: {lr: 1E-3}\nmethods:\n  dpo: {lr: 5e-4}\n")
    c = load_config(str(cfg))
    assert (c.sft.lr, c.reward_model.lr, c.methods["dpo"]["lr"]) == (5e-4, 1e-3, 5e-4)
    assert load_config("quickstart", ["methods.dpo.lr=2e-5"]).methods["dpo"]["lr"] == 2e-5
    with pytest.raises(Exception, match="sft.lr"):
        load_config("quickstart", ["sft.lr='5e-4'"])  # text stays text: quoted, it is not a number
