"""Read Kubernetes manifests into located pod objects: Pods and the pod templates of workloads.

Input is multi-document YAML (through ``seccompiler.base.yamlsrc``, which keeps positions) or
JSON, from files or standard input (``-``), with ``List`` objects (``kubectl get … -o yaml``)
unpacked. Kinds follow the admission controller's pod-spec resources; other kinds are
skipped and counted. A value the API server could not decode is an ``InputError`` naming
``file:line:col``; reading goes on with the next object so that one report lists them all.

JSON is parsed with the standard library first, since ``kubectl get pods -A -o json`` can
be large: a top-level object's ``items`` are decoded one at a time and each is dropped once
read, so a List's raw tree is never held whole, and JSON may exceed the 64 MiB that other
input is held to (up to ``MAX_JSON_BYTES``). If anything in it is wrong, the text is read
again through ``yamlsrc`` so that the error names its line and column: the whole file when
it is within the usual limit, else each failing item alone, at its place in the file.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from json.decoder import scanstring as _scanstring  # type: ignore[attr-defined]
from typing import Any

from seccompiler.base.errors import InputError, Location, UsageError
from seccompiler.base.fsio import DEFAULT_MAX_BYTES, read_text
from seccompiler.base.jsontext import check_surrogates
from seccompiler.base.yamlfast import read_fast
from seccompiler.base.yamlsrc import MAX_NODES, LList, LMap, load_all_text
from seccompiler.platform.pss.model import Pod, decode_pod, fields

STDIN = "-"
MAX_LIST_DEPTH = 8
MAX_JSON_BYTES = 1 << 30  # JSON is streamed; kubectl writes ~12 KB a pod, indented
_WS = re.compile(r"[ \t\n\r]*")
_JSON_START = re.compile(r"[ \t\n\r]*[{\[]")
_Marks = dict[int, tuple[int, int]]


@dataclass(frozen=True)
class Workload:
    """Where a kind keeps its pod template, and the resource name the API server prints."""

    group: str
    resource: str
    template: tuple[str, ...]  # keys from the object to the template; () for a Pod

    @property
    def qualified(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


# The admission controller's pod-spec resources (admission.go defaultPodSpecResources).
WORKLOADS: dict[str, Workload] = {
    "Pod": Workload("", "pods", ()),
    "PodTemplate": Workload("", "podtemplates", ("template",)),
    "ReplicationController": Workload("", "replicationcontrollers", ("spec", "template")),
    "ReplicaSet": Workload("apps", "replicasets", ("spec", "template")),
    "Deployment": Workload("apps", "deployments", ("spec", "template")),
    "StatefulSet": Workload("apps", "statefulsets", ("spec", "template")),
    "DaemonSet": Workload("apps", "daemonsets", ("spec", "template")),
    "Job": Workload("batch", "jobs", ("spec", "template")),
    "CronJob": Workload("batch", "cronjobs", ("spec", "jobTemplate", "spec", "template")),
}


@dataclass(frozen=True)
class PodObject:
    """A Pod or a workload's pod template, with where it was read."""

    location: Location
    pointer: str  # where in the file: "items[3]", "document 2", "" for a lone document
    kind: str
    name: str
    namespace: str | None
    resource: str  # group-qualified, as the API server names it: "deployments.apps"
    pod: Pod | None  # None when a workload has no template (upstream then skips it)
    owner_uid: str | None = None  # the controller's uid, for the namespace dry-run order

    @property
    def is_pod(self) -> bool:
        return self.kind == "Pod"


@dataclass(frozen=True)
class Skipped:
    location: Location
    pointer: str
    api_version: str
    kind: str
    name: str


@dataclass
class Manifests:
    """What a set of files held: pod objects, other objects, namespaces, and errors."""

    objects: list[PodObject] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    namespaces: list[tuple[Location, str, Mapping[str, str]]] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)


def read_source(path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str, str]:
    """Return (display name, text) for a file, or for standard input when ``path`` is ``-``."""
    if path != STDIN:
        return path, read_text(path, max_bytes)
    if sys.stdin is None:
        raise UsageError("-: standard input is closed", hint="pipe the manifests in, or name files")
    try:
        data = sys.stdin.buffer.read(max_bytes + 1)
    except OSError as exc:
        raise UsageError(f"-: cannot read standard input: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise InputError(f"input is larger than {max_bytes} bytes", location=Location("<stdin>"))
    try:
        return "<stdin>", data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError("input is not valid UTF-8", location=Location("<stdin>", line)) from None


def read_manifests(paths: Sequence[str]) -> Manifests:
    """Read every file (``-`` is standard input) into one ``Manifests``."""
    out = Manifests()
    for path in paths:
        name, text = read_source(path, MAX_JSON_BYTES)
        if len(text) > DEFAULT_MAX_BYTES and not _JSON_START.match(text):
            raise InputError(
                f"file is larger than {DEFAULT_MAX_BYTES} bytes",
                hint="split it, or check that this is the file you meant",
                location=Location(name),
            )
        parse_text(text, name, out)
    return out


def parse_text(text: str, path: str, out: Manifests) -> None:
    """Add what ``text`` holds to ``out``; syntax errors end the file, others are collected."""
    try:
        check_surrogates(text, path)  # "\ud800" in JSON: half a character, unprintable
    except InputError as exc:
        out.errors.append(exc)
        return
    if _JSON_START.match(text):
        fast = Manifests()
        try:
            failed = _json(text, path, fast)
        except (ValueError, RecursionError, IndexError) as exc:  # IndexError: cut short
            if len(text) > DEFAULT_MAX_BYTES:  # too large for the second reading
                out.errors.append(_json_error(text, path, exc))
                return
        else:
            if not fast.errors:
                _extend(out, fast)
                return
            if len(text) > DEFAULT_MAX_BYTES:
                _relocate(text, path, fast, failed)
                _extend(out, fast)
                return
    elif _fast(text, path, out):
        return
    try:
        _collect(load_all_text(text, path, max(MAX_NODES, len(text)), kubernetes=True), path, out)
    except InputError as exc:
        out.errors.append(exc)


def _fast(text: str, path: str, out: Manifests) -> bool:
    """Read YAML through ``yamlfast`` when it can, with the same result as a located reading.

    The objects come out the same, at the same places. A document with an error in it is
    read again located, alone at its place in the file, for the error's line and column; in
    a List only the items with an error are. Returns False, having added nothing, when the
    text leaves the fast reader's subset (the caller then reads all of it located).
    """
    fast = read_fast(text, max(MAX_NODES, len(text)))
    if fast is None:
        return False
    got = Manifests()
    lines: list[str] | None = None
    try:
        for i, (doc, span) in enumerate(zip(fast.docs, fast.spans, strict=True)):
            if doc is None:
                continue
            pointer = f"document {i + 1}" if i else ""
            part = Manifests()
            failed: list[_FailedItem] = []
            _object(doc, path, pointer, part, None, 0, None, fast.marks, failed)
            if part.errors:
                lines = lines or text.split("\n")
                if not _relocate_items(lines, path, part, failed, fast.marks, span):
                    part = _located_document(lines, path, pointer, span)
            _extend(got, part)
    except (_Unplaced, InputError):
        return False
    _extend(out, got)
    return True


# A List item whose reading added errors: the item, its pointer and item type, its errors'
# place in the list of errors [first, end).
_FailedItem = tuple[Any, str, tuple[str, str] | None, int, int]


class _Unplaced(Exception):
    """A fast-read object without a recorded position: read the text located instead."""


def _located_document(
    lines: list[str], path: str, pointer: str, span: tuple[int, int]
) -> Manifests:
    """One document read again located, alone, at its place in the file."""
    first, end = span
    piece = "\n" * first + "\n".join(lines[first:end])
    docs = list(load_all_text(piece, path, max(MAX_NODES, len(piece)), kubernetes=True))
    if len(docs) != 1:
        raise _Unplaced
    again = Manifests()
    _object(docs[0], path, pointer, again, None, 0)
    return again


def _relocate_items(
    lines: list[str],
    path: str,
    part: Manifests,
    failed: list[_FailedItem],
    marks: _Marks,
    span: tuple[int, int],
) -> bool:
    """Give each failing item of a List the errors of a located reading of it alone.

    False when the errors are not all the items' own, or an item is not a ``- key: …``
    mapping: the caller then reads the whole document again.
    """
    if sum(end - first for *_, first, end in failed) != len(part.errors):
        return False
    errors = list(part.errors)
    for item, pointer, item_type, first, end in reversed(failed):
        where = marks.get(id(item)) if isinstance(item, dict) else None
        if where is None:
            return False
        row, col = where[0] - 1, where[1] - 1
        head = lines[row][:col]
        if head.strip(" ") != "-":
            return False
        dash = head.index("-")
        last = row + 1
        while last < span[1]:
            body = lines[last].lstrip(" ")
            if body and body[0] != "#" and len(lines[last]) - len(body) <= dash:
                break
            last += 1
        piece = (
            "\n" * row
            + " " * (dash + 1)
            + "\n".join([lines[row][dash + 1 :], *lines[row + 1 : last]])
        )
        docs = list(load_all_text(piece, path, max(MAX_NODES, len(piece)), kubernetes=True))
        if len(docs) != 1:
            return False
        again = Manifests()
        _object(docs[0], path, pointer, again, item_type, 1)
        if not again.errors:
            return False
        errors[first:end] = again.errors
    part.errors = errors
    return True


class _Dup(ValueError):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Dup("duplicate key")
    return result


_DECODER = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=lambda c: _no_constant(c))


_Failed = dict[int, tuple[int, int, list[InputError]]]


def _json(text: str, path: str, out: Manifests) -> _Failed:
    """Read JSON into ``out``, streaming a top-level object's ``items``.

    Returns, for each List item whose reading added errors, its span in ``text`` and them.
    Raises ValueError for text that is not JSON, or has a duplicate key.
    """
    pos = _skip(text, 0)
    if text[pos] != "{":
        doc, end = _DECODER.raw_decode(text, pos)
        if _skip(text, end) != len(text):
            raise ValueError("extra data after the JSON value")
        _collect([doc], path, out)
        return {}
    top: dict[str, Any] = {}
    streamed = Manifests()
    failed: _Failed = {}
    own_types = True  # every item names its own apiVersion and kind
    streaming = False
    pos = _skip(text, pos + 1)
    while text[pos] != "}":
        if text[pos] != '"':
            raise ValueError("expected a key")
        key, pos = _scanstring(text, pos + 1)
        pos = _skip(text, pos)
        if text[pos] != ":" or key in top:
            raise ValueError("expected ':'" if text[pos] != ":" else "duplicate key")
        pos = _skip(text, pos + 1)
        if key == "items" and text[pos] == "[":
            top[key] = []
            streaming = True
            pos = _skip(text, pos + 1)
            i = 0
            while text[pos] != "]":
                start = pos
                item, pos = _DECODER.raw_decode(text, pos)
                before = len(streamed.errors)
                own_types = own_types and _typed(item)
                _object(item, path, f"items[{i}]", streamed, None, 1, Location(path))
                if len(streamed.errors) > before:
                    failed[i] = (start, pos, streamed.errors[before:])
                i += 1
                pos = _skip(text, pos)
                if text[pos] == ",":
                    pos = _skip(text, pos + 1)
                elif text[pos] != "]":
                    raise ValueError("expected ',' or ']'")
            pos += 1
        else:
            top[key], pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text[pos] == ",":
            pos = _skip(text, pos + 1)
        elif text[pos] != "}":
            raise ValueError("expected ',' or '}'")
    if _skip(text, pos + 1) != len(text):
        raise ValueError("extra data after the JSON value")
    shell = Manifests()
    _collect([top], path, shell)  # the object, with its items taken out when streamed
    kind = top.get("kind")
    lists = isinstance(kind, str) and kind.endswith("List")
    if not streaming or shell.errors or not lists:
        _extend(out, shell)  # exact: the items were not read, or would not be
        return {}
    if kind == "List" or own_types:  # each item reads the same wherever it stands
        _extend(out, shell)
        _extend(out, streamed)
        return failed
    # Items of a typed List that leave their type to it: read the whole text again (rare).
    _collect([json.loads(text, object_pairs_hook=_unique, parse_constant=_no_constant)], path, out)
    return {}


def _skip(text: str, pos: int) -> int:
    """The first position from ``pos`` on that is not JSON whitespace."""
    m = _WS.match(text, pos)
    return m.end() if m else pos


def _typed(item: Any) -> bool:
    return isinstance(item, dict) and bool(item.get("apiVersion")) and bool(item.get("kind"))


def _relocate(text: str, path: str, fast: Manifests, failed: _Failed) -> None:
    """Replace the errors of each failing item by those of a located reading of it alone."""
    located: dict[int, list[InputError]] = {}  # id of an item's first error → its new errors
    dropped: set[int] = set()
    for i, (start, end, errors) in failed.items():
        line = text.count("\n", 0, start)
        column = start - (text.rfind("\n", 0, start) + 1)
        # Padding puts the item where it stands in the file: positions come out exact.
        piece = "\n" * line + " " * column + text[start:end]
        again = Manifests()
        try:
            for doc in load_all_text(piece, path, max(MAX_NODES, len(piece)), kubernetes=True):
                _object(doc, path, f"items[{i}]", again, None, 1)
        except InputError as exc:
            again.errors.append(exc)
        located[id(errors[0])] = again.errors or errors
        dropped.update(id(e) for e in errors)
    out: list[InputError] = []
    for e in fast.errors:
        if id(e) in located:
            out += located[id(e)]
        elif id(e) not in dropped:
            out.append(e)
    fast.errors = out


def _json_error(text: str, path: str, exc: Exception) -> InputError:
    if isinstance(exc, json.JSONDecodeError):
        where = Location(path, exc.lineno, exc.colno)
        return InputError(f"malformed JSON: {exc.msg}", location=where)
    return InputError(f"malformed JSON: {exc}", location=Location(path))


def _extend(out: Manifests, more: Manifests) -> None:
    out.objects += more.objects
    out.skipped += more.skipped
    out.namespaces += more.namespaces
    out.errors += more.errors


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _collect(docs: Iterable[Any], path: str, out: Manifests, marks: _Marks | None = None) -> None:
    for i, doc in enumerate(docs):
        if doc is not None:
            _object(doc, path, f"document {i + 1}" if i else "", out, None, 0, None, marks)


def _place(obj: Any, path: str, at: Location | None, marks: _Marks | None) -> Location:
    """Where ``obj`` starts: its own mark, the fast reader's record of it, or ``at``."""
    if isinstance(obj, LMap | LList):
        return obj.mark.location()
    if marks is not None and isinstance(obj, dict):
        where = marks.get(id(obj))
        if where is None:
            raise _Unplaced
        return Location(path, where[0], where[1])
    return at or Location(path)


def _object(
    obj: Any,
    path: str,
    pointer: str,
    out: Manifests,
    inherit: tuple[str, str] | None,
    depth: int,
    at: Location | None = None,
    marks: _Marks | None = None,
    failed: list[_FailedItem] | None = None,
) -> None:
    """Classify one object, recursing into Lists (``inherit``: a typed list's item type).

    ``marks``: the positions of a fast reading's objects (``yamlfast``); ``failed`` gets the
    items of this object, when it is a List, whose reading added errors.
    """
    loc = _place(obj, path, at, marks)
    if isinstance(obj, list):
        for i in range(len(obj)):
            item_at = _item_location(obj, i, path)
            _object(obj[i], path, f"{pointer}[{i}]", out, inherit, depth + 1, item_at, marks)
        return
    if not isinstance(obj, dict):
        out.errors.append(
            InputError(
                "expected a Kubernetes object (a mapping with apiVersion and kind)",
                location=loc,
            )
        )
        return
    try:
        api_version = fields.string(obj, "apiVersion", "apiVersion") or ""
        kind = fields.string(obj, "kind", "kind") or ""
        if inherit is not None:
            api_version = api_version or inherit[0]
            kind = kind or inherit[1]
        if not kind:
            raise InputError(
                "object has no kind",
                hint="every manifest needs apiVersion and kind",
                location=loc,
            )
        items = obj.get("items")
        if kind.endswith("List") and (items is not None or kind == "List"):
            if depth >= MAX_LIST_DEPTH:
                raise InputError("Lists nested too deeply", location=loc)
            seq = fields.sequence(obj, "items", "items")
            item_kind = kind[: -len("List")]
            item_type = None if kind == "List" else (api_version, item_kind)
            for i in range(len(seq)):
                item = f"{pointer}.items[{i}]" if pointer else f"items[{i}]"
                item_at = _item_location(seq, i, path)
                before = len(out.errors)
                _object(seq[i], path, item, out, item_type, depth + 1, item_at, marks)
                if failed is not None and len(out.errors) > before:
                    failed.append((seq[i], item, item_type, before, len(out.errors)))
            return
        meta = fields.mapping(obj, "metadata", "metadata") or {}
        name = fields.string(meta, "name", "metadata.name") or ""
        if not name:
            name = fields.string(meta, "generateName", "metadata.generateName") or ""
        namespace = fields.string(meta, "namespace", "metadata.namespace")
        group = api_version.rpartition("/")[0]
        if kind == "Namespace" and group == "":
            labels = fields.string_map(meta, "labels", "metadata.labels")
            out.namespaces.append((loc, name, labels))
            return
        workload = WORKLOADS.get(kind)
        if workload is None or workload.group != group:
            out.skipped.append(Skipped(loc, pointer, api_version, kind, name))
            return
        out.objects.append(
            PodObject(
                location=loc,
                pointer=pointer,
                kind=kind,
                name=name,
                namespace=namespace or None,
                resource=workload.qualified,
                pod=_template(obj, workload),
                owner_uid=_controller_uid(meta),
            )
        )
    except InputError as exc:
        out.errors.append(exc)


def _item_location(seq: Any, i: int, path: str) -> Location:
    return seq.where(i).location() if isinstance(seq, LList) else Location(path)


def _template(obj: Mapping[str, Any], workload: Workload) -> Pod | None:
    if not workload.template:
        return decode_pod(
            fields.mapping(obj, "metadata", "metadata"), fields.mapping(obj, "spec", "spec")
        )
    node: Mapping[str, Any] | None = obj
    trail = ""
    for key in workload.template:
        assert node is not None
        node = fields.mapping(node, key, f"{trail}{key}")
        trail += f"{key}."
        if node is None:
            return None
    assert node is not None
    return decode_pod(
        fields.mapping(node, "metadata", f"{trail}metadata"),
        fields.mapping(node, "spec", f"{trail}spec"),
        trail,
    )


def _controller_uid(meta: Mapping[str, Any]) -> str | None:
    refs = meta.get("ownerReferences")
    if not isinstance(refs, list):
        return None
    for ref in refs:
        if isinstance(ref, dict) and ref.get("controller") is True:
            uid = ref.get("uid")
            return uid if isinstance(uid, str) else None
    return None
