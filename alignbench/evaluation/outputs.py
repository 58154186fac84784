"""Output files: one JSONL per method (prompt_id, prompt, output, generator), matched by prompt_id."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import AlignbenchError, where
from ..io import atomic_write_jsonl, iter_jsonl, require_str


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


def load_outputs(path: str | Path) -> list[OutputRecord]:
    """Read an outputs JSONL; malformed lines, missing fields and duplicate ids name file:line."""
    path = Path(path)
    records: list[OutputRecord] = []
    seen: dict[str, int] = {}
    for lineno, rec in iter_jsonl(path):
        pid = rec.get("prompt_id")
        if isinstance(pid, int) and not isinstance(pid, bool):
            pid = str(pid)
        if pid is None:
            raise AlignbenchError(f"{where(path, lineno)}: missing field 'prompt_id'")
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
        records.append(OutputRecord(pid, prompt, output, generator, seed, {k: v for k, v in rec.items() if k not in KNOWN}))
    return records


def write_outputs(path: str | Path, records: list[OutputRecord]) -> None:
    atomic_write_jsonl(path, [r.to_json() for r in records])


def align_outputs(method: list[OutputRecord], reference: list[OutputRecord], method_path="outputs", reference_path="reference"):
    """Pair each method output with the reference output of the same prompt_id (same order as ``method``)."""
    ref = {r.prompt_id: r for r in reference}
    mine = {m.prompt_id for m in method}
    for m in method:
        if m.prompt_id not in ref:
            raise AlignbenchError(f"{method_path}: prompt_id {m.prompt_id!r} has no output in {reference_path}")
        if ref[m.prompt_id].prompt != m.prompt:
            raise AlignbenchError(f"{method_path}: prompt_id {m.prompt_id!r} has a different prompt text in {reference_path}")
    missing = [pid for pid in ref if pid not in mine]
    if missing:
        raise AlignbenchError(f"{reference_path}: prompt_id {missing[0]!r} has no output in {method_path} ({len(missing)} missing)")
    return [(m, ref[m.prompt_id]) for m in method]
