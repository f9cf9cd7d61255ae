"""YAML that remembers where each value came from, read safely from untrusted files.

PyYAML composes a node graph; we convert it ourselves so that we can keep source positions,
refuse duplicate keys, and bound the work an input can demand: a file-size cap, a nesting-depth
cap and a node budget that alias expansion also spends (so "billion laughs" stops early).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from seccompiler.base.errors import InputError, Location
from seccompiler.base.fsio import read_text

MAX_NODES = 2_000_000

# libyaml's parser when PyYAML was built with it: same nodes and marks, several times faster.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 100


@dataclass(frozen=True)
class Mark:
    """A 1-based position in a source file."""

    path: str
    line: int
    column: int

    def location(self) -> Location:
        return Location(self.path, self.line, self.column)


class LMap(dict[str, Any]):
    """A mapping that knows its own position and the positions of its keys and values."""

    mark: Mark
    key_marks: dict[str, Mark]
    value_marks: dict[str, Mark]

    def where(self, key: str) -> Mark:
        """Position of ``key``'s value, or of the mapping when the key is absent."""
        return self.value_marks.get(key, self.mark)

    def where_key(self, key: str) -> Mark:
        return self.key_marks.get(key, self.mark)


class LList(list[Any]):
    """A sequence that knows its own position and its items' positions."""

    mark: Mark
    item_marks: list[Mark]

    def where(self, index: int) -> Mark:
        return self.item_marks[index] if 0 <= index < len(self.item_marks) else self.mark


def _mark(path: str, node: yaml.Node) -> Mark:
    m = node.start_mark
    return Mark(path, m.line + 1, m.column + 1)


class _Builder:
    def __init__(self, path: str, loader: yaml.SafeLoader, max_nodes: int) -> None:
        self.path = path
        self.loader = loader
        self.budget = max_nodes

    def error(self, node: yaml.Node, message: str, hint: str = "") -> InputError:
        return InputError(message, hint=hint, location=_mark(self.path, node).location())

    def build(self, node: yaml.Node, depth: int = 0) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise self.error(
                node,
                "document expands to too many values (alias expansion?)",
                "remove the repeated aliases; this limit protects against YAML alias bombs",
            )
        if depth > MAX_DEPTH:
            raise self.error(node, f"nesting deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, depth)
        if isinstance(node, yaml.SequenceNode):
            out = LList()
            out.mark = _mark(self.path, node)
            out.item_marks = []
            for item in node.value:
                out.append(self.build(item, depth + 1))
                out.item_marks.append(_mark(self.path, item))
            return out
        try:
            return self.loader.construct_object(node, deep=False)
        except yaml.constructor.ConstructorError as exc:
            raise self.error(node, f"cannot read value: {exc.problem}") from None
        except (ValueError, OverflowError) as exc:
            raise self.error(node, f"cannot read value: {exc}") from None

    def _mapping(self, node: yaml.MappingNode, depth: int) -> LMap:
        out = LMap()
        out.mark = _mark(self.path, node)
        out.key_marks = {}
        out.value_marks = {}
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                raise self.error(knode, "merge keys ('<<') are not supported", "write the keys out")
            if not isinstance(knode, yaml.ScalarNode):
                raise self.error(knode, "mapping keys must be plain scalars")
            key = self.build(knode, depth + 1)
            if not isinstance(key, str):
                key = str(key) if not isinstance(key, bool) else str(key).lower()
            if key in out:
                first = out.key_marks[key]
                raise self.error(
                    knode,
                    f"duplicate key '{key}' (first given at line {first.line})",
                    "remove one of them",
                )
            out[key] = self.build(vnode, depth + 1)
            out.key_marks[key] = _mark(self.path, knode)
            out.value_marks[key] = _mark(self.path, vnode)
        return out


def _yaml_error(path: str, exc: yaml.YAMLError) -> InputError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    msg = f"malformed YAML: {problem}" + (f" ({context})" if context else "")
    loc = Location(path, mark.line + 1, mark.column + 1) if mark is not None else Location(path)
    return InputError(msg, hint="fix the YAML syntax at this position", location=loc)


def _reader_error(path: str, text: str, exc: yaml.reader.ReaderError) -> InputError:
    pos = max(0, min(exc.position, len(text)))
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return InputError(
        f"character {exc.character!r} is not allowed in YAML",
        hint="remove control characters; YAML files must be printable text",
        location=Location(path, line, column),
    )


def load_all_text(text: str, path: str, max_nodes: int = MAX_NODES) -> Iterator[Any]:
    """Yield each document of a YAML stream as located values."""
    try:
        loader = _LOADER(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(path, text, exc) from None
    builder = _Builder(path, loader, max_nodes)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            yield builder.build(node)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(path, text, exc) from None
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc) from None
    except RecursionError:
        raise InputError(
            f"nesting deeper than {MAX_DEPTH} levels", location=Location(path)
        ) from None
    finally:
        loader.dispose()


def load_text(text: str, path: str, max_nodes: int = MAX_NODES) -> Any:
    """Load a single-document YAML text; an empty document gives ``None``."""
    docs = list(load_all_text(text, path, max_nodes))
    if len(docs) > 1:
        raise InputError(
            "expected one YAML document, found several",
            hint="remove the extra '---' separators",
            location=Location(path),
        )
    return docs[0] if docs else None


def load_file(path: str, max_bytes: int = 4 * 1024 * 1024) -> Any:
    """Load a single-document YAML file with size, depth and expansion limits."""
    return load_text(read_text(path, max_bytes), path)
