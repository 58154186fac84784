"""Output files, in the formats users already have, read into one record type matched by prompt_id.

Accepted formats (detected from the content, not the file name):

* **alignbench JSONL**: one object a line, ``{prompt_id, prompt, output, generator[, seed]}``.
* **alpaca_eval** ``model_outputs.json``: a JSON list of ``{instruction, output, generator[, dataset]}``
  (the same records one per line are accepted too). alpaca_eval has no ids, so records are joined
  on the instruction text (it becomes the prompt_id).
* **FastChat MT-Bench answers** (``model_answer/MODEL.jsonl``): one object a line,
  ``{question_id, model_id, choices: [{turns: [...]}]}``. The question text is read from
  ``../question.jsonl`` (FastChat's layout) when it is there; turns are joined into one output.
* **Arena-Hard-Auto answers** (``data/<bench>/model_answer/MODEL.jsonl``): the current
  ``{uid, model, messages: [{role: user, content}, {role: assistant, content: {answer}}]}`` (the question is
  the user message) or v0.1's ``{question_id, model_id, choices: [{turns: [{content}]}]}`` (the question from
  ``../question.jsonl``: ``{question_id | uid, prompt | turns: [{content}]}``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import AlignbenchError, where
from ..io import MAX_LINE_BYTES, atomic_write_json, atomic_write_jsonl, iter_jsonl, require_str, strict_json_loads

ACCEPTED_FORMATS = (
    "alignbench JSONL {prompt_id, prompt, output, generator}; "
    "alpaca_eval model_outputs.json [{instruction, output, generator}]; "
    "FastChat MT-Bench answers JSONL {question_id, model_id, choices: [{turns}]}; "
    "Arena-Hard answers JSONL {uid, model, messages} or {question_id, model_id, choices: [{turns: [{content}]}]}"
)


@dataclass
class OutputRecord:
    prompt_id: str
    prompt: str
    output: str
    generator: str
    seed: int | None = None
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        if d["seed"] is None:
            d.pop("seed")
        return {**extra, **d}


KNOWN = {"prompt_id", "prompt", "output", "generator", "seed"}


def detect_format(path: str | Path) -> str:
    """'alpaca_eval', 'mt_bench' or 'jsonl'; anything else is a one-line error listing what is accepted."""
    path = Path(path)
    if not path.exists():
        raise AlignbenchError(f"{path}: file not found")
    if path.is_dir():
        raise AlignbenchError(f"{path}: is a directory, expected an outputs file ({ACCEPTED_FORMATS})")
    if path.suffix == ".gz":
        return "jsonl"
    try:
        with open(path, "rb") as f:
            head = f.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
            f.seek(0)
            first_line = b""
            while not first_line.strip():  # the whole first record, however long (an MT-Bench answer can be)
                line = f.readline(MAX_LINE_BYTES)
                if not line:
                    break
                first_line = line
    except OSError as e:
        raise AlignbenchError(f"{path}: cannot read ({e.strerror or e})") from None
    if head.startswith(b"["):
        return "alpaca_eval"
    if head.startswith(b"{"):
        try:
            first = json.loads(first_line.removeprefix(b"\xef\xbb\xbf"))
        except ValueError:
            return "jsonl"  # a malformed first line: iter_jsonl names the line
        if isinstance(first, dict) and "question_id" in first and "choices" in first:
            turns = first["choices"][0].get("turns") if isinstance(first["choices"], list) and first["choices"] \
                and isinstance(first["choices"][0], dict) else None
            return "arena_hard" if isinstance(turns, list) and turns and isinstance(turns[0], dict) else "mt_bench"
        if isinstance(first, dict) and "uid" in first and "messages" in first:
            return "arena_hard"
        if isinstance(first, dict) and "prompt_id" not in first and "instruction" in first:
            return "alpaca_eval_lines"
        return "jsonl"
    if not head:
        raise AlignbenchError(f"{path}: file is empty (no outputs). Accepted formats: {ACCEPTED_FORMATS}")
    raise AlignbenchError(f"{path}: unknown outputs format. Accepted formats: {ACCEPTED_FORMATS}")


def load_outputs(path: str | Path) -> list[OutputRecord]:
    """Read an outputs file in any accepted format; errors name the file (and line or record)."""
    fmt = detect_format(path)
    if fmt == "alpaca_eval":
        return _load_alpaca_eval(Path(path))
    if fmt == "alpaca_eval_lines":
        return _alpaca_records([(where(path, n), f"line {n}", rec) for n, rec in iter_jsonl(path)])
    if fmt == "mt_bench":
        return _load_mt_bench(Path(path))
    if fmt == "arena_hard":
        return _load_arena_hard(Path(path))
    return _load_jsonl(Path(path))


def _load_jsonl(path: Path) -> list[OutputRecord]:
    records: list[OutputRecord] = []
    seen: dict[str, int] = {}
    for lineno, rec in iter_jsonl(path):
        pid = rec.get("prompt_id")
        if isinstance(pid, int) and not isinstance(pid, bool):
            pid = str(pid)
        if pid is None:
            raise AlignbenchError(f"{where(path, lineno)}: missing field 'prompt_id' "
                                  f"(accepted formats: {ACCEPTED_FORMATS})")
        if not isinstance(pid, str) or not pid:
            raise AlignbenchError(f"{where(path, lineno)}: field 'prompt_id' must be a non-empty string or integer")
        if pid in seen:
            raise AlignbenchError(f"{where(path, lineno)}: duplicate prompt_id {pid!r} (first on line {seen[pid]})")
        seen[pid] = lineno
        prompt = require_str(rec, "prompt", path, lineno)
        output = require_str(rec, "output", path, lineno, allow_empty=True)
        generator = require_str(rec, "generator", path, lineno)
        seed = rec.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise AlignbenchError(f"{where(path, lineno)}: field 'seed' must be an integer")
        records.append(OutputRecord(pid, prompt, output, generator, seed,
                                    {k: v for k, v in rec.items() if k not in KNOWN}))
    return records


MAX_JSON_BYTES = 1 << 30  # an alpaca_eval outputs list larger than this is not a list of model outputs


def _read_json(path: Path):
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise AlignbenchError(f"{path}: over {MAX_JSON_BYTES >> 20} MiB, too large for a JSON outputs list")
        return strict_json_loads(path.read_text(encoding="utf-8-sig"))
    except OSError as e:
        raise AlignbenchError(f"{path}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise AlignbenchError(f"{path}: not valid UTF-8") from None
    except ValueError as e:
        raise AlignbenchError(f"{path}: malformed JSON (line "
                              f"{getattr(e, 'lineno', '?')}: {getattr(e, 'msg', e)})") from None


def _load_alpaca_eval(path: Path) -> list[OutputRecord]:
    data = _read_json(path)
    if not isinstance(data, list) or not data:
        raise AlignbenchError(f"{path}: expected a non-empty JSON list of alpaca_eval outputs")
    if not isinstance(data[0], dict):
        raise AlignbenchError(f"{path}:1: expected a JSON object, got list of {type(data[0]).__name__}. "
                              f"Accepted formats: {ACCEPTED_FORMATS}")
    return _alpaca_records([(f"{path}: record {i}", f"record {i}", rec) for i, rec in enumerate(data)])


def _alpaca_records(located: list[tuple[str, str, object]]) -> list[OutputRecord]:
    """alpaca_eval records ``{instruction, output, generator}``, each with where it is (for errors)."""
    records, seen = [], {}
    for at, label, rec in located:
        if not isinstance(rec, dict):
            raise AlignbenchError(f"{at}: expected an object {{instruction, output, "
                                  f"generator}}, got {type(rec).__name__}")
        for key in ("instruction", "output", "generator"):
            if not isinstance(rec.get(key), str):
                raise AlignbenchError(f"{at}: missing or non-string field '{key}' (alpaca_eval model_outputs.json)")
        instruction = rec["instruction"]
        if not instruction.strip():
            raise AlignbenchError(f"{at}: field 'instruction' is empty")
        if instruction in seen:
            raise AlignbenchError(f"{at}: duplicate instruction (first at {seen[instruction]}); "
                                  "alpaca_eval outputs are joined on the instruction text")
        seen[instruction] = label
        extra = {k: v for k, v in rec.items() if k not in ("instruction", "output", "generator")}
        records.append(OutputRecord(instruction, instruction, rec["output"], rec["generator"], None, extra))
    return records


def _mt_bench_questions(answer_path: Path) -> dict[str, str]:
    qfile = answer_path.resolve().parent.parent / "question.jsonl"
    if not qfile.exists():
        return {}
    questions = {}
    for lineno, q in iter_jsonl(qfile):
        turns = q.get("turns")
        if "question_id" not in q or not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
            raise AlignbenchError(f"{where(qfile, lineno)}: expected {{question_id, turns: [text, "
                                  "…]} (FastChat question.jsonl)")
        questions[str(q["question_id"])] = _join_turns(turns)
    return questions


def _join_turns(turns: list[str]) -> str:
    if len(turns) == 1:
        return turns[0]
    return "\n\n".join(f"[Turn {i + 1}]\n{t}" for i, t in enumerate(turns))


def _load_mt_bench(path: Path) -> list[OutputRecord]:
    questions = _mt_bench_questions(path)
    records, seen = [], {}
    for lineno, rec in iter_jsonl(path):
        at = where(path, lineno)
        qid = rec.get("question_id")
        if isinstance(qid, bool) or not isinstance(qid, (int, str)) or qid == "":
            raise AlignbenchError(f"{at}: field 'question_id' must be an integer or string (FastChat MT-Bench answers)")
        qid = str(qid)
        if qid in seen:
            raise AlignbenchError(f"{at}: duplicate question_id {qid!r} (first on line {seen[qid]})")
        seen[qid] = lineno
        model = rec.get("model_id")
        if not isinstance(model, str) or not model:
            raise AlignbenchError(f"{at}: missing or non-string field 'model_id' (FastChat MT-Bench answers)")
        choices = rec.get("choices")
        turns = (
            choices[0].get("turns") if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
        )
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            raise AlignbenchError(f"{at}: field 'choices' must be [{{turns: [text, …]}}] (FastChat MT-Bench answers)")
        extra = {"answer_id": rec.get("answer_id")}
        if qid not in questions:
            extra["question_text_missing"] = True  # the judge will not see the question
        prompt = questions.get(qid, f"MT-Bench question {qid}")
        records.append(OutputRecord(qid, prompt, _join_turns(turns), model, None, extra))
    return records


def _arena_hard_questions(answer_path: Path) -> dict[str, str]:
    """uid / question_id → prompt from ``../question.jsonl`` (arena-hard's layout), {} when it is not there."""
    qfile = answer_path.resolve().parent.parent / "question.jsonl"
    if not qfile.exists():
        return {}
    out = {}
    for lineno, q in iter_jsonl(qfile):
        qid = q.get("uid", q.get("question_id"))
        text = q.get("prompt")
        if text is None and isinstance(q.get("turns"), list) and q["turns"] and isinstance(q["turns"][0], dict):
            text = q["turns"][0].get("content")
        if isinstance(qid, bool) or not isinstance(qid, (str, int)) or not isinstance(text, str):
            raise AlignbenchError(f"{where(qfile, lineno)}: expected {{uid | question_id, "
                                  "prompt | turns: [{content}]} (Arena-Hard question.jsonl)")
        out[str(qid)] = text
    return out


def _message_text(content) -> str | None:
    """A message's text: a string, or arena-hard's ``{answer: text}``."""
    if isinstance(content, dict):
        content = content.get("answer")
    return content if isinstance(content, str) else None


def _load_arena_hard(path: Path) -> list[OutputRecord]:
    questions = _arena_hard_questions(path)
    records, seen = [], {}
    for lineno, rec in iter_jsonl(path):
        at = where(path, lineno)
        qid = rec.get("uid", rec.get("question_id"))
        if isinstance(qid, bool) or not isinstance(qid, (int, str)) or qid == "":
            raise AlignbenchError(f"{at}: field 'uid' / 'question_id' must be a string or integer (Arena-Hard answers)")
        qid = str(qid)
        if qid in seen:
            raise AlignbenchError(f"{at}: duplicate question {qid!r} (first on line {seen[qid]})")
        seen[qid] = lineno
        model = rec.get("model", rec.get("model_id"))
        if not isinstance(model, str) or not model:
            raise AlignbenchError(f"{at}: missing or non-string field 'model' / 'model_id' (Arena-Hard answers)")
        prompt = questions.get(qid)
        if "messages" in rec:
            msgs = rec["messages"]
            if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
                raise AlignbenchError(f"{at}: field 'messages' must be a list of {{role, content}}")
            users = [_message_text(m.get("content")) for m in msgs if m.get("role") == "user"]
            answers = [_message_text(m.get("content")) for m in msgs if m.get("role") == "assistant"]
            if not answers or answers[-1] is None:
                raise AlignbenchError(f"{at}: no assistant message with a text or {{answer}} content")
            output = answers[-1]
            prompt = prompt if prompt is not None else (users[0] if users and users[0] is not None else None)
        else:
            choices = rec.get("choices")
            turns = (
                choices[0].get("turns")
                if isinstance(choices, list) and choices and isinstance(choices[0], dict)
                else None
            )
            texts = (
                [t.get("content") if isinstance(t, dict) else None for t in turns]
                if isinstance(turns, list)
                else [None]
            )
            if not texts or not all(isinstance(t, str) for t in texts):
                raise AlignbenchError(f"{at}: field 'choices' must be [{{turns: "
                                      "[{content}, …]}] (Arena-Hard answers)")
            output = _join_turns(texts)
        extra = {} if prompt is not None else {"question_text_missing": True}
        records.append(OutputRecord(qid, prompt if prompt is not None else f"Arena-Hard question {qid}", output, model,
                                    None, extra))
    return records


def write_outputs(path: str | Path, records: list[OutputRecord]) -> None:
    atomic_write_jsonl(path, [r.to_json() for r in records])


def write_submission_files(directory: str | Path, records: list[OutputRecord]) -> dict[str, Path]:
    """The same outputs as alpaca_eval's ``model_outputs.json`` and as a FastChat answer file
    (``fastchat/model_answer/<generator>.jsonl`` beside ``fastchat/question.jsonl``), to hand to those tools
    unchanged. A conversation's earlier turns are in its prompt text (the readable transcript)."""
    directory = Path(directory)
    alpaca = directory / "alpaca_eval" / "model_outputs.json"
    alpaca.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(alpaca,
                      [{"instruction": r.prompt, "output": r.output, "generator": r.generator, "dataset": "alignbench"}
                               for r in records])
    generator = records[0].generator if records else "model"
    answers = directory / "fastchat" / "model_answer" / f"{_file_safe(generator)}.jsonl"
    answers.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_jsonl(answers,
                       [{"question_id": r.prompt_id, "answer_id": f"{r.generator}-{r.prompt_id}",
                         "model_id": r.generator,
                                  "choices": [{"index": 0, "turns": [r.output]}], "tstamp": 0.0} for r in records])
    atomic_write_jsonl(directory / "fastchat" / "question.jsonl",
                       [{"question_id": r.prompt_id, "category": "alignbench", "turns": [r.prompt]} for r in records])
    return {"alpaca_eval": alpaca, "fastchat": answers}


def _file_safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@=" else "_" for c in name)


def align_outputs(method: list[OutputRecord], reference: list[OutputRecord], method_path="outputs",
                  reference_path="reference"):
    """Pair each method output with the reference output of the same prompt_id (same order as ``method``).

    Files that share no prompt_id at all (an alpaca_eval file, keyed by instruction, against a JSONL
    keyed by ids) are joined on the prompt text instead."""
    ref = {r.prompt_id: r for r in reference}
    mine = {m.prompt_id for m in method}
    if method and not (mine & set(ref)):
        method = [_keyed_by_prompt(m) for m in method]
        reference = [_keyed_by_prompt(r) for r in reference]
        ref = {r.prompt_id: r for r in reference}
        mine = {m.prompt_id for m in method}
    for m in method:
        if m.prompt_id not in ref:
            raise AlignbenchError(f"{method_path}: {_short(m.prompt_id)} has no output in {reference_path}")
        if ref[m.prompt_id].prompt != m.prompt:
            raise AlignbenchError(f"{method_path}: prompt_id {m.prompt_id!r} has a different "
                                  f"prompt text in {reference_path}")
    missing = [pid for pid in ref if pid not in mine]
    if missing:
        raise AlignbenchError(f"{reference_path}: {_short(missing[0])} has no output in "
                              f"{method_path} ({len(missing)} missing)")
    return [(m, ref[m.prompt_id]) for m in method]


def _keyed_by_prompt(record: OutputRecord) -> OutputRecord:
    return OutputRecord(record.prompt, record.prompt, record.output, record.generator, record.seed,
                        {**record.extra, "source_prompt_id": record.prompt_id})


def _short(prompt_id: str) -> str:
    """prompt_id 'x' as the message shows it; an instruction used as id is cut to 60 characters."""
    return f"prompt_id {prompt_id!r}" if len(prompt_id) <= 60 else f"prompt_id {prompt_id[:57]!r}…"
