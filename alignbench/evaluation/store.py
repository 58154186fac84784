"""judgments.jsonl: append-only, one line per pair and order, keyed by a content hash.

Opening repairs a torn last line left by a killed writer; a key already present is never judged
again, so a killed run resumes without paying twice and without duplicating a judgment.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import AlignbenchError
from ..io import append_jsonl, iter_jsonl, repair_torn_tail

# A judge's reply is kept for audit up to this many characters (at most 4 bytes each in UTF-8, so a
# record stays far below io.MAX_LINE_BYTES); a longer one is cut and the record says by how much.
MAX_STORED_RAW = 256 * 1024


def judgment_key(judge_model: str, template_sha: str, temperature: float, seed: int, max_tokens: int,
                 prompt: str, output_a: str, output_b: str) -> str:
    payload = json.dumps([judge_model, template_sha, temperature, seed, max_tokens, prompt, output_a, output_b],
                         ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class JudgmentStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = repair_torn_tail(self.path)
        self.records: dict[str, dict] = {}
        self.duplicates = 0
        if self.path.exists() and self.path.stat().st_size:
            for lineno, rec in iter_jsonl(self.path, allow_empty=True):
                key = rec.get("key")
                if not isinstance(key, str):
                    raise AlignbenchError(f"{self.path}:{lineno}: judgment without a 'key'")
                if key in self.records:
                    self.duplicates += 1
                self.records[key] = rec

    def has(self, key: str) -> bool:
        return key in self.records

    def get(self, key: str) -> dict | None:
        return self.records.get(key)

    def append(self, records: list[dict]) -> None:
        fresh = [_capped(r) for r in records if r["key"] not in self.records]
        append_jsonl(self.path, fresh)
        for r in fresh:
            self.records[r["key"]] = r

    def __len__(self) -> int:
        return len(self.records)


def _capped(record: dict) -> dict:
    raw = record.get("raw")
    if isinstance(raw, str) and len(raw) > MAX_STORED_RAW:
        return {**record, "raw": raw[:MAX_STORED_RAW], "raw_truncated_from_chars": len(raw)}
    return record
