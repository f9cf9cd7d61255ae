"""Read Kubernetes manifests into located pod objects (``objects``): files and standard input.

Input is multi-document YAML or JSON, from files or standard input (``-``), with ``List``
objects (``kubectl get … -o yaml``) unpacked. YAML is read by ``seccompiler.base.yamlfast``
when the text keeps to plain block YAML, else by ``seccompiler.base.yamlsrc``, which keeps
positions; a document or List item with an error is read again located, alone, at its place.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from json.decoder import scanstring as _scanstring  # type: ignore[attr-defined]
from typing import Any

import yaml

from seccompiler.base.errors import InputError, Location, UsageError
from seccompiler.base.fsio import DEFAULT_MAX_BYTES, read_text
from seccompiler.base.jsonsrc import load_located
from seccompiler.base.jsontext import check_surrogates
from seccompiler.base.yamlfast import FastDocs, read_fast
from seccompiler.base.yamlsrc import MAX_NODES, Budget, load_all_text
from seccompiler.platform.pss.objects import (
    FailedItem,
    Manifests,
    Marks,
    Unplaced,
    classify,
    collect,
    extend,
)

STDIN = "-"
MAX_JSON_BYTES = 1 << 30  # JSON is streamed; kubectl writes ~12 KB a pod, indented
_WS = re.compile(r"[ \t\n\r]*")
_JSON_START = re.compile(r"[ \t\n\r]*[{\[]")


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
        if len(text) > DEFAULT_MAX_BYTES and not _JSON_START.match(text, text[:1] == "\ufeff"):
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
    if text[:1] == "\ufeff" and _JSON_START.match(text, 1):
        text = text[1:]  # a byte order mark (PowerShell writes one): no column of its own
    if _JSON_START.match(text):
        fast = Manifests()
        try:
            failed = _json(text, path, fast)
        except _Dup as exc:  # JSON, with a key twice: a located reading says where
            if len(text) > DEFAULT_MAX_BYTES:  # too large for the second reading
                out.errors.append(_json_error(text, path, exc))
            else:
                _located_json(text, path, out)
            return
        except (ValueError, RecursionError, IndexError) as exc:  # IndexError: cut short
            if len(text) > DEFAULT_MAX_BYTES:  # too large for the second reading
                out.errors.append(_json_error(text, path, exc))
                return
            # not JSON: YAML that opens with a flow collection, or broken JSON; yamlsrc says
        else:
            own = sum(len(errors) for *_, errors in failed.values()) == len(fast.errors)
            if not fast.errors:
                extend(out, fast)
            elif own or len(text) > DEFAULT_MAX_BYTES:  # the failing List items read again
                _relocate(text, path, fast, failed)
                extend(out, fast)
            else:
                _located_json(text, path, out)
            return
    elif _fast(_lines_ended(text), path, out):
        return
    try:
        text = _lines_ended(text)
        collect(load_all_text(text, path, max(MAX_NODES, len(text)), kubernetes=True), path, out)
    except InputError as exc:
        out.errors.append(exc)


def _lines_ended(text: str) -> str:
    """``text`` with its last line ended: kubectl reads a stream line by line, each ending
    in a newline, the last one too, so a block scalar closing the file keeps its line break."""
    return text if text.endswith("\n") else text + "\n"


def _fast(text: str, path: str, out: Manifests) -> bool:
    """Read YAML through ``yamlfast`` when it can, with the same result as a located reading.

    The objects come out the same, at the same places. A document with an error in it is
    read again located, alone at its place in the file, for the error's line and column; in
    a List only the items with an error are. Returns False, having added nothing, when the
    text leaves the fast reader's subset (the caller then reads all of it located).

    As files written on Windows often are, the text may open with a byte order mark and its
    lines end in "\r\n": it is read without the mark (which YAML gives no column) and with
    lines ending in "\n" (which YAML takes for the same line break, in values too), so values
    and places come out the same. Errors are then left to the reading of the text as written
    (False).
    """
    altered = text[:1] == "\ufeff" or "\r\n" in text  # another mark, a lone "\r": yamlsrc's
    if altered:
        text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    fast = read_fast(text, max(MAX_NODES, len(text)))
    if fast is None:
        return False
    lines: list[str] | None = text.split("\n") if fast.deferred else None
    if lines is not None and not _read_deferred(lines, path, fast):
        return False
    got = Manifests()
    try:
        for i, (doc, span) in enumerate(zip(fast.docs, fast.spans, strict=True)):
            if doc is None:
                continue
            pointer = f"document {i + 1}" if i else ""
            part = Manifests()
            failed: list[FailedItem] = []
            classify(doc, path, pointer, part, None, 0, None, fast.marks, failed)
            if part.errors:
                if altered:
                    return False
                lines = lines or text.split("\n")
                if not _relocate_items(lines, path, part, failed, fast.marks, span):
                    part = _located_document(lines, path, pointer, span)
            extend(got, part)
    except (Unplaced, InputError):
        return False
    extend(out, got)
    return True


def _read_deferred(lines: list[str], path: str, fast: FastDocs) -> bool:
    """Put in place each document and List item the fast reader left to the located one,
    read alone at its place in the file (an item's dash a blank, so that it reads as the
    mapping it holds). The pieces share one budget, the whole file's, so that what aliases
    add is bounded as in a reading of the whole file. False when one cannot be read so (an
    error, an alias of an anchor outside its piece, the budget spent): a reading of the
    whole file then reports it as it would."""
    budget = Budget(path, max(MAX_NODES, sum(map(len, lines)) + len(lines) - 1))
    anchors: dict[int, set[str]] = {}  # anchor names of each List's items read so far
    for items, index, d in fast.deferred:
        piece = lines[d.first : d.end]
        if d.column >= 0:
            piece[0] = piece[0][: d.column] + " " + piece[0][d.column + 1 :]
        text = "\n".join(piece) + "\n"  # each line ends in one, as kubectl reads lines
        if d.column >= 0 and "&" in text:
            # one document: an anchor named twice in it is an error of the whole reading
            names = _anchors(text)
            seen = anchors.setdefault(id(items), set())
            if names is None or seen.intersection(names):
                return False
            seen.update(names)
        try:
            docs = list(
                load_all_text(
                    text,
                    path,
                    kubernetes=True,
                    first_line=d.first,
                    depth=2 if d.column >= 0 else 0,  # an item: the List and its items above
                    budget=budget,
                )
            )
        except InputError:
            return False
        if len(docs) != 1:
            return False
        items[index] = docs[0]
    return True


def _anchors(text: str) -> list[str] | None:
    """The anchor names YAML text defines, in order (None: libyaml cannot parse it)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    names = []
    try:
        while loader.check_event():
            event = loader.get_event()
            anchored = isinstance(event, yaml.NodeEvent) and event.anchor is not None
            if anchored and not isinstance(event, yaml.AliasEvent):  # an alias names one
                names.append(event.anchor)
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return names


def _located_document(
    lines: list[str], path: str, pointer: str, span: tuple[int, int]
) -> Manifests:
    """One document read again located, alone, at its place in the file."""
    first, end = span
    piece = "\n".join(lines[first:end]) + "\n"
    docs = list(
        load_all_text(piece, path, max(MAX_NODES, len(piece)), kubernetes=True, first_line=first)
    )
    if len(docs) != 1:
        raise Unplaced
    again = Manifests()
    classify(docs[0], path, pointer, again, None, 0)
    return again


def _relocate_items(
    lines: list[str],
    path: str,
    part: Manifests,
    failed: list[FailedItem],
    marks: Marks,
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
        # the item's dash a blank, so that it reads as the mapping it holds, at its place
        piece = (
            " " * (dash + 1) + "\n".join([lines[row][dash + 1 :], *lines[row + 1 : last]]) + "\n"
        )
        docs = list(
            load_all_text(piece, path, max(MAX_NODES, len(piece)), kubernetes=True, first_line=row)
        )
        if len(docs) != 1:
            return False
        again = Manifests()
        classify(docs[0], path, pointer, again, item_type, 1)
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


@dataclass
class _Streamed:
    """What reading a top-level object's ``items`` one at a time found."""

    found: Manifests = field(default_factory=Manifests)
    failed: _Failed = field(default_factory=dict)  # item index → its span in the text, errors
    streaming: bool = False  # the object had an ``items`` array, read item by item
    own_types: bool = True  # every item names its own apiVersion and kind


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
        collect([doc], path, out)
        return {}
    streamed = _Streamed()
    top = _json_object(text, pos, path, streamed)
    shell = Manifests()
    collect([top], path, shell)  # the object, with its items taken out when streamed
    kind = top.get("kind")
    lists = isinstance(kind, str) and kind.endswith("List")
    if not streamed.streaming or shell.errors or not lists:
        extend(out, shell)  # exact: the items were not read, or would not be
        return {}
    if kind == "List" or streamed.own_types:  # each item reads the same wherever it stands
        extend(out, shell)
        extend(out, streamed.found)
        return streamed.failed
    # Items of a typed List that leave their type to it: read the whole text again (rare).
    collect([json.loads(text, object_pairs_hook=_unique, parse_constant=_no_constant)], path, out)
    return {}


def _json_object(text: str, pos: int, path: str, streamed: _Streamed) -> dict[str, Any]:
    """The top-level object opening at ``pos``, its ``items`` array classified into ``streamed``
    one at a time and left empty; the object must end the text."""
    top: dict[str, Any] = {}
    pos = _skip(text, pos + 1)
    while text[pos] != "}":
        if text[pos] != '"':
            raise ValueError("expected a key")
        key, pos = _scanstring(text, pos + 1)
        pos = _skip(text, pos)
        if text[pos] != ":":
            raise ValueError("expected ':'")
        if key in top:
            raise _Dup("duplicate key")
        pos = _skip(text, pos + 1)
        if key == "items" and text[pos] == "[":
            top[key] = []
            pos = _json_items(text, pos, path, streamed)
        else:
            top[key], pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text[pos] == ",":
            pos = _skip(text, pos + 1)
        elif text[pos] != "}":
            raise ValueError("expected ',' or '}'")
    if _skip(text, pos + 1) != len(text):
        raise ValueError("extra data after the JSON value")
    return top


def _json_items(text: str, pos: int, path: str, streamed: _Streamed) -> int:
    """Classify each item of the array opening at ``pos``; the position after its end."""
    streamed.streaming = True
    pos = _skip(text, pos + 1)
    i = 0
    while text[pos] != "]":
        start = pos
        item, pos = _DECODER.raw_decode(text, pos)
        before = len(streamed.found.errors)
        streamed.own_types = streamed.own_types and _typed(item)
        classify(item, path, f"items[{i}]", streamed.found, None, 1, Location(path))
        if len(streamed.found.errors) > before:
            streamed.failed[i] = (start, pos, streamed.found.errors[before:])
        i += 1
        pos = _skip(text, pos)
        if text[pos] == ",":
            pos = _skip(text, pos + 1)
        elif text[pos] != "]":
            raise ValueError("expected ',' or ']'")
    return pos + 1


def _skip(text: str, pos: int) -> int:
    """The first position from ``pos`` on that is not JSON whitespace."""
    m = _WS.match(text, pos)
    return m.end() if m else pos


def _typed(item: Any) -> bool:
    return isinstance(item, dict) and bool(item.get("apiVersion")) and bool(item.get("kind"))


def _located_json(text: str, path: str, out: Manifests) -> None:
    """Read JSON again, located, for the places of its errors."""
    try:
        doc = load_located(text, path)
    except InputError as exc:
        out.errors.append(exc)
        return
    collect([doc], path, out)


def _relocate(text: str, path: str, fast: Manifests, failed: _Failed) -> None:
    """Replace the errors of each failing item by those of a located reading of it alone."""
    located: dict[int, list[InputError]] = {}  # id of an item's first error → its new errors
    dropped: set[int] = set()
    line, line_start, counted = 1, 0, 0  # lines counted up to ``counted``, items in order
    for i, (start, end, errors) in sorted(failed.items()):
        breaks = text.count("\n", counted, start)
        if breaks:
            line += breaks
            line_start = text.rfind("\n", counted, start) + 1
        counted = start
        again = Manifests()
        try:
            doc = load_located(text, path, start, end, line=line, line_start=line_start)
            classify(doc, path, f"items[{i}]", again, None, 1)
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


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
