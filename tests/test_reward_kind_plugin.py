"""A reward-model kind as a plugin: a saved reward model whose reward_model.json names the user's own class, by dotted
path or by an ``alignbench.reward_kinds`` entry point, loads like a built-in kind (for ``reward_model.path`` and the
``rm:<directory>`` evaluator)."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from alignbench.errors import AlignbenchError
from alignbench.evaluation.evaluators import EvaluatorSources, build_evaluator
from alignbench.evaluation.outputs import OutputRecord
from alignbench.models.reward import load_reward_model

KINDS = '''
import torch

from alignbench.models.reward import RewardModelBase


class Vowels(RewardModelBase):
    """More vowels, more reward; its scale is saved beside it."""

    kind = "my_rm.kinds:Vowels"

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = scale

    def scores(self, prompts, outputs):
        return torch.tensor([self.scale * sum(c in "aeiou" for c in o) for o in outputs])

    @classmethod
    def load(cls, directory, meta):
        return cls(meta["scale"])


class NotAModel:
    pass
'''


@pytest.fixture
def kind_package(tmp_path, monkeypatch):
    pkg = tmp_path / "my_rm"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "kinds.py").write_text(textwrap.dedent(KINDS))
    dist = tmp_path / "my_rm-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-rm\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[alignbench.reward_kinds]\nvowels = my_rm.kinds:Vowels\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for module in [m for m in sys.modules if m.startswith("my_rm")]:
        del sys.modules[module]


def _saved(directory, kind, **meta):
    directory.mkdir()
    (directory / "reward_model.json").write_text(json.dumps({"kind": kind, **meta}))
    return directory


@pytest.mark.parametrize("kind", ["my_rm.kinds:Vowels", "vowels"])
def test_a_plugin_kind_loads_by_dotted_path_or_entry_point_and_scores_as_an_evaluator(kind_package, tmp_path, kind):
    """Broken variant: load_reward_model's old closed table (``kind not in REWARD_KINDS`` → unknown kind)."""
    directory = _saved(tmp_path / "rm", kind, scale=2.0)
    rm = load_reward_model(directory)
    assert type(rm).__name__ == "Vowels" and rm.score(["q"], ["aei"]) == [6.0]
    evaluator = build_evaluator(f"rm:{directory}", EvaluatorSources(notify=lambda msg: None))
    pairs = [(OutputRecord("1", "q", "aaa", "m"), OutputRecord("1", "q", "bbb", "b"))]
    assert list(evaluator.compare(pairs, "m", "b", 0).outcome) == [1.0]


@pytest.mark.parametrize("kind, message", [
    ("my_rm.kinds:NotAModel", r"reward_model.json: setting 'kind': 'my_rm.kinds:NotAModel' is not a subclass of "
                              r"alignbench.models.reward_base.RewardModelBase"),
    ("my_rm.kinds:Nothing", r"reward_model.json: setting 'kind': module 'my_rm.kinds' has no 'Nothing'"),
    ("causal-lm-hed",
     r"reward_model.json: setting 'kind': unknown reward kind 'causal-lm-hed' \(known: causal-lm-head, "
                      r"hf-sequence-classification, minilm-encoder; .*alignbench.reward_kinds entry point\)"),
    (7, r"reward_model.json: setting 'kind' must be a reward model kind"),
])
def test_a_bad_kind_is_one_line_naming_the_file(kind_package, tmp_path, kind, message):
    with pytest.raises(AlignbenchError, match=message) as e:
        load_reward_model(_saved(tmp_path / "rm", kind))
    assert "\n" not in str(e.value)
