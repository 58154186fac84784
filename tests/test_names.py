"""Names used in paths and files (method labels) are refused at load when they are not plain names."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("label", ["../../x", "/abs/victim", "a" * 300, "a\x00b", "tab\there", "up\\..\\win"])
def test_a_method_label_is_a_name_refused_at_load(label):
    from alignbench.config import validate_config
    from alignbench.errors import AlignbenchError

    with pytest.raises(AlignbenchError, match=r"setting 'methods': method label .* (contains|characters long)"):
        validate_config({"methods": {label: {"method": "dpo"}}}, "cfg.yaml")
    validate_config({"methods": {"dpo-β_0.1 v2": {"method": "dpo"}}}, "cfg.yaml")  # an ordinary name passes
