"""hh-harmless: the Anthropic HH-RLHF harmless-base test split (2,312 real preference pairs, MIT).

Each record holds two full conversations that share everything up to the last "Assistant:" turn;
the prompt is that shared part and the responses are the two last turns. A pair whose two
conversations differ before the last turn is reported and left out (counted in ``meta``).
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import AlignbenchError, where
from ..io import iter_jsonl, require_str
from .base import Pair, Prompt, TaskData

MARK = "\n\nAssistant:"


def default_path() -> Path:
    return Path(str(resources.files("alignbench") / "data" / "hh-rlhf" / "harmless-base-test.jsonl.gz"))


def split_conversation(text: str) -> tuple[str, str]:
    i = text.rfind(MARK)
    if i < 0:
        raise ValueError("no 'Assistant:' turn")
    return text[: i + len(MARK)], text[i + len(MARK):].strip()


def load_hh_harmless(path: str | None = None, n_test: int = 256, n_eval: int | None = None, seed: int = 0,
                     max_pairs: int | None = None) -> TaskData:
    """``n_test`` held-out pairs (reward-model accuracy); methods generate on the first ``n_eval`` of them."""
    path = Path(path) if path else default_path()
    if not path.exists():
        raise AlignbenchError(f"{path}: file not found")
    pairs: list[Pair] = []
    mismatched: list[int] = []
    seen: dict[str, int] = {}
    for lineno, rec in iter_jsonl(path):
        chosen, rejected = require_str(rec, "chosen", path, lineno), require_str(rec, "rejected", path, lineno)
        try:
            prompt, good = split_conversation(chosen)
            prompt_r, bad = split_conversation(rejected)
        except ValueError:
            raise AlignbenchError(f"{where(path, lineno)}: a conversation has no '\\n\\nAssistant:' turn") from None
        if prompt != prompt_r:
            mismatched.append(lineno)
            continue
        base = hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:12]
        seen[base] = seen.get(base, 0) + 1
        pid = f"hh-{base}" if seen[base] == 1 else f"hh-{base}-{seen[base]}"
        pairs.append(Pair(pid, prompt, good, bad))
        if max_pairs and len(pairs) >= max_pairs:
            break
    if not pairs:
        raise AlignbenchError(f"{path}: no usable preference pairs")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))
    n_test = min(n_test, len(pairs) // 2)
    test = [pairs[i] for i in sorted(order[:n_test])]
    train = [pairs[i] for i in sorted(order[n_test:])]
    return TaskData(
        name="hh-harmless",
        train_pairs=train,
        test_pairs=test,
        train_prompts=[Prompt(p.prompt_id, p.prompt) for p in train],
        test_prompts=[Prompt(p.prompt_id, p.prompt) for p in test[: n_eval or len(test)]],
        test_references={p.prompt_id: p.chosen for p in test[: n_eval or len(test)]},
        meta={"source": str(path), "pairs": len(pairs), "left_out_mismatched_prefix": mismatched,
              "duplicate_prompts": sum(v - 1 for v in seen.values()),
              "notes": [f"{path.name}: left out {len(mismatched)} pair(s) whose conversations differ before the last "
                        f"assistant turn (lines {', '.join(map(str, mismatched))})"] if mismatched else []},
    )
