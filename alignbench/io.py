"""Files that matter: atomic writes, append-only JSONL with fsync, strict JSONL reading.

Every reader error is an :class:`AlignbenchError` naming ``file:line``.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import AlignbenchError, where

MAX_LINE_BYTES = 16 * 1024 * 1024


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same directory, fsync, rename."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; published files get the usual umask-derived mode instead.
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it; done once, before any thread writes
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_torch(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` through :func:`atomic_write_bytes`: a full disk is an OSError naming the file, never
    torch's RuntimeError, and never a torn file."""
    import io as _io

    import torch  # lazy: only the writers of models need it

    buf = _io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False, default=_json_default) + "\n" for r in records)
    atomic_write_text(path, text)


def _json_default(obj: Any):
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps_line(record: dict) -> str:
    """One JSONL line; refuses NaN/inf so that no file we write is unreadable by strict parsers."""
    return json.dumps(record, ensure_ascii=False, allow_nan=False, default=_json_default) + "\n"


def append_jsonl(path: str | os.PathLike, records: Iterable[dict], fsync: bool = True) -> None:
    """Append records as whole lines in one write, then fsync (append-only logs such as judgments)."""
    data = "".join(dumps_line(r) for r in records).encode("utf-8")
    if not data:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        f.write(data)
        f.flush()
        if fsync:
            os.fsync(f.fileno())


def repair_torn_tail(path: str | os.PathLike) -> int:
    """Drop a torn (unterminated or unparsable) last line left by a killed writer.

    Returns the number of bytes removed. Only the final line may be torn: an append-only log
    is written a whole line per ``write``, so a bad line in the middle is real corruption and is
    reported by :func:`iter_jsonl` instead.
    """
    path = Path(path)
    if not path.is_file():
        return 0
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        if not size:
            return 0
        # Only the tail is read: the last line is at most MAX_LINE_BYTES long, whatever the file's size.
        offset = max(0, size - MAX_LINE_BYTES - 2)
        f.seek(offset)
        data = f.read()
        if data.endswith(b"\n"):
            last_start = data.rfind(b"\n", 0, len(data) - 1) + 1
            if last_start == 0 and offset > 0:
                return 0  # a whole line over the limit: the reader reports it with its line number
            try:
                json.loads(data[last_start:].decode("utf-8"))
                return 0
            except (ValueError, UnicodeDecodeError):
                keep = offset + last_start
        else:
            newline = data.rfind(b"\n")
            if newline < 0 and offset > 0:
                return 0
            keep = offset + newline + 1
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return size - keep


def iter_jsonl(path: str | os.PathLike, allow_empty: bool = False) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)``; every malformed line is an error naming ``file:line``."""
    path = Path(path)
    if not path.exists():
        raise AlignbenchError(f"{path}: file not found")
    if path.is_dir():
        raise AlignbenchError(f"{path}: is a directory, expected a JSONL file")
    n = 0
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        f = opener(path, "rb")
    except OSError as e:
        raise AlignbenchError(f"{path}: cannot read ({e.strerror or e})") from None
    with f:
        for lineno, raw in enumerate(_guard_gzip(f, path), start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise AlignbenchError(f"{where(path, lineno)}: line is over the {MAX_LINE_BYTES}-byte limit")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise AlignbenchError(f"{where(path, lineno)}: invalid UTF-8 at byte {e.start}") from None
            if not text.strip():
                continue
            try:
                record = strict_json_loads(text)
            except RecursionError:
                raise AlignbenchError(f"{where(path, lineno)}: malformed JSON (nested too deeply)") from None
            except ValueError as e:
                raise AlignbenchError(f"{where(path, lineno)}: malformed JSON ({_short(e)})") from None
            if not isinstance(record, dict):
                raise AlignbenchError(f"{where(path, lineno)}: expected a JSON object, got {type(record).__name__}")
            n += 1
            yield lineno, record
    if n == 0 and not allow_empty:
        raise AlignbenchError(f"{path}: file is empty (no JSON records)")


def _guard_gzip(f, path):
    """Lines of ``f``, each read with a bound: a file with no newline (/dev/zero) is refused after
    MAX_LINE_BYTES + 1 bytes instead of being read whole into memory."""
    try:
        while True:
            raw = f.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            yield raw
            if len(raw) > MAX_LINE_BYTES:
                return
    except (OSError, EOFError) as e:
        if isinstance(e, OSError) and e.errno is not None:  # an I/O error; gzip's format errors carry no errno
            raise AlignbenchError(f"{path}: cannot read ({e.strerror or e})") from None
        raise AlignbenchError(f"{path}: not a valid gzip file ({e})") from None


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def strict_json_loads(text: str):
    """``json.loads`` refusing duplicate keys, NaN/Infinity and text that is not Unicode (a lone surrogate
    escape such as "\\ud800", which no file can be written with): ValueError naming the fault."""
    obj = json.loads(text, parse_constant=reject_constant, object_pairs_hook=unique_keys)
    if _SURROGATE_ESCAPE.search(text):  # escaped pairs (emoji) are fine; a lone half is not text
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(f"a lone surrogate \\u{ord(e.object[e.start]):04x} is not text") from None
    return obj


def unique_keys(pairs):
    record = dict(pairs)
    if len(record) != len(pairs):
        seen = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"duplicate key {dup!r}")
    return record


def reject_constant(name: str):
    raise ValueError(f"{name} is not allowed")


def _short(e: Exception) -> str:
    return str(e).split("\n")[0][:120]


def require_str(record: dict, key: str, path, lineno: int, allow_empty: bool = False) -> str:
    if key not in record:
        raise AlignbenchError(f"{where(path, lineno)}: missing field '{key}'")
    value = record[key]
    if not isinstance(value, str):
        raise AlignbenchError(f"{where(path, lineno)}: field '{key}' must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise AlignbenchError(f"{where(path, lineno)}: field '{key}' is empty")
    return value
