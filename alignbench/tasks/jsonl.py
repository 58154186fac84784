"""User data: preference data in TRL's formats (``tasks.formats``) and optional test-prompt files
{prompt[, prompt_id][, reference]}. Every malformed row names its file and line or row."""

from __future__ import annotations

import hashlib

import numpy as np

from ..errors import AlignbenchError
from .base import Pair, PairsUnavailable, Prompt, TaskData, Unpaired
from .chat import Chat
from .formats import ACCEPTED, KINDS, Row, assistant_reply, read_rows, row_kind, split_implicit, text_or_messages


def _pid(row: Row, prompt) -> str:
    pid = row.data.get("prompt_id")
    if pid is None:
        return "p-" + hashlib.sha1(str(prompt).encode("utf-8")).hexdigest()[:12]
    if isinstance(pid, bool) or not isinstance(pid, (str, int)) or str(pid) == "":
        raise AlignbenchError(f"{row.at}: field 'prompt_id' must be a non-empty string or integer")
    return str(pid)


def _file_kind(rows: list[Row], path, wanted: tuple[str, ...]) -> tuple[str, bool]:
    """The file's row type (from its first row) and whether it is conversational; every later row must match."""
    first = rows[0]
    kind = row_kind(first.data)
    if kind not in wanted:
        found = ", ".join(sorted(first.data)) or "none"
        need = " or ".join("{" + ", ".join(KINDS[k]) + "}" for k in wanted)
        raise AlignbenchError(f"{first.at}: missing column(s) for {need} (columns found: {found}; "
                              f"accepted formats: {ACCEPTED}; map other names with task.options.columns)")
    chat = isinstance(first.data.get("prompt", first.data.get("chosen")), list)
    for row in rows[1:]:
        missing = [k for k in KINDS[kind] if k not in row.data]
        if missing:
            raise AlignbenchError(f"{row.at}: missing field '{missing[0]}' (this file holds {kind} rows "
                                  f"{{{', '.join(KINDS[kind])}}}, from its first row)")
        other = row_kind(row.data)
        if other != kind:
            raise AlignbenchError(f"{row.at}: mixed formats in one file: this row is "
                                  f"{other} but the first row is {kind}")
        if isinstance(row.data.get("prompt", row.data.get("chosen")), list) != chat:
            styles = ("standard (strings)", "conversational (messages)")
            raise AlignbenchError(f"{row.at}: mixed formats in one file: this row is {styles[not chat]} but "
                                  f"the first row is {styles[chat]}")
    return kind, chat


def _prompt(row: Row, value):
    if isinstance(value, Chat) and value.messages[-1]["role"] == "assistant":
        raise AlignbenchError(f"{row.at}: field 'prompt' ends with an assistant turn (the responses go in "
                              "chosen/rejected or completion)")
    return value


def _label(row: Row) -> bool:
    v = row.data.get("label")
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0"):
        return v.strip().lower() in ("true", "1")
    raise AlignbenchError(f"{row.at}: field 'label' must be true/false (desirable or not), got {v!r}")


def read_preference_data(
    path, columns: dict | None = None, rows: list[Row] | None = None
) -> list[Pair] | list[Unpaired]:
    """Preference pairs (explicit or implicit prompt) or unpaired examples, standard or conversational."""
    rows = rows or read_rows(path, columns)
    kind, _ = _file_kind(rows, path, ("preference", "implicit-preference", "unpaired"))
    out, seen = [], {}
    for row in rows:
        if kind == "implicit-preference":
            prompt, chosen, rejected = split_implicit(row)
        elif kind == "unpaired":
            prompt, chosen, rejected = text_or_messages(row, "prompt"), text_or_messages(row, "completion"), None
        else:
            prompt, chosen, rejected = (text_or_messages(row, k) for k in ("prompt", "chosen", "rejected"))
        prompt = _prompt(row, prompt)
        conversational = isinstance(prompt, Chat)
        for key, value in (
            (("chosen", chosen), ("rejected", rejected)) if kind != "unpaired" else (("completion", chosen),)
        ):
            if isinstance(value, Chat) != conversational:
                raise AlignbenchError(f"{row.at}: field '{key}' and 'prompt' mix a conversation and a string")
        pid = _pid(row, prompt)
        n = seen.get(pid, 0) + 1
        seen[pid] = n
        if "prompt_id" in row.data and n > 1 and kind != "unpaired":
            raise AlignbenchError(f"{row.at}: duplicate prompt_id {pid!r}")
        uid = pid if n == 1 else f"{pid}-{n}"
        if kind == "unpaired":  # a prompt's examples share its id: one prompt, several labelled completions
            out.append(Unpaired(pid, prompt, assistant_reply(row, "completion", chosen), _label(row)))
            continue
        chosen, rejected = assistant_reply(row, "chosen", chosen), assistant_reply(row, "rejected", rejected)
        if chosen == rejected:
            raise AlignbenchError(f"{row.at}: 'chosen' and 'rejected' are the same text")
        out.append(Pair(uid, prompt, chosen, rejected))
    return out


def read_pairs(path, columns: dict | None = None) -> list[Pair]:
    data = read_preference_data(path, columns)
    if data and isinstance(data[0], Unpaired):
        raise AlignbenchError(f"{path}: holds unpaired {{prompt, completion, label}} examples; "
                              "preference pairs are needed here")
    return data


def read_prompts(
    path, columns: dict | None = None, rows: list[Row] | None = None
) -> tuple[list[Prompt], dict[str, str]]:
    rows = rows or read_rows(path, columns)
    _file_kind(rows, path, ("prompt-only", "preference", "unpaired"))
    prompts, refs, seen = [], {}, set()
    for row in rows:
        prompt = _prompt(row, text_or_messages(row, "prompt"))
        pid = _pid(row, prompt)
        if pid in seen:
            raise AlignbenchError(f"{row.at}: duplicate prompt_id {pid!r}")
        seen.add(pid)
        prompts.append(Prompt(pid, prompt))
        if "reference" in row.data:
            ref = row.data["reference"]
            if isinstance(ref, list):
                ref = assistant_reply(row, "reference", text_or_messages(row, "reference"))
            elif not isinstance(ref, str):
                raise AlignbenchError(f"{row.at}: field 'reference' must be a string, got {type(ref).__name__}")
            refs[pid] = ref
    return prompts, refs


def load_jsonl_task(pairs_path: str | None = None, test_prompts_path: str | None = None, name: str = "custom",
                    n_test: int = 64, seed: int = 0, columns: dict | None = None) -> TaskData:
    """Preference data trains SFT, the reward model and the methods; test prompts come from ``test_prompts_path``
    (their ``reference`` fields are the "dataset" baseline; without any there is none) or from a held-out split.
    ``columns`` maps alignbench's field names to the file's (both files)."""
    if not pairs_path:
        raise AlignbenchError("setting 'task.options.pairs_path' is required for the jsonl task")
    rows = read_rows(pairs_path, columns)
    if row_kind(rows[0].data) == "prompt-only":
        return _prompt_only_task(pairs_path, rows, test_prompts_path, name, n_test, seed, columns)
    data = read_preference_data(pairs_path, columns, rows)
    unpaired = bool(data) and isinstance(data[0], Unpaired)
    rng = np.random.default_rng(seed)
    notes = []
    if test_prompts_path:
        test_prompts, refs = read_prompts(test_prompts_path, columns)
        missing = [p.prompt_id for p in test_prompts if p.prompt_id not in refs]
        if refs and missing:
            raise AlignbenchError(f"{test_prompts_path}: prompt_id {missing[0]!r} has no "
                                  "'reference' (the dataset baseline) while others have one: give every "
                                  "test prompt a reference, or none")
        if not refs:
            notes.append(f"{test_prompts_path} has no 'reference' responses: there is no \"dataset\" baseline")
        train, test = data, []
    elif unpaired:  # hold out whole prompts: both labels of a prompt stay on one side
        pids = list(dict.fromkeys(x.prompt_id for x in data))
        order = rng.permutation(len(pids))
        held = {pids[i] for i in order[: min(n_test, len(pids) // 2)]}
        train = [x for x in data if x.prompt_id not in held]
        test_prompts = list({x.prompt_id: Prompt(x.prompt_id, x.prompt) for x in data if x.prompt_id in held}.values())
        refs = {}
        notes.append("unpaired data has no preferred response per prompt: there is no \"dataset\" baseline")
    else:
        order = rng.permutation(len(data))
        k = min(n_test, len(data) // 2)
        test = [data[i] for i in sorted(order[:k])]
        train = [data[i] for i in sorted(order[k:])]
        test_prompts = [Prompt(x.prompt_id, x.prompt) for x in test]
        refs = {x.prompt_id: x.chosen for x in test}
    if not train:
        raise AlignbenchError(f"{pairs_path}: too few rows to train on")
    meta = {"source": str(pairs_path), "notes": notes}
    train_prompts = list({x.prompt_id: Prompt(x.prompt_id, x.prompt) for x in train}.values())
    if unpaired:
        return TaskData(name=name,
                        train_pairs=PairsUnavailable(str(pairs_path), "unpaired {prompt, completion, label} examples"),
                        test_pairs=[], train_prompts=train_prompts,
                        test_prompts=test_prompts, test_references=refs, meta=meta, train_unpaired=train)
    return TaskData(name=name, train_pairs=train, test_pairs=test, train_prompts=train_prompts,
                    test_prompts=test_prompts, test_references=refs, meta=meta)


def _prompt_only_task(path, rows, test_prompts_path, name, n_test, seed, columns) -> TaskData:
    """Training prompts only: for the methods that sample (with ``reward_model.path`` and ``sft.steps: 0``)."""
    prompts, refs = read_prompts(path, columns, rows)
    notes = []
    if test_prompts_path:
        train, (test, refs) = prompts, read_prompts(test_prompts_path, columns)
    else:
        order = np.random.default_rng(seed).permutation(len(prompts))
        held = set(order[: min(n_test, len(prompts) // 2)].tolist())
        train, test = (
            [p for i, p in enumerate(prompts) if i not in held],
            [p for i, p in enumerate(prompts) if i in held],
        )
    refs = {p.prompt_id: refs[p.prompt_id] for p in test if p.prompt_id in refs}
    if len(refs) != len(test):
        refs = {}
        notes.append("the test prompts have no 'reference' responses: there is no \"dataset\" baseline")
    if not train:
        raise AlignbenchError(f"{path}: too few prompts to train on")
    return TaskData(name=name, train_pairs=PairsUnavailable(str(path), "prompts only {prompt}"), test_pairs=[],
                    train_prompts=train,
                    test_prompts=test, test_references=refs,
                    meta={"source": str(path), "notes": notes, "prompt_only": True})
