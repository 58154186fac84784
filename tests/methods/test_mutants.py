"""The mutation harness: deliberate slips in the adapters and losses, each of which some test must catch.

Runs over every registered method, so a new method gets these mutants for free (and must declare what its
paper does where the harness asks: ``NORMALISATION`` in test_length_normalisation.py, its temperature fields
in ``TEMPERATURES``). Each mutant re-runs the check that guards it and expects it to fail.

- normalisation flipped in the adapter (summed ↔ token-averaged log-probabilities), every trained method;
- every temperature (β, γ, τ, β_π, β_r), and PPO's discount, × 4 and / 4 at the adapter, every method that has one: the
  loss must receive the configured value (behavioural versions for the methods with a π*_β target are in
  test_oracle_convergence.py: the policy must end near its own target);
- KTO's two reference-point slips, σ(βh − z₀) and σ(β(h + z₀)), against the asymmetric hand-worked batch.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import pytest
import torch
from test_length_normalisation import NORMALISATION, loss_input_normalisation, small_params, variable_world

from alignbench.methods.base import MethodContext
from alignbench.methods.registry import all_methods, get_method
from alignbench.training import losses
from alignbench.training.trainer import GroupTrainer

# Every temperature-like hyper-parameter, with a value no other setting or constant takes.
# PPO's discount is no temperature (BRAIn's gamma is), but a slip at the adapter must be caught the same way.
TEMPERATURES = {"beta": 0.37, "gamma": 0.53, "tau": 0.29, "beta_pi": 0.41, "beta_r": 1.9, "discount": 0.53}


def methods_with(field: str) -> list[str]:
    return sorted(n for n, cls in all_methods().items() if cls.Params.has(field) and field not in cls.Params.unused)


TEMPERATURE_CASES = [(name, field) for field in TEMPERATURES for name in methods_with(field)]


# --- normalisation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(NORMALISATION))
def test_flipped_normalisation_is_caught(name, tmp_path, monkeypatch):
    """The adapter hands the trainer the opposite ``length_average``: the loss sees the other normalisation."""
    real_fit = GroupTrainer.fit

    def flipped(self, data, loss_fn, steps=None, length_average=False):
        return real_fit(self, data, loss_fn, steps, not length_average)

    monkeypatch.setattr(GroupTrainer, "fit", flipped)
    try:
        seen = loss_input_normalisation(name, tmp_path, monkeypatch)
    except AssertionError:
        return  # the loss's input matched neither normalisation: caught
    assert seen != NORMALISATION[name], f"{name}: a flipped normalisation went unnoticed"


# --- temperatures at the adapter ------------------------------------------------------------------------
def _loss_functions():
    return {name: fn for name, fn in vars(losses).items() if callable(fn) and not name.startswith("_")
            and getattr(fn, "__module__", "") == losses.__name__}


def temperatures_reaching_the_losses(name: str, field: str, tmp_path, monkeypatch, factor: float = 1.0) -> set[float]:
    """Fit ``name`` briefly with ``field`` set to its marker value (the adapter sees it × ``factor``) and return
    every float argument the loss module's functions received."""
    task, sft = variable_world()
    seen: set[float] = set()

    def spy(real):
        def call(*args, **kw):
            seen.update(round(float(a), 9) for a in list(args) + list(kw.values())
                        if isinstance(a, float) or (torch.is_tensor(a) and a.dim() == 0 and a.is_floating_point()))
            return real(*args, **kw)

        return call

    for fname, fn in _loss_functions().items():
        spied = spy(fn)
        for module in list(sys.modules.values()):  # also where a module imported the function by name
            if getattr(module, "__name__", "").startswith("alignbench") and getattr(module, fname, None) is fn:
                monkeypatch.setattr(module, fname, spied)
    params = {**small_params(name), **{f: v for f, v in TEMPERATURES.items() if get_method(name).Params.has(f)}}
    method = get_method(name)(params)
    method.params = dataclasses.replace(method.params, **{field: TEMPERATURES[field] * factor})
    ctx = MethodContext(task=task, sft_policy=sft, reward_fn=task.gold_reward, run_dir=tmp_path, seed=0)
    method.fit(ctx)
    return seen


@pytest.mark.parametrize("name,field", TEMPERATURE_CASES)
def test_the_configured_temperature_reaches_the_loss(name, field, tmp_path, monkeypatch):
    seen = temperatures_reaching_the_losses(name, field, tmp_path, monkeypatch)
    assert any(math.isclose(v, TEMPERATURES[field], rel_tol=1e-6) for v in seen), \
        f"{name}: {field} = {TEMPERATURES[field]} never reached a loss function (saw {sorted(seen)[:12]})"


@pytest.mark.parametrize("factor", [4.0, 0.25])
@pytest.mark.parametrize("name,field", TEMPERATURE_CASES)
def test_a_temperature_off_by_four_at_the_adapter_is_caught(name, field, factor, tmp_path, monkeypatch):
    seen = temperatures_reaching_the_losses(name, field, tmp_path, monkeypatch, factor)
    assert not any(math.isclose(v, TEMPERATURES[field], rel_tol=1e-6) for v in seen), \
        f"{name}: {field} × {factor} at the adapter went unnoticed"


def test_every_temperature_field_is_covered():
    """A new method's temperature must be named here (with a marker value) to get the mutants above."""
    suspicious = {f for cls in all_methods().values() for f in cls.Params.names()
                  if any(k in f for k in ("beta", "gamma", "tau", "temperature")) and f not in TEMPERATURES}
    assert not suspicious, f"temperature-like fields without a marker in TEMPERATURES: {sorted(suspicious)}"


def _load_test_module(relative: str):
    """A test module of another tests/ folder, loaded by path (the folders are not packages)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_mutated_{Path(relative).stem}",
                                                  Path(__file__).resolve().parents[1] / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- KTO's reference point ------------------------------------------------------------------------------
@pytest.mark.parametrize("slip", ["σ(βh − z₀)", "σ(β(h + z₀))"])
def test_kto_reference_point_slips_are_caught(slip, monkeypatch):
    test_losses = _load_test_module("training/test_losses.py")
    monkeypatch.setattr(losses, "kto_loss", test_losses.KTO_SLIPS[slip])
    with pytest.raises(AssertionError):
        test_losses.test_kto_asymmetric_batch_by_hand_and_its_gradient()
