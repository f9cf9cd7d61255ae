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

import base64
import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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


MERGE = object()  # what a plain ``<<`` stands for: a merge key
_NULL, _BOOL, _INT, _FLOAT, _STR = (
    f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "str")
)
_MERGE_TAG = "tag:yaml.org,2002:merge"
# The plain scalars go-yaml v2 reads by their whole text (its resolve table).
_GO_WORDS: dict[str, Any] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE"), True),
    **dict.fromkeys(("on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE"), False),
    **dict.fromkeys(("off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
# Go's strconv.ParseInt with base 0 (a sign; 0x, 0o, 0b or a leading 0 for octal), and the
# float syntax go-yaml v2 accepts, both on the text with every '_' taken out.
_GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)\Z")
_GO_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_GO_DOT_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?\Z")
_BASES = {"x": 16, "o": 8, "b": 2}


def go_plain(text: str) -> Any:
    """A plain scalar's value as the API server reads it: sigs.k8s.io/yaml over go-yaml
    v2, which decodes into untyped values before turning them into JSON.

    YAML 1.1's words for booleans (the one-letter ``y``/``n`` included) and null; integers
    as Go reads them with base 0 (``0o17``, ``0X1F``, ``0755`` octal), past int64 as uint64,
    and past that as a float; floats with or without a point (``1e3``); everything else,
    timestamps and YAML 1.1's base-60 numbers (``1:30``) included, a string. ``<<`` is
    ``MERGE``.
    """
    if text == "<<":
        return MERGE
    first = text[:1]
    if text in _GO_WORDS:
        return _GO_WORDS[text]
    if first == ".":
        if _GO_DOT_FLOAT.match(text):
            f = float(text)
            return text if math.isinf(f) else f
        return text
    if first and first in "+-0123456789":
        plain = text.replace("_", "")
        m = _GO_INT.match(plain)
        if m is not None:
            sign, body = m.groups()
            if len(body) > 1 and body[0] == "0":
                base = _BASES.get(body[1].lower(), 8)
                value = int(body[2:] if base != 8 or body[1] in "oO" else body[1:], base)
            else:
                value = int(body)
            value = -value if sign == "-" else value
            if -(2**63) <= value < 2**63 or (not sign and value < 2**64):
                return value
        if _GO_FLOAT.match(plain):
            f = float(plain)
            if not math.isinf(f):  # out of float64's range: ParseFloat fails
                return f
    return text


def _go_tag(text: str) -> str:
    value = go_plain(text)
    if isinstance(value, str):
        return _STR
    if value is None:
        return _NULL
    if value is MERGE:
        return _MERGE_TAG
    if isinstance(value, bool):
        return _BOOL
    return _INT if isinstance(value, int) else _FLOAT


def json_number(value: Any, text: str = "") -> Any:
    """``value``, refused when JSON cannot hold it (sigs.k8s.io/yaml's conversion fails)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(
            f"{text or value} is not a number JSON can hold, so the API server cannot read "
            "the manifest; quote it if it is meant as a string"
        )
    return value


def _go_construct(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    """A scalar tagged null, bool, int or float (plain, or with the tag written)."""
    value = go_plain(node.value)
    kind = node.tag.rsplit(":", 1)[-1]
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return json_number(float(value), node.value)  # !!float 1 is 1.0, as go-yaml has it
    if kind == "null" and value is None:
        return None
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"{node.value!r} is not a {kind}")


class KubernetesLoader(_LOADER):  # type: ignore[valid-type,misc]
    """YAML as the Kubernetes API server reads it (sigs.k8s.io/yaml over go-yaml v2): plain
    scalars resolved by ``go_plain``; a ``<<`` key merges as go-yaml does (``_Builder``)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return _go_tag(value)
        return super().resolve(kind, value, implicit)


for _tag in (_NULL, _BOOL, _INT, _FLOAT):
    KubernetesLoader.add_constructor(_tag, _go_construct)
KubernetesLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda loader, node: str(node.value)
)


def _go_binary(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    """``!!binary``: go-yaml decodes the base64 into a string, which JSON then holds (a byte
    that is no UTF-8 becomes U+FFFD)."""
    try:
        data = base64.b64decode(re.sub(r"[\r\n]", "", node.value), validate=True)
    except ValueError:
        raise ValueError("!!binary value contains invalid base64 data") from None
    return data.decode("utf-8", "replace")


KubernetesLoader.add_constructor("tag:yaml.org,2002:binary", _go_binary)
# any other tag (a local one, YAML 1.1's !!value): go-yaml keeps the scalar's text
KubernetesLoader.add_constructor(None, lambda loader, node: str(node.value))
KubernetesLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: str(node.value))


class KubernetesDumper(yaml.SafeDumper):
    """Writes YAML that Kubernetes reads back as written: a string that go-yaml v2 (or YAML
    1.1) would read as something else (``n``, ``1e3``, ``0o17``) comes out quoted."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        if kind is yaml.ScalarNode and implicit[0] and tag == _STR:
            return _go_tag(value)
        return tag


def json_key(key: Any) -> str:
    """A mapping key as sigs.k8s.io/yaml turns it into a JSON object's name: booleans as
    ``true``/``false``, integers in decimal, floats as Go formats a float32 (``%g``,
    shortest); a null key (or one beyond int64 read as uint64) it cannot convert."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int) and -(2**63) <= key < 2**63:
        return str(key)
    if isinstance(key, float):
        return _go_float32(key)
    raise ValueError(f"a mapping key that is {'null' if key is None else 'this large'}")


def _go_float32(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    try:
        f32 = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        f32 = math.copysign(math.inf, value)
    if math.isinf(f32):
        return ".inf" if f32 > 0 else "-.inf"
    if f32 == 0:
        return "-0" if math.copysign(1, f32) < 0 else "0"
    for digits in range(1, 10):  # the shortest decimal that reads back as the same float32
        text = f"{f32:.{digits - 1}e}"
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == f32:
            break
    mantissa, exp_text = text.split("e")
    exp = int(exp_text)
    sign = "-" if mantissa.startswith("-") else ""
    digs = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0"
    if exp < -4 or exp >= 6:  # Go's %g with the shortest precision: an exponent from 1e+06
        body = digs[0] + ("." + digs[1:] if len(digs) > 1 else "")
        return f"{sign}{body}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digs}"
    whole = digs[: exp + 1].ljust(exp + 1, "0")
    frac = digs[exp + 1 :]
    return sign + whole + ("." + frac if frac else "")


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
        self.merges = isinstance(loader, KubernetesLoader)  # '<<' keys, as go-yaml reads them

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
        if node.tag == _MERGE_TAG:  # '<<' where no key is: the text itself
            return node.value
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
        merged: set[str] = set()  # keys a merge gave, which a key after it may set again
        merge_at: yaml.Node | None = None
        for knode, vnode in node.value:
            if knode.tag == _MERGE_TAG:
                if not self.merges:
                    raise self.error(
                        knode, "merge keys ('<<') are not supported", "write the keys out"
                    )
                if merge_at is not None:
                    line = self._mark(merge_at).line
                    raise self.error(
                        knode,
                        f"duplicate key '<<' (first given at line {line})",
                        "merge several mappings with one key: '<<: [*a, *b]'",
                    )
                merge_at = knode
                self._merge(out, merged, knode, vnode, depth)
                continue
            if not isinstance(knode, yaml.ScalarNode):
                raise self.error(
                    knode,
                    "mapping keys must be plain scalars",
                    "write the key as a word or a quoted string, not a list or a mapping",
                )
            try:
                if self.merges and not knode.style and knode.tag != _STR:
                    # a plain key: its JSON name, which .inf or .nan can have as a key
                    self.budget.node(self._mark(knode))
                    key = json_key(go_plain(knode.value))
                else:
                    key = json_key(self.build(knode, depth + 1))
            except ValueError as exc:
                raise self.error(knode, f"{exc} cannot name a field", "quote the key") from None
            if key in out and key not in merged:
                first = out.key_marks[key]
                raise self.error(
                    knode,
                    f"duplicate key '{key}' (first given at line {first.line})",
                    "remove one of them",
                )
            merged.discard(key)  # a key after the merge sets its own value, as go-yaml does
            out[key] = self.build(vnode, depth + 1)
            out.key_marks[key] = self._mark(knode)
            out.value_marks[key] = self._mark(vnode)
        return out

    def _merge(
        self, out: LMap, merged: set[str], knode: yaml.Node, vnode: yaml.Node, depth: int
    ) -> None:
        """The keys of a ``<<`` key's mapping (or mappings: the first that has a key gives
        it) that ``out`` lacks. A key written before the ``<<`` that the merge also gives
        is refused: go-yaml v2, which turns the manifest into JSON, lets the merge win,
        and kubectl's checks before it (go-yaml v3) the key."""
        # an alias names a node built before; go-yaml merges an aliased mapping, or a list
        # of mappings written in place (an alias of a list, even of mappings, it refuses)
        aliased_list = isinstance(vnode, yaml.SequenceNode) and id(vnode) in self.sizes
        sources = list(vnode.value) if isinstance(vnode, yaml.SequenceNode) else [vnode]
        if aliased_list or not all(isinstance(n, yaml.MappingNode) for n in sources):
            raise self.error(
                knode,  # an aliased node's own place is its anchor's
                "a merge key ('<<') takes a mapping or a list of mappings",
                "write '<<: *anchor' or '<<: [*a, *b]', where each anchor names a mapping",
            )
        for source in sources:
            value = self.build(source, depth + 1)
            for key, item in value.items():
                if key in merged:
                    continue  # an earlier mapping of the list gave it
                if key in out:
                    raise self.error(
                        knode,
                        f"key '{key}' is given at line {out.key_marks[key].line} and by "
                        "this merge too, which kubectl's YAML readers resolve differently",
                        f"write '{key}' after the '<<' key, where its own value wins",
                    )
                merged.add(key)
                out[key] = item
                out.key_marks[key] = value.key_marks[key]
                out.value_marks[key] = value.value_marks[key]


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
