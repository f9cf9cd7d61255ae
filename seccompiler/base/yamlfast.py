"""Block YAML of the plain kind kubectl writes, read fast; anything else is left to yamlsrc.

``yamlsrc`` builds every value through PyYAML's node graph with its position, which costs
tens of microseconds a value: a 10,000-pod ``kubectl get pods -o yaml`` takes seconds. This
reader takes a narrow subset of YAML line by line: block mappings and sequences, plain keys
without spaces (managedFields' ``f:spec`` and ``k:{...}`` included), plain scalars (on one
line, or wrapped over more-indented lines as kubectl's emitter wraps long text at 80
columns), single-quoted scalars (``''`` inside, wrapped over more-indented lines too),
double-quoted scalars on one line (escapes read by the located loader's own tables), block
scalars (literal ``|``, ``|-``, folded ``>``, ``>-``; empty lines inside), flow collections
closed on their line (``["sh", "-c"]``, ``{drop: [ALL]}``, ``{}``), and comments on their
own lines or after a value (``yamlscalar`` reads what one line holds). Plain scalars are
resolved by the located loader's own function (``yamlsrc.go_plain``: as the API server
reads them, through go-yaml v2). It records the position of each document and of
each sequence item that is a mapping, which is where a manifest's objects are located;
everything else is found again through ``yamlsrc`` when needed.

``read_fast`` first lets libyaml parse the whole stream in C (no Python objects), so that
what it accepts is exactly what ``yamlsrc`` accepts. What leaves the subset (anchors,
aliases, tags, flow collections over lines, flow mappings inside sequences or as sequence
items, more-indented lines in folded scalars, block scalars with ``+`` or an indentation
indicator, quoted scalars with empty lines or double-quoted ones over lines, an escape for
half a surrogate pair, a plain scalar going on after a comment, tabs, duplicate keys, deep
nesting) is left to ``yamlsrc``: the List items and documents that hold it, each read alone
at its place (``Deferred``), or the whole text (other line breaks, a List's own lines, a
stream of one document), which then gives the same values, and errors with their
positions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from seccompiler.base.yamlscalar import (
    PLAIN_START,
    QUOTE_OPEN,
    Outside,
    mapping_key,
    plain_value,
    scalar,
)

MAX_FAST_DEPTH = 64  # deeper documents are left to yamlsrc, which has the depth limit

# One line: its indent, a sequence dash, then a plain or quoted key, ':' and nothing or a
# value; or anything else (a scalar after a dash, a blank line, a comment). A plain key has
# no space, starts with no indicator, and holds a ':' only before another character, as the
# field paths of managedFields do (``f:metadata``, ``k:{"name":"app"}``, ``.``).
_LINE = re.compile(
    r"""( *)(-(?: +|$))?"""
    r"""(?:([^\s\-?:,\[\]{}#&*!|>'"%@`](?:[^\s:]|:(?=\S))*|"[^"\\]*"|'[^']*'):(?: +(.*))?$|(.*))"""
)
_AWAY = re.compile(r"[\r\x85\u2028\u2029\ufeff\ud800-\udfff]")
# Of those, what only a whole reading by yamlsrc takes ("\r\n" in a List item leaves just
# that item to it): other line breaks, byte order marks, lone surrogates. Tabs are taken in
# the text of block scalars (a script, a config file) and left to yamlsrc everywhere else.
_BREAKS = re.compile(r"[\x85\u2028\u2029\ufeff\ud800-\udfff]|\r(?!\n)")
_MARKER = re.compile(r"^(?:---|\.\.\.|%)", re.MULTILINE)  # document markers, directives


@dataclass(frozen=True)
class Deferred:
    """A document, or an item of a List, that leaves the subset, left in its place for
    yamlsrc to read: its lines, 0-based [first, end), and the column of its dash (-1 for a
    document)."""

    first: int
    end: int
    column: int


@dataclass
class FastDocs:
    """The documents of a stream, and where its objects start."""

    docs: list[Any]
    # id() of each document root and block sequence item that is a mapping (``- {…}`` too)
    # → (line, column), 1-based; a mapping in a flow sequence has none
    marks: dict[int, tuple[int, int]]
    spans: list[tuple[int, int]]  # each document's lines, as 0-based [first, end)
    # what is left to yamlsrc: (the documents or a List's items, the index of the one, its
    # lines)
    deferred: list[tuple[list[Any], int, Deferred]]


MAX_DEFERRED = 1000  # documents and List items left to yamlsrc; past that it reads it all


# What one line says, once its text is known (the same lines recur in every pod of a List):
# its column; the column of its key after a dash (0 when no dash); its key or None; and
# its value: _OPEN for none on this line (a nested block or null follows), else the value.
_Line = tuple[int, int, str | None, Any]
_OPEN = object()
_SKIP: _Line = (-1, 0, None, None)  # a blank line or a comment


class _Header:
    """A block scalar follows: ``strip`` without its final line break, ``fold`` folded."""

    def __init__(self, strip: bool, fold: bool) -> None:
        self.strip, self.fold = strip, fold


_BLOCKS = {
    "|": _Header(False, False),
    "|-": _Header(True, False),
    ">": _Header(False, True),
    ">-": _Header(True, True),
}


def _line(text: str) -> _Line:
    if "\t" in text:
        raise Outside  # a tab outside a block scalar's text: YAML's rules for it are yamlsrc's
    # _LINE matches every line: its last group takes anything.
    indent, dash, raw_key, value, other = _LINE.match(text).groups()  # type: ignore[union-attr]
    if raw_key is None:
        if dash is None:
            if not other or other[0] == "#":
                return _SKIP
            # a value alone on its line: that of the key above it (helm writes "key:\n  {}")
            if _header(other) in _BLOCKS:
                raise Outside
            return (len(indent), -1, None, scalar(other))
        if not other or other[0] == "#":  # nothing after the dash, or a comment
            return (len(indent), 0, None, _OPEN)
        block = _BLOCKS.get(_header(other))
        return (len(indent), 0, None, scalar(other) if block is None else block)
    col = len(indent)
    inner = col + len(dash) if dash is not None else 0
    key = mapping_key(raw_key)
    if value and value[0] != "#":  # a value, not a comment
        block = _BLOCKS.get(_header(value))
        return (col, inner, key, scalar(value) if block is None else block)
    return (col, inner, key, _OPEN)


def _header(value: str) -> str:
    """A block scalar's header without a comment after it (anything else: as it is)."""
    if value[0] in "|>" and " #" in value:
        value = value[: value.index(" #")]
    return value.rstrip(" ")


def _block(lines: list[str], first: int, end: int, parent: int, how: _Header) -> tuple[str, int]:
    """The block scalar whose lines start at ``first``: its text, and the line after.

    ``parent``: the column its lines must stand right of. Empty lines inside it are line
    breaks (scripts have them); trailing ones go as its chomping says. Empty lines before
    it, and lines of spaces beyond its indentation (content, by YAML's subtlest rule), are
    left to yamlsrc; so are more-indented lines in a folded one (kept apart by YAML's
    folding).
    """
    out: list[str] = []
    ind = -1  # the scalar's indentation: that of its first line
    n = first
    while n < end:
        text = lines[n]
        body = text.lstrip(" ")
        col = len(text) - len(body)
        if not body:  # empty lines: inside the scalar if a line of it follows, else its end
            after = n + 1
            while after < end and not lines[after].strip(" "):
                after += 1
            if ind < 0 or any(len(lines[k]) > ind for k in range(n, after)):
                raise Outside
            if after < end and len(lines[after]) - len(lines[after].lstrip(" ")) >= ind:
                out += [""] * (after - n)
                n = after
                continue
            break
        if ind < 0:
            if col <= parent:
                raise Outside  # an empty block scalar
            ind = col
        elif col < ind:
            break
        out.append(text[ind:])
        n += 1
    if ind < 0:
        raise Outside
    tail = "" if how.strip else "\n"
    if not how.fold:
        return "\n".join(out) + tail, n
    if any(line[:1] in (" ", "\t") for line in out):
        raise Outside
    folded = [out[0]]
    empty = 0
    for line in out[1:]:  # a line break is a space; each empty line between, one newline
        if not line:
            empty += 1
            continue
        folded.append("\n" * empty if empty else " ")
        folded.append(line)
        empty = 0
    return "".join(folded) + tail, n


# A line a plain scalar goes on with: words of anything but a space, single spaces between,
# no word starting a comment, no ': ' (a value), no ':' at its end (a key).
_CONTINUATION = re.compile(r"[^ #](?:(?!: )[^ ])*(?: [^ #](?:(?!: )[^ ])*)*(?<!:)")


def _folded(lines: list[str], n: int, end: int, owner: int) -> tuple[Any, int]:
    """The plain scalar that starts on line ``n`` and goes on over the lines after it that
    stand right of ``owner`` (its key's or dash's column), folded as YAML folds it: each line
    break a space. The value, and the line after it.

    Kept to what emitters write: no empty line inside, no comment, single spaces between
    words (``_CONTINUATION``); anything else is left to yamlsrc.
    """
    m = _LINE.match(lines[n])
    assert m is not None
    raw = (m.group(4) if m.group(3) is not None else m.group(5)).rstrip(" ")
    if raw[0] == "'" and scalar(raw) is QUOTE_OPEN:
        return _quoted(lines, n, end, owner, raw)
    if raw[0] in PLAIN_START or " #" in raw:  # quoted, flow, or a comment ends it: not
        raise Outside  # a plain scalar that goes on (scalar took the rest)
    parts = [raw]
    after = n + 1
    margin = " " * (owner + 1)
    while after < end and lines[after].startswith(margin):
        body = lines[after].lstrip(" ")
        if not body:
            break  # an empty line: a folded line break, or the scalar's end; yamlsrc decides
        if "\t" in body or _CONTINUATION.fullmatch(body) is None:
            raise Outside
        parts.append(body)
        after += 1
    return plain_value(" ".join(parts)), after


def _document(
    lines: list[str],
    first: int,
    end: int,
    marks: dict[int, tuple[int, int]],
    seen: dict[str, _Line],
) -> Any:
    """Read ``lines[first:end]``, one document, into plain dicts and lists."""
    # The open containers, innermost last: (column of their keys or dashes, container,
    # whether it is a mapping); the innermost is also in top_col, container, in_map.
    stack: list[tuple[int, Any, bool]] = []
    top_col, in_map = -1, False
    container: Any = None
    # A ``key:`` or ``-`` with nothing after it: its column, and where its value goes.
    pending: tuple[int, Any, Any, bool] | None = None  # (column, container, key, is_key)
    root: Any = None
    after_block = 0  # the first line after the last block scalar read
    for n in range(first, end):
        if n < after_block:
            continue
        text = lines[n]
        known = seen.get(text)
        if known is None:
            known = _line(text)
            if len(seen) < 100_000:
                seen[text] = known
        col, inner, key, value = known
        if col < 0:
            continue
        if inner < 0:  # a value alone on its line, more indented than the key just before it
            if pending is None or not pending[3] or col <= pending[0]:
                raise Outside  # a scalar where a key should be
            pcol, parent, pkey, _ = pending
            # nothing may go on with it: the next line that says something stands no further
            # right than the key (libyaml has read it all: a comment ends a plain scalar)
            for after in range(n + 1, end):
                body = lines[after].lstrip(" ")
                if body and body[0] != "#":
                    if len(lines[after]) - len(body) > pcol:
                        raise Outside
                    break
            parent[pkey] = _fresh(value)
            pending = None
            continue
        # a plain scalar that goes on over more-indented lines (emitters wrap long text);
        # the test is cheap and may say yes wrongly ("  a b"), which _folded then finds out
        owner = inner or col
        if (
            n + 1 < end
            and value is not _OPEN
            and type(value) is not _Header
            and (nxt := lines[n + 1])[:1] == " "
            and nxt[owner : owner + 1] == " "
        ):
            value, after_block = _folded(lines, n, end, owner)
        dash = key is None or inner > 0
        # Where this line's container stands: opened by a pending key or dash, or an open one.
        if pending is not None:
            pcol, parent, pkey, is_key = pending
            pending = None
            if col > pcol or (dash and is_key and col == pcol):
                if len(stack) >= MAX_FAST_DEPTH:
                    raise Outside
                in_map = not dash
                container = {} if in_map else []
                top_col = col
                stack.append((col, container, in_map))
                parent[pkey] = container
                if in_map and not is_key:
                    marks[id(container)] = (n + 1, col + 1)
        elif not stack:
            if root is not None:
                raise Outside  # a second root in one document: not valid in the subset
            in_map = not dash
            root = container = {} if in_map else []
            top_col = col
            stack.append((col, root, in_map))
            if in_map:
                marks[id(root)] = (n + 1, col + 1)
        if col != top_col or in_map == dash:
            while top_col > col or (top_col == col and not dash and not in_map):
                stack.pop()
                if not stack:
                    raise Outside
                top_col, container, in_map = stack[-1]
            if top_col != col:
                raise Outside
        if dash:
            if in_map:
                raise Outside
            if key is None:
                if value is _OPEN:
                    container.append(None)
                    pending = (col, container, len(container) - 1, False)
                elif type(value) is _Header:
                    text, after_block = _block(lines, n + 1, end, col, value)
                    container.append(text)
                else:
                    fresh = _fresh(value)
                    container.append(fresh)
                    if type(fresh) is dict:  # "- {…}": a mapping item, placed at its brace
                        marks[id(fresh)] = (n + 1, text.index("{") + 1)
                continue
            # "- key: value": a mapping item whose keys stand after the dash.
            if len(stack) >= MAX_FAST_DEPTH:
                raise Outside
            item: dict[str, Any] = {}
            container.append(item)
            top_col = inner
            marks[id(item)] = (n + 1, inner + 1)
            container, in_map = item, True
            stack.append((inner, item, True))
        elif not in_map:
            raise Outside
        else:
            inner = col
        if key in container:
            raise Outside  # yamlsrc names both places
        if value is _OPEN:
            container[key] = None
            pending = (inner, container, key, True)
        elif type(value) is _Header:
            container[key], after_block = _block(lines, n + 1, end, inner, value)
        else:
            container[key] = _fresh(value)
    return root


def _quoted(lines: list[str], n: int, end: int, owner: int, raw: str) -> tuple[str, int]:
    """The single-quoted scalar opened on line ``n`` and closed on a later line standing right
    of ``owner``, folded as YAML folds it (a line break a space, each empty line a newline,
    the blanks around breaks dropped). The value, and the line after it."""
    pieces = [raw[1:]]  # each line's text, its blanks at the break dropped
    breaks: list[int] = []  # the line breaks before each piece after the first
    gap = 0
    margin = " " * (owner + 1)
    after = n + 1
    while True:
        if after >= end:
            raise Outside
        text = lines[after]
        after += 1
        if "\t" in text:
            raise Outside
        body = text.strip(" ")
        if not body:
            gap += 1
            continue
        if not text.startswith(margin):
            raise Outside  # less indented than the scalar's owner: left to yamlsrc
        open_part = body.replace("''", "")
        if "'" not in open_part:
            pieces.append(body)
            breaks.append(gap + 1)
            gap = 0
            continue
        # the closing quote: the first one not doubled, and nothing after it
        i = 0
        while True:
            i = body.index("'", i)
            if body[i + 1 : i + 2] == "'":
                i += 2
                continue
            break
        if body[i + 1 :]:
            raise Outside
        pieces.append(body[:i])
        breaks.append(gap + 1)
        break
    out = [pieces[0].rstrip(" ")]
    for k, piece in zip(breaks, pieces[1:], strict=True):
        out.append(" " if k == 1 else "\n" * (k - 1))
        out.append(piece)
    return "".join(out).replace("''", "'"), after


def _fresh(value: Any) -> Any:
    """A line's value for one place: a flow collection is a new one each time."""
    if type(value) is dict:
        return {k: _fresh(v) for k, v in value.items()}
    if type(value) is list:
        return [_fresh(v) for v in value]
    if value is QUOTE_OPEN:  # not closed on a later line that goes on with it
        raise Outside
    return value


def read_fast(text: str, max_nodes: int) -> FastDocs | None:
    """The documents of ``text`` if it is valid YAML within the subset, else ``None``.

    A List whose items leave the subset here and there is read item by item, and a stream
    document by document: the items and documents that leave it are ``Deferred`` in their
    place (``FastDocs.deferred``), for the caller to read with yamlsrc, alone at their place
    in the file.
    """
    away = _AWAY.search(text) is not None  # characters the line reader never takes
    if away and _BREAKS.search(text) is not None:
        return None  # line breaks of YAML's other than "\n": lines would count differently
    lines = text.split("\n")
    if 3 * len(lines) > max_nodes:  # each line adds at most three values
        return None
    parser_class = getattr(yaml, "CSafeLoader", None)
    if parser_class is None:
        return None  # without libyaml, the check below would cost what yamlsrc costs
    parser = parser_class(text)
    try:
        parser.raw_parse()  # libyaml's grammar, in C: anything it refuses, yamlsrc reports
    except Exception:
        return None
    finally:
        parser.dispose()
    marks: dict[int, tuple[int, int]] = {}
    seen: dict[str, _Line] = {}
    docs: list[Any] = []
    spans: list[tuple[int, int]] = []
    deferred: list[tuple[list[Any], int, Deferred]] = []

    def document(first: int, end: int) -> Any:
        if not away:
            try:
                return _document(lines, first, end, marks, seen)
            except Outside:
                pass
        try:
            return _by_item(lines, first, end, marks, seen, deferred, away)
        except Outside:
            if len(deferred) >= MAX_DEFERRED:
                raise
            deferred.append((docs, len(docs), Deferred(first, end, -1)))
            return None

    try:
        start = 0
        explicit = False  # the current document began with '---'
        line = 0
        at = 0
        for m in _MARKER.finditer(text):
            line += text.count("\n", at, m.start())
            at = m.start()
            if lines[line].rstrip(" ") != "---":
                raise Outside
            if explicit or _content(lines, start, line):
                docs.append(document(start, line))
                spans.append((start, line))
            start, explicit = line + 1, True
        if explicit or _content(lines, start, len(lines)):
            docs.append(document(start, len(lines)))
            spans.append((start, len(lines)))
    except Outside:
        return None
    if sum(d.column < 0 for *_, d in deferred) == len(docs):
        return None  # every document left to yamlsrc: it reads the text whole
    return FastDocs(docs, marks, spans, deferred)


def _by_item(
    lines: list[str],
    first: int,
    end: int,
    marks: dict[int, tuple[int, int]],
    seen: dict[str, _Line],
    deferred: list[tuple[list[Any], int, Deferred]],
    away: bool,
) -> Any:
    """A List document read around the items that leave the subset (``Deferred`` in their
    place). The List's own lines must be in the subset, its ``items:`` at column 0.
    ``away``: whether the text holds characters the line reader never takes (else no line
    of it is searched for them)."""
    at = next((n for n in range(first, end) if lines[n].rstrip(" ") == "items:"), -1)
    if at < 0:
        raise Outside
    spans, stop = _item_spans(lines, at + 1, end)
    if not spans:
        raise Outside
    head = _piece(lines, first, at + 1, marks, seen, away)
    tail = _piece(lines, stop, end, marks, seen, away) if _content(lines, stop, end) else {}
    if not isinstance(head, dict) or head.get("items", 0) is not None or not isinstance(tail, dict):
        raise Outside
    if any(k in head for k in tail):
        raise Outside  # a key twice: yamlsrc says where
    items: list[Any] = []
    for a, b, col in spans:
        try:
            one = _piece(lines, a, b, marks, seen, away)
            if not isinstance(one, list) or len(one) != 1:
                raise Outside
            items.append(one[0])
        except Outside:
            if len(deferred) >= MAX_DEFERRED:
                raise
            deferred.append((items, len(items), Deferred(a, b, col)))
            items.append(None)
    head["items"] = items
    head.update(tail)
    return head


def _piece(
    lines: list[str],
    first: int,
    end: int,
    marks: dict[int, tuple[int, int]],
    seen: Any,
    away: bool,
) -> Any:
    """Part of a document read as one: the subset's characters only (searched for when the
    text holds others: ``away``)."""
    if away and any(_AWAY.search(lines[n]) for n in range(first, end)):
        raise Outside
    return _document(lines, first, end, marks, seen)


def _item_spans(lines: list[str], first: int, end: int) -> tuple[list[tuple[int, int, int]], int]:
    """The items of a block sequence starting at line ``first``: (first line, end, dash
    column) each, and the line after the last; blank and comment lines go with the item
    before them."""
    spans: list[tuple[int, int, int]] = []
    col = -1
    n = first
    while n < end:
        text = lines[n]
        body = text.lstrip(" ")
        if not body or body[0] == "#":
            n += 1
            continue
        ind = len(text) - len(body)
        if col < 0:
            col = ind
        if ind < col or (ind == col and body[:1] != "-"):
            break
        if ind == col:
            if body[1:2] not in ("", " "):
                raise Outside
            if spans:
                spans[-1] = (spans[-1][0], n, col)
            spans.append((n, end, col))
        n += 1
    if spans:
        spans[-1] = (spans[-1][0], n, col)
    if n < end and len(lines[n]) - len(lines[n].lstrip(" ")) != 0:
        raise Outside  # the List's next key must stand at column 0
    return spans, n


def _content(lines: list[str], start: int, end: int) -> bool:
    """Whether ``lines[start:end]`` hold more than blanks and comments (an implicit document)."""
    for n in range(start, end):
        body = lines[n].lstrip(" ")
        if body and body[0] != "#":
            return True
    return False
