"""YAML and text input with bounds: file size, nesting depth, and the size of the tree once aliases
are expanded, so that no config (alias bomb, 100k-deep nesting, /dev/zero) can exhaust memory,
the stack or the clock before it is refused with a one-line error."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, SequenceNode

from .errors import AlignbenchError
from .io import strict_json_loads

MAX_YAML_BYTES = 1 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000  # scalars, sequences and mappings counted with every alias expanded


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Bound(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark.line + 1)
            return Composer.compose_node(self, parent, index)
        finally:
            self._depth -= 1


# YAML 1.1 (PyYAML) reads 5e-4 and 1e6 as text (its floats need a dot and a signed exponent); YAML 1.2,
# JSON and every user read them as numbers, and so does alignbench, everywhere.
_BoundedLoader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def _unique_mapping(loader, node, deep=False):
    """A mapping whose keys repeat is refused, as in JSON files (YAML's own rule; PyYAML keeps the last)."""
    seen: dict = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # '<<: *base' then overriding a key is how YAML extends a mapping
        key, line = loader.construct_object(key_node, deep=True), key_node.start_mark.line + 1
        try:
            if key in seen:
                raise _Bound(f"key {key!r} appears twice in one mapping (first on line {seen[key]})", line)
            seen[key] = line
        except TypeError:
            continue  # an unhashable key: construct_mapping reports it
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_BoundedLoader.construct_mapping = _unique_mapping


class _Bound(Exception):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


def _expanded_size(root) -> int:
    """Nodes in the tree once every alias is expanded (memoised on the shared nodes, so cheap)."""
    memo: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in memo:
            continue
        if isinstance(node, SequenceNode):
            kids = node.value
        elif isinstance(node, MappingNode):
            kids = [n for pair in node.value for n in pair]
        else:
            memo[id(node)] = 1
            continue
        if children_done:
            memo[id(node)] = min(MAX_NODES + 1, 1 + sum(memo[id(k)] for k in kids))
        else:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in memo)
    return memo[id(root)]


def load_yaml_text(text: str, origin: str, lenient: bool = False):
    """``yaml.safe_load`` with depth and expanded-size bounds; errors are one line naming ``origin``.

    ``lenient``: text that is not valid YAML is returned as the string itself (``--set key=a: b``)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_YAML_BYTES:
        raise AlignbenchError(f"{origin}: over the {MAX_YAML_BYTES}-byte limit for YAML input")
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise AlignbenchError(f"{origin}: over {MAX_NODES:,} values once aliases are expanded (an alias bomb?)")
        return loader.construct_document(node)
    except _Bound as e:
        raise AlignbenchError(f"{origin}:{e.line}: {e}") from None
    except yaml.YAMLError as e:
        if lenient:
            return text
        mark = getattr(e, "problem_mark", None)
        loc = f"{origin}:{mark.line + 1}" if mark else origin
        raise AlignbenchError(f"{loc}: bad YAML ({getattr(e, 'problem', None) or str(e).splitlines()[0]})") from None
    finally:
        loader.dispose()


def read_text(path: str | os.PathLike, what: str = "file", max_bytes: int = MAX_YAML_BYTES) -> str:
    """A whole text file, read at most ``max_bytes`` + 1 bytes; every failure is one line naming the path."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise AlignbenchError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise AlignbenchError(f"{path}: is a directory, expected "
                              f"{'an' if what[0] in 'aeiou' else 'a'} {what}") from None
    except OSError as e:
        raise AlignbenchError(f"{path}: cannot read {what} ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise AlignbenchError(f"{path}: {what} is over the {max_bytes}-byte limit")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AlignbenchError(f"{path}: not valid UTF-8 (byte {e.start})") from None


def load_yaml_file(path: str | os.PathLike, what: str = "YAML file"):
    return load_yaml_text(read_text(path, what), str(path))


def load_json_file(path: str | os.PathLike, what: str = "JSON file", max_bytes: int = 64 * 1024 * 1024):
    path = Path(path)
    text = read_text(path, what, max_bytes)
    try:
        return strict_json_loads(text)
    except RecursionError:
        raise AlignbenchError(f"{path}: malformed JSON (nested too deeply)") from None
    except ValueError as e:
        where = f"line {e.lineno}: {e.msg}" if isinstance(e, json.JSONDecodeError) else str(e)
        raise AlignbenchError(f"{path}: malformed JSON ({where})") from None

