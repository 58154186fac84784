"""The one optimiser step (training/optim.py) that the group trainer, PPO and reward-model training share."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import alignbench.training
from alignbench.errors import AlignbenchError
from alignbench.training.optim import optimizer_step

TRAINING = Path(alignbench.training.__file__).resolve().parent


def _model_with_grad(scale: float = 1.0):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    loss = scale * model(torch.ones(3, 4)).pow(2).sum()
    loss.backward()
    return model, float(loss.detach())


def test_clips_steps_schedules_and_clears():
    model, loss = _model_with_grad(scale=10.0)
    grads = [p.grad.clone() for p in model.parameters()]
    norm = float(torch.cat([g.flatten() for g in grads]).norm())
    assert norm > 5  # far above the clip below, so clipping changes the update
    reference = torch.nn.Linear(4, 1)
    reference.load_state_dict(model.state_dict())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 ** step)

    grad_norm, lr = optimizer_step(opt, model.parameters(), loss, "dpo", 1, max_grad_norm=1.0, scheduler=sched)

    assert grad_norm == pytest.approx(norm, rel=1e-6) and lr == 0.1
    for p, q, g in zip(model.parameters(), reference.parameters(), grads):  # SGD on the clipped gradient
        assert torch.allclose(p, q - 0.1 * g / norm, atol=1e-6)
        assert p.grad is None
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)  # the schedule advanced


def test_unclipped_when_no_norm_is_set():
    model, loss = _model_with_grad(scale=10.0)
    grads = [p.grad.clone() for p in model.parameters()]
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    assert optimizer_step(opt, model.parameters(), loss, "reward model", 1, max_grad_norm=0) == (None, 0.1)
    for p, q, g in zip(model.parameters(), before, grads):
        assert torch.allclose(p, q - 0.1 * g, atol=1e-6)


@pytest.mark.parametrize("loss, clip", [(float("nan"), None), (1.0, 1.0)])
def test_a_non_finite_loss_or_norm_stops_before_the_step(loss, clip):
    model, _ = _model_with_grad()
    if clip:
        next(model.parameters()).grad[0, 0] = float("inf")
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(AlignbenchError, match=r"^ppo: training diverged at step 7: .* lower setting 'methods.ppo.lr'"):
        optimizer_step(opt, model.parameters(), loss, "ppo", 7, max_grad_norm=clip)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


@pytest.mark.parametrize("module", ["trainer.py", "ppo.py", "reward_training.py"])
def test_every_trainer_steps_through_the_helper(module):
    """Each trainer calls optimizer_step, and no module of alignbench steps, clips or schedules on its own."""
    calls = {node.func.id for node in ast.walk(ast.parse((TRAINING / module).read_text()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert "optimizer_step" in calls
    package = TRAINING.parent
    own = [
        f"{path.relative_to(package)}:{node.lineno}"
        for path in package.rglob("*.py")
        if path.name != "optim.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and (node.func.attr == "clip_grad_norm_" or (node.func.attr == "step" and not node.args and not node.keywords))
    ]
    assert own == []
