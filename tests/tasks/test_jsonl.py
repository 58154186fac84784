"""The JSONL task: rows checked, each bad row named by file and line."""

from __future__ import annotations

import pytest
from judge_fixtures import write

from alignbench.errors import AlignbenchError


def test_jsonl_task_rows_are_checked(tmp_path):
    from alignbench.tasks.jsonl import load_jsonl_task

    good = '{"prompt": "p", "chosen": "a", "rejected": "b"}\n'
    for content, message in [
        (good + '{"prompt": "p", "chosen": "a"}\n', "pairs.jsonl:2: missing field 'rejected'"),
        (good + '{"prompt": "p", "chosen": "a", "rejected": "a"}\n',
         "pairs.jsonl:2: 'chosen' and 'rejected' are the same text"),
        (good + '{"prompt": "", "chosen": "a", "rejected": "b"}\n', "pairs.jsonl:2: field 'prompt' is empty"),
    ]:
        f = write(tmp_path, "pairs.jsonl", content)
        with pytest.raises(AlignbenchError, match=message):
            load_jsonl_task(str(f))
    f = write(tmp_path, "pairs.jsonl", good * 6)
    task = load_jsonl_task(str(f), n_test=2)
    assert len(task.test_prompts) == 2 and len(task.train_pairs) == 4
