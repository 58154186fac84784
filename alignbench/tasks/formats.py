"""User data files in the formats TRL users have, read into rows that name where they came from.

Files: JSONL (``.jsonl``, ``.jsonl.gz``; read line by line so errors name the line), and through the
``datasets`` library JSON (``.json``), Parquet (``.parquet``), CSV (``.csv``) and a directory written by
``Dataset.save_to_disk``. Row types (TRL's dataset types), each standard (strings) or conversational (lists of
``{role, content}`` messages):

* preference, explicit prompt ``{prompt, chosen, rejected}``;
* preference, implicit prompt ``{chosen, rejected}`` (the shared prefix is the prompt, as TRL's ``extract_prompt``);
* unpaired preference ``{prompt, completion, label}``;
* prompt-only ``{prompt}``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import AlignbenchError, where
from ..io import iter_jsonl
from .chat import ROLES, Chat

KINDS = {  # kind → the fields it needs, in the order the message lists them
    "preference": ("prompt", "chosen", "rejected"),
    "implicit-preference": ("chosen", "rejected"),
    "unpaired": ("prompt", "completion", "label"),
    "prompt-only": ("prompt",),
}
ACCEPTED = ("{prompt, chosen, rejected}, {chosen, rejected} (implicit prompt), {prompt, completion, label} (unpaired) "
            "or {prompt} (prompt-only), each as strings or as lists of {role, content} messages")
FIELDS = ("prompt", "chosen", "rejected", "completion", "label", "prompt_id", "reference")
FILE_TYPES = ".jsonl, .jsonl.gz, .json, .parquet, .csv or a Dataset.save_to_disk directory"


@dataclass
class Row:
    at: str  # "file:line" or "file: row N", for error messages
    data: dict


def row_kind(keys) -> str | None:
    keys = set(keys)
    if {"chosen", "rejected"} <= keys:
        return "preference" if "prompt" in keys else "implicit-preference"
    if {"prompt", "completion", "label"} <= keys:
        return "unpaired"
    if "prompt" in keys:
        return "prompt-only"
    return None


def read_rows(path, columns: dict | None = None) -> list[Row]:
    """Every row of a data file with the user's column names mapped to alignbench's (``columns``:
    alignbench field → the file's column), ``None`` values left out."""
    path = Path(path)
    if not path.exists():
        raise AlignbenchError(f"{path}: file not found")
    mapping = _check_columns(columns)
    if path.is_dir():
        rows = [(f"{path}: row {i + 1}", rec) for i, rec in enumerate(_load_from_disk(path))]
    elif path.name.endswith((".jsonl", ".jsonl.gz")):
        rows = [(where(path, n), rec) for n, rec in iter_jsonl(path)]
    elif path.suffix in (".json", ".parquet", ".csv"):
        rows = [(f"{path}: row {i + 1}", rec) for i, rec in enumerate(_load_file(path))]
    else:
        raise AlignbenchError(f"{path}: unknown data file type (accepted: {FILE_TYPES})")
    if not rows:
        raise AlignbenchError(f"{path}: file is empty (no rows). Accepted formats: {ACCEPTED}")
    return [Row(at, _renamed(rec, mapping)) for at, rec in rows]


def _check_columns(columns) -> dict:
    if not columns:
        return {}
    if not isinstance(columns, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in columns.items()):
        raise AlignbenchError("setting 'task.options.columns' must map alignbench fields to your column names, "
                              "e.g. {prompt: question, chosen: response_j, rejected: response_k}")
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise AlignbenchError("setting 'task.options.columns': unknown field(s) "
                              f"{', '.join(unknown)} (known: {', '.join(FIELDS)})")
    return {v: k for k, v in columns.items()}


def _renamed(rec: dict, mapping: dict) -> dict:
    out = {}
    for k, v in rec.items():
        key = mapping.get(k, k)
        if k in mapping.values() and k not in mapping:
            continue  # a column named like a field the user mapped elsewhere: the mapped one wins
        if v is not None:
            out[key] = v
    return out


def _quiet_datasets():
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    return datasets


def _load_file(path: Path) -> list[dict]:
    datasets = _quiet_datasets()
    builder = {".json": "json", ".parquet": "parquet", ".csv": "csv"}[path.suffix]
    with tempfile.TemporaryDirectory(prefix="alignbench-datasets-") as cache:  # no global cache entry per user file
        try:
            ds = datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=cache,
                                       keep_in_memory=True)
        except Exception as e:  # noqa: BLE001  Arrow/JSON/CSV errors of every kind become one line naming the file
            # datasets' words for a file without rows
            if path.stat().st_size == 0 or "corresponds to no data" in str(e):
                raise AlignbenchError(f"{path}: file is empty (no rows). Accepted formats: {ACCEPTED}") from None
            raise AlignbenchError(f"{path}: cannot read as {builder} ({_first_line(e)}); rows "
                                  f"must share one format: {ACCEPTED}") from None
        return ds.to_list()


def _load_from_disk(path: Path) -> list[dict]:
    datasets = _quiet_datasets()
    try:
        ds = datasets.load_from_disk(str(path), keep_in_memory=True)
    except Exception as e:  # noqa: BLE001
        raise AlignbenchError(f"{path}: not a Dataset.save_to_disk directory "
                              f"({_first_line(e)}); accepted: {FILE_TYPES}") from None
    if isinstance(ds, datasets.DatasetDict):
        if list(ds) != ["train"] and "train" not in ds:
            raise AlignbenchError(f"{path}: a DatasetDict with splits {', '.join(ds)}; save the one "
                                  "split to use (or name it 'train')")
        ds = ds["train"]
    return ds.to_list()


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


# --- one row → fields -------------------------------------------------------------------------------
def text_or_messages(row: Row, key: str, allow_empty: bool = False):
    """A field's value: a non-empty string, or a validated list of messages (a :class:`Chat`)."""
    if key not in row.data:
        raise AlignbenchError(f"{row.at}: missing field '{key}'")
    value = row.data[key]
    if isinstance(value, str):
        if not allow_empty and not value.strip():
            raise AlignbenchError(f"{row.at}: field '{key}' is empty")
        return value
    if isinstance(value, list):
        return Chat(messages(row, key, value))
    raise AlignbenchError(f"{row.at}: field '{key}' must be a string or a list of {{role, content}} "
                          f"messages, got {type(value).__name__}")


def messages(row: Row, key: str, value: list) -> list[dict]:
    if not value:
        raise AlignbenchError(f"{row.at}: field '{key}' is an empty conversation")
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise AlignbenchError(f"{row.at}: field '{key}' message {i + 1} must be {{role: str, content: str}}")
        if m["role"] not in ROLES:
            raise AlignbenchError(f"{row.at}: field '{key}' message {i + 1} has role "
                                  f"{m['role']!r} (known: {', '.join(ROLES)})")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def assistant_reply(row: Row, key: str, value) -> str:
    """A response field: a string, or a conversation that is exactly one final assistant turn."""
    if isinstance(value, Chat):
        turns = value.messages
        if turns[-1]["role"] != "assistant":
            raise AlignbenchError(f"{row.at}: field '{key}' has no final assistant turn (its last "
                                  f"message is {turns[-1]['role']!r})")
        if len(turns) != 1:
            raise AlignbenchError(f"{row.at}: field '{key}' must be the one assistant turn that answers the "
                                  f"prompt, got {len(turns)} messages")
        value = turns[0]["content"]
    if not value.strip():
        raise AlignbenchError(f"{row.at}: field '{key}' is empty")
    return value


def split_implicit(row: Row):
    """TRL's ``extract_prompt``: the longest shared prefix of chosen and rejected is the prompt."""
    chosen, rejected = text_or_messages(row, "chosen"), text_or_messages(row, "rejected")
    if isinstance(chosen, Chat) != isinstance(rejected, Chat):
        raise AlignbenchError(f"{row.at}: 'chosen' and 'rejected' mix a conversation and a string")
    a = list(chosen.messages) if isinstance(chosen, Chat) else str(chosen)
    b = list(rejected.messages) if isinstance(rejected, Chat) else str(rejected)
    idx = 0
    for idx in range(min(len(a), len(b))):
        if a[idx] != b[idx]:
            if idx and a[idx - 1] == " ":  # TRL keeps the space with the response
                idx -= 1
            break
    else:
        idx = min(len(a), len(b))
    if idx == 0:
        raise AlignbenchError(f"{row.at}: 'chosen' and 'rejected' share no prompt (implicit-prompt rows "
                              "start with the same conversation)")
    if isinstance(chosen, Chat):
        for key, seq in (("chosen", a), ("rejected", b)):
            if idx >= len(seq):
                raise AlignbenchError(f"{row.at}: field '{key}' has no final assistant turn after the shared prompt")
        return Chat(a[:idx]), Chat(a[idx:]), Chat(b[idx:])
    return a[:idx], a[idx:], b[idx:]
