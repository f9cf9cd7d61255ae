"""YAML that remembers where each value came from, read safely from untrusted files.

PyYAML composes a node graph; we convert it ourselves so that we can keep source positions,
refuse duplicate keys, and bound the work an input can demand: a file-size cap, a nesting-depth
cap, a node budget, and a much smaller budget for what aliases add. The composer shares one
node between an anchor and its aliases, so composing costs no more than the text; expansion
happens here, and each alias is charged the full size of what it repeats *before* it is
expanded (so "billion laughs" and doubling chains stop after a few thousand values, in
milliseconds and a few MB). ``Budget`` is the one place this is counted: any reader of YAML in
the package goes through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml

from seccompiler.base.errors import InputError, Location
from seccompiler.base.fsio import read_text

MAX_NODES = 2_000_000
# Values that alias expansion may add to one stream. Real policies and manifests reuse an
# anchored list a handful of times; a few thousand values keep the worst case near 5 MB.
MAX_ALIAS_NODES = 10_000

# libyaml's parser when PyYAML was built with it: same nodes and marks, several times faster.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 100


class KubernetesLoader(_LOADER):  # type: ignore[valid-type,misc]
    """YAML as the Kubernetes API server reads it (sigs.k8s.io/yaml over go-yaml v2).

    go-yaml v2 keeps YAML 1.1's one-letter booleans, which PyYAML leaves out: a plain
    ``y``/``Y`` is true and ``n``/``N`` false, beside yes/no/on/off/true/false.
    """

    bool_values: ClassVar[dict[str, bool]] = {
        **yaml.constructor.SafeConstructor.bool_values,
        "y": True,
        "n": False,
    }


KubernetesLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN")
)


class KubernetesDumper(yaml.SafeDumper):
    """Writes YAML that Kubernetes reads back as written: a string ``n`` comes out quoted.

    PyYAML would write it plain, and the API server would read a boolean (go-yaml v2).
    """


KubernetesDumper.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN")
)


_SURROGATE = re.compile("[\ud800-\udfff]")


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


class Budget:
    """The work one YAML stream may demand: values built, and values added by aliases."""

    def __init__(self, path: str, max_nodes: int = MAX_NODES) -> None:
        self.path = path
        self.nodes_left = max_nodes
        self.alias_left = MAX_ALIAS_NODES

    def node(self, where: Mark) -> None:
        """Charge one value about to be built."""
        self.nodes_left -= 1
        if self.nodes_left < 0:
            raise InputError(
                "document has too many values",
                hint="split the input into several files",
                location=where.location(),
            )

    def alias(self, size: int, where: Mark) -> None:
        """Charge an alias the ``size`` values it repeats, before they are expanded."""
        self.alias_left -= size
        if self.alias_left < 0:
            raise InputError(
                f"aliases expand the document to too many values (more than "
                f"{MAX_ALIAS_NODES} repeated through aliases; the value anchored here repeats "
                f"{size})",
                hint="write the repeated values out, or repeat them less; this limit protects "
                "against YAML alias bombs",
                location=where.location(),
            )


class _Builder:
    def __init__(
        self, path: str, loader: yaml.SafeLoader, budget: Budget, first_line: int = 0
    ) -> None:
        self.path = path
        self.loader = loader
        self.budget = budget
        self.first_line = first_line  # lines of the file before the text read
        # Expanded size of each collection node built so far in this document, by identity:
        # meeting one again means an alias, and its size is known before anything is built.
        self.sizes: dict[int, int] = {}
        self.building: set[int] = set()

    def _mark(self, node: yaml.Node) -> Mark:
        m = node.start_mark
        return Mark(self.path, self.first_line + m.line + 1, m.column + 1)

    def error(self, node: yaml.Node, message: str, hint: str = "") -> InputError:
        return InputError(message, hint=hint, location=self._mark(node).location())

    def new_document(self) -> None:
        self.sizes.clear()  # node identities are only stable within one document
        self.building.clear()

    def build(self, node: yaml.Node, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise self.error(node, f"nesting deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.ScalarNode):
            self.budget.node(self._mark(node))
            return self._scalar(node)
        key = id(node)
        if key in self.building:
            raise self.error(node, "an alias refers to the collection that contains it")
        seen = self.sizes.get(key)
        if seen is not None:
            self.budget.alias(seen, self._mark(node))
        before = self.budget.nodes_left
        self.building.add(key)
        self.budget.node(self._mark(node))
        if isinstance(node, yaml.MappingNode):
            out: Any = self._mapping(node, depth)
        elif isinstance(node, yaml.SequenceNode):
            out = self._sequence(node, depth)
        else:  # pragma: no cover - the composer makes only these three kinds
            raise self.error(node, "unsupported YAML node")
        self.building.discard(key)
        self.sizes[key] = before - self.budget.nodes_left
        return out

    def _scalar(self, node: yaml.Node) -> Any:
        try:
            value = self.loader.construct_object(node, deep=False)
            if isinstance(value, str) and _SURROGATE.search(value):
                # "\ud800" escapes decode to lone surrogates: not characters, unprintable
                raise self.error(
                    node,
                    "a \\u escape gives half of a UTF-16 surrogate pair, not a character",
                    "write the character itself, or \\U0001xxxx for one outside the BMP",
                )
            return value
        except yaml.constructor.ConstructorError as exc:
            raise self.error(node, f"cannot read value: {exc.problem}") from None
        except (ValueError, OverflowError) as exc:
            raise self.error(node, f"cannot read value: {exc}") from None

    def _sequence(self, node: yaml.SequenceNode, depth: int) -> LList:
        out = LList()
        out.mark = self._mark(node)
        out.item_marks = []
        for item in node.value:
            out.append(self.build(item, depth + 1))
            out.item_marks.append(self._mark(item))
        return out

    def _mapping(self, node: yaml.MappingNode, depth: int) -> LMap:
        out = LMap()
        out.mark = self._mark(node)
        out.key_marks = {}
        out.value_marks = {}
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                raise self.error(knode, "merge keys ('<<') are not supported", "write the keys out")
            if not isinstance(knode, yaml.ScalarNode):
                raise self.error(
                    knode,
                    "mapping keys must be plain scalars",
                    "write the key as a word or a quoted string, not a list or a mapping",
                )
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
            out.key_marks[key] = self._mark(knode)
            out.value_marks[key] = self._mark(vnode)
        return out


def _yaml_error(path: str, exc: yaml.YAMLError, first_line: int = 0) -> InputError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    msg = f"malformed YAML: {problem}" + (f" ({context})" if context else "")
    loc = (
        Location(path, first_line + mark.line + 1, mark.column + 1)
        if mark is not None
        else Location(path)
    )
    return InputError(msg, hint="fix the YAML syntax at this position", location=loc)


def _reader_error(
    path: str, text: str, exc: yaml.reader.ReaderError, first_line: int = 0
) -> InputError:
    pos = max(0, min(exc.position, len(text)))
    line = first_line + text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return InputError(
        f"character {exc.character!r} is not allowed in YAML",
        hint="remove control characters; YAML files must be printable text",
        location=Location(path, line, column),
    )


def load_all_text(
    text: str,
    path: str,
    max_nodes: int = MAX_NODES,
    *,
    kubernetes: bool = False,
    first_line: int = 0,
    depth: int = 0,
    budget: Budget | None = None,
) -> Iterator[Any]:
    """Yield each document of a YAML stream as located values.

    ``kubernetes`` reads plain scalars as the API server does (see ``KubernetesLoader``).
    ``first_line`` and ``depth``: where ``text`` stands in a larger file (the lines before
    it, and how deep in a document its values are), for a piece read on its own;
    ``budget``: the file's, shared by its pieces (else one of ``max_nodes`` for ``text``).
    """
    try:
        loader = (KubernetesLoader if kubernetes else _LOADER)(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(path, text, exc, first_line) from None
    budget = Budget(path, max_nodes) if budget is None else budget
    builder = _Builder(path, loader, budget, first_line)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            builder.new_document()
            yield builder.build(node, depth)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(path, text, exc, first_line) from None
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc, first_line) from None
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
