"""Typed hyper-parameters: every method's Params dataclass documents, checks and keeps its defaults."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from alignbench.cli import main
from alignbench.config import load_config, method_instances
from alignbench.errors import AlignbenchError
from alignbench.methods._offline import train_config
from alignbench.methods.params import OfflineParams, Params
from alignbench.methods.registry import all_methods, get_method
from alignbench.models.exact import ExactEnumeration
from alignbench.models.policy import Policy

DEFAULTS = Path(__file__).resolve().parents[1] / "data" / "method_defaults.json"


@pytest.mark.parametrize("name", sorted(all_methods()))
def test_every_field_has_a_one_line_help_and_a_default_that_passes_its_own_check(name):
    """Broken variant: a field declared without ``param(..., help)`` (empty help), or a default its own
    annotation refuses (``steps: int = 2.5``): either fails here, not in a user's run."""
    params = get_method(name).Params
    assert issubclass(params, Params) and dataclasses.is_dataclass(params)
    for field_name, type_name, default, help_text in params.describe():
        assert help_text.strip() and "\n" not in help_text, f"{name}.{field_name}: no one-line help"
        assert type_name, f"{name}.{field_name}: no type"
        params.from_dict({field_name: default}, name)


def test_defaults_are_the_published_ones():
    """The move from dicts to dataclasses changed no default, no type (0.1 stays a float, 50 an int) and
    no effective value. Broken variant: BRAIn's lr back to the shared 1e-6, or checkpoint_every back to 0."""
    expected = json.loads(DEFAULTS.read_text())
    assert set(expected) == set(all_methods())
    for name, cls in all_methods().items():
        hp = cls().hp
        assert hp == expected[name], name
        assert {k: type(v) for k, v in hp.items()} == {k: type(v) for k, v in expected[name].items()}, name


def test_checkpoint_every_has_one_default_that_the_trainer_receives():
    """Was 50 in ``_offline.COMMON`` and 0 in ``train_config``'s fallback. Broken variant: train_config
    reading its own default again (``getattr(params, "checkpoint_every", 0)`` on a Params without it)."""
    dpo = get_method("dpo")()
    assert OfflineParams().checkpoint_every == 50
    assert train_config(dpo.params, seed=3).checkpoint_every == 50
    cfg = train_config(get_method("brain")({"rounds": 3, "steps_per_round": 7}).params, seed=0, steps=21)
    assert (cfg.steps, cfg.lr, cfg.seed) == (21, 1e-5, 0)


@pytest.mark.parametrize(
    "method, key, value, message",
    [
        ("dpo", "steps", True, "methods.dpo.steps must be an integer in [0, 1000000000], got bool 'True'"),
        ("dpo", "steps", 2.5, "methods.dpo.steps must be an integer in [0, 1000000000], got float '2.5'"),
        ("dpo", "steps", 0, "methods.dpo.steps must be a positive number, got 0"),
        ("dpo", "lr", -1e-3, "methods.dpo.lr must be a positive number, got -0.001"),
        ("dpo", "lr", "1e-3", "methods.dpo.lr must be a finite, non-negative number, got str '1e-3'"),
        ("ppo", "gae_lambda", float("nan"),
         "methods.ppo.gae_lambda must be a finite, non-negative number, got float 'nan'"),
        ("orpo", "lam", True, "methods.orpo.lam must be a finite, non-negative number, got bool 'True'"),
        ("ipo", "length_average", 1, "methods.ipo.length_average must be true or false, got int '1'"),
        ("rso", "loss", "logistic", "methods.rso.loss must be one of sigmoid, hinge, got 'logistic'"),
        ("dpo", "schedule", "step", "methods.dpo.schedule must be one of constant, linear, cosine, got 'step'"),
        ("dpo-sft", "max_prompts", 1.5,
         "methods.dpo-sft.max_prompts must be null or an integer in [0, 1000000000], got float '1.5'"),
        # the dataset-pair methods train on every pair: max_prompts was accepted there and ignored
        ("dpo", "max_prompts", 8, "methods.dpo: unknown hyper-parameter(s) max_prompts (known: batch_size, beta, "
                                   "checkpoint_every, grad_accum, lr, schedule, steps, warmup_steps)"),
        ("dpo", "grad_accum", 0, "methods.dpo.grad_accum must be a positive number, got 0"),
        ("dpo", "betta", 0.1,
         "methods.dpo: unknown hyper-parameter(s) betta (known: batch_size, beta, checkpoint_every, grad_accum, "
                              "lr, schedule, steps, warmup_steps)"),
        ("sft", "beta", 0.1, "methods.sft: unknown hyper-parameter(s) beta (known: none)"),
    ],
)
def test_wrong_types_and_values_are_one_line_errors(method, key, value, message):
    """Broken variants: a bool accepted as a count (True steps = 1), 2.5 steps truncated to 2, a negative
    learning rate, a misspelt loss name or hyper-parameter accepted silently."""
    with pytest.raises(AlignbenchError) as e:
        get_method(method)({key: value})
    assert str(e.value) == message


def test_params_are_frozen_and_hp_is_their_dict():
    """metrics.json records ``method.hp``; a method cannot change its own hyper-parameters after checking them."""
    method = get_method("kto")({"beta": 0.5}, label="kto-strong")
    assert method.hp["beta"] == 0.5 and method.hp == dataclasses.asdict(method.params)
    with pytest.raises(dataclasses.FrozenInstanceError):
        method.params.beta = -1


def test_the_run_beta_reaches_exactly_the_methods_with_a_beta_field():
    """Broken variant: ``Params.has`` answering from the wrong class (every method getting β, which
    ``exo`` would refuse as an unknown hyper-parameter, or none getting it)."""
    cfg = load_config("quickstart", ["beta=0.25", "methods={dpo: {}, exo: {}, ppo: {}, rso: {beta: 0.5}}"])
    got = {label: method.hp.get("beta") for label, method in method_instances(cfg)}
    assert got == {"dpo": 0.25, "exo": None, "ppo": 0.25, "rso": 0.5}


def test_bad_override_on_the_command_line_is_one_line(capsys):
    assert main(["run", "quickstart", "--set", "methods.dpo.beta=-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("methods.dpo.beta must be a positive number, got -1") and "\n" not in err, err


def test_methods_command_prints_type_default_and_help_of_each_field(capsys):
    """Broken variant: the listing printing names and defaults only (the help never reaches the user)."""
    assert main(["methods", "rso"]) == 0
    out = re.sub(r"[│┃ \n]+", " ", capsys.readouterr().out)
    assert "draws accepted per prompt" in out and " num_accepted int 8 " in out
    assert " loss sigmoid | hinge sigmoid " in out and " max_prompts int | null null " in out
    assert "dpo (" not in out


def test_exact_enumeration_asks_the_policy_interface_for_the_exact_law():
    """The driver does not sniff attributes: every policy answers ``exact_law(enumeration)`` (Policy's default
    enumerates its own law, best-of-n's wrapper overrides it). Broken variants: the old ``getattr`` probing,
    under which an object that is no policy silently had no exact law (None) instead of failing; or
    preferring ``exact_logprobs`` to the declared ``exact_law`` (the decoy below)."""

    class Declared:
        def exact_law(self, enumeration):
            return ("declared", tuple(enumeration.prompts))

        def exact_logprobs(self, prompts):
            return "decoy"

    class FixedAlphabet:
        def exact_logprobs(self, prompts):
            return ("own", tuple(prompts))

    enumeration = ExactEnumeration(sft_policy=object(), prompts=["a", "b"], gold_reward=None)
    assert enumeration.logprobs(Declared()) == ("declared", ("a", "b"))
    assert Policy.exact_law(FixedAlphabet(), enumeration) == ("own", ("a", "b"))
    with pytest.raises(AttributeError):
        enumeration.logprobs(FixedAlphabet())


def test_slic_refuses_sampling_settings_with_dataset_pairs():
    """``pairs: dataset`` trains on every dataset pair: max_prompts and pairs_per_prompt were ignored there."""
    with pytest.raises(AlignbenchError,
                       match=r"^methods.slic-direct: max_prompts and pairs_per_prompt apply to pairs: sft-rm"):
        get_method("slic")({"pairs": "dataset", "max_prompts": 8}, label="slic-direct")
    assert get_method("slic")({"pairs": "sft-rm", "max_prompts": 8}).params.max_prompts == 8


def test_rounds_methods_refuse_steps_they_would_ignore():
    """BRAIn, RAFT and online DPO take rounds × steps_per_round steps and keep no mid-method checkpoints:
    ``steps: 500`` and ``checkpoint_every: 10`` were accepted and ignored."""
    for name in ("brain", "raft", "online-dpo"):
        with pytest.raises(AlignbenchError,
                           match=rf"^methods.{name}: steps \(500\) is not used by a method that trains in rounds"):
            get_method(name)({"steps": 500})
        with pytest.raises(AlignbenchError, match=rf"^methods.{name}: checkpoint_every is not used"):
            get_method(name)({"checkpoint_every": 10})
        assert get_method(name)({"rounds": 3, "steps_per_round": 7}).params.rounds == 3


@pytest.mark.parametrize("method,key",
                         [("rso", "loss"), ("slic", "pairs"), ("arm-pl", "sampler"), ("online-dpo", "reference"),
                                        ("brain", "baseline"), ("expert-iteration", "normalization")])
def test_method_string_choices_are_checked_when_the_config_loads(method, key):
    """These were checked only when the method started training (after SFT and the reward model)."""
    from alignbench.config import validate_config

    with pytest.raises(AlignbenchError, match=f"methods.{method}.{key} must be one of"):
        validate_config({"methods": {method: {key: "no-such-value"}}})


# One word per concept: PPO's γ and λ are `discount` and `gae_lambda` (as TRL and OpenRLHF name them; BRAIn's
# `gamma` is a temperature); SLiC's λ weighs an SFT term, `sft_weight` as PRO's; RAFT's samples per prompt are
# `n` as every other method's. A config written with the old name fails at load naming the new one.
RENAMED = [("ppo", "gamma", 1.0, "discount"), ("ppo", "lam", 0.95, "gae_lambda"), ("slic", "lam", 0.5, "sft_weight"),
           ("raft", "k", 8, "n")]


@pytest.mark.parametrize("method,old,value,new", RENAMED)
def test_a_renamed_hyper_parameter_is_a_one_line_error_naming_the_new_name(method, old, value, new, tmp_path, capsys):
    config = tmp_path / "old.yaml"
    config.write_text(f"methods:\n  {method}: {{{old}: {value}}}\n")
    assert main(["run", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"alignbench: error: {config}: methods.{method}.{old} is now called "
                   f"{new}: write methods.{method}.{new}")
    assert not (tmp_path / "run").exists()
    assert getattr(get_method(method)({new: value}).params, new) == value  # the new name takes the same value


def test_a_renamed_option_value_is_a_one_line_error_naming_the_new_value():
    """PRO's sft_term values say what they compute: token-mean (was thesis) and summed (was authors)."""
    for old, new in [("thesis", "token-mean"), ("authors", "summed")]:
        with pytest.raises(AlignbenchError,
                           match=rf"quickstart.yaml: methods\.pro\.sft_term: '{old}' is now called '{new}'$"):
            load_config("quickstart", [f"methods.pro.sft_term={old}"])
        assert load_config("quickstart", [f"methods.pro.sft_term={new}"]).methods["pro"]["sft_term"] == new
