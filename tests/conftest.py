"""Test-wide settings: transformers' loading/saving progress bars stay out of captured stderr (tests
assert that errors are one line)."""

import os

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

# Intra-op threads from ALIGNBENCH_TEST_THREADS (default 1), never from the machine's core count: float
# reduction order (hence a trained tiny model) depends on the thread count. The oracle tests' margins were
# measured with 1 and 2 threads (tests/calibrate_oracle.py); run the suite both ways with
# `ALIGNBENCH_TEST_THREADS=2 pytest`. Subprocesses (the CLI tests) keep their own setting.
# Idle OpenMP workers sleep instead of spinning: on a loaded machine spinning threads cost 3–4× the wall
# time (measured on 2 cores under load); the results do not change (reduction order is set by the thread count).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import pytest  # noqa: E402
import torch  # noqa: E402

TEST_THREADS = int(os.environ.get("ALIGNBENCH_TEST_THREADS", "1"))
torch.set_num_threads(TEST_THREADS)


@pytest.fixture
def fast_backoff(monkeypatch):
    """The LLM judge's retry back-off shortened, so fault-injection tests retry in milliseconds."""
    from alignbench.evaluation import llm_judge

    monkeypatch.setattr(llm_judge, "BACKOFF_BASE", 0.01)
    monkeypatch.setattr(llm_judge, "BACKOFF_MAX", 0.2)


@pytest.fixture
def no_training(monkeypatch):
    """A check meant to come before training fails the test if training starts instead."""
    from alignbench import pipeline

    def started(*a, **k):
        raise AssertionError("training started: the check did not come first")

    monkeypatch.setattr(pipeline, "run_comparison", started)
