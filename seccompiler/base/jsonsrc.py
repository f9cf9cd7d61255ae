"""JSON that remembers where each value came from, read as JSON (not as YAML).

The located values are those of ``yamlsrc`` (``LMap``, ``LList``, ``Mark``), so that the same
code can say where a value is wrong; the values are those ``json.loads`` gives: JSON's
numbers (``1e3`` is a number, where YAML 1.1 reads a string), its escapes (a surrogate pair
``\\ud83d\\ude80`` is one character, where YAML refuses it). A piece of a larger text is read
in place: positions count from where the piece starts in the file, with no padding.

Used on JSON already known to parse (a second reading, for the messages of values the API
server would reject, or of a duplicate key); its own syntax errors name line and column too.
"""

from __future__ import annotations

import re
from json.decoder import JSONDecodeError
from json.decoder import scanstring as _scanstring  # type: ignore[attr-defined]
from typing import Any

from seccompiler.base.errors import InputError
from seccompiler.base.yamlsrc import MAX_DEPTH, LList, LMap, Mark

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LITERALS = {"true": True, "false": False, "null": None}
_SURROGATE = re.compile("[\ud800-\udfff]")


def load_located(
    text: str,
    path: str,
    start: int = 0,
    end: int | None = None,
    *,
    line: int = 1,
    line_start: int = 0,
) -> Any:
    """The JSON value in ``text[start:end]``, located. ``line``: the 1-based line that
    ``start`` stands on, and ``line_start``: where that line begins in ``text``."""
    reader = _Reader(text, path, start, line, line_start)
    stop = len(text) if end is None else end
    value, pos = reader.value(reader.skip(start), 0)
    if reader.skip(pos) < stop:
        raise reader.error("malformed JSON: Extra data", reader.skip(pos))
    return value


class _Reader:
    def __init__(self, text: str, path: str, at: int, line: int, line_start: int) -> None:
        self.text = text
        self.path = path
        # the last position a mark was asked for, its line, and where that line starts:
        # positions are asked for in order, so counting lines costs the piece's length once
        self._first = self._at, self._line, self._line_start = at, line, line_start

    def mark(self, pos: int) -> Mark:
        if pos < self._at:  # not asked for in order: count again from the piece's start
            self._at, self._line, self._line_start = self._first
        breaks = self.text.count("\n", self._at, pos)
        if breaks:
            self._line += breaks
            self._line_start = self.text.rfind("\n", self._at, pos) + 1
        self._at = pos
        return Mark(self.path, self._line, pos - self._line_start + 1)

    def error(self, message: str, pos: int, hint: str = "") -> InputError:
        return InputError(message, hint=hint, location=self.mark(pos).location())

    def skip(self, pos: int) -> int:
        m = _WS.match(self.text, pos)
        return m.end() if m else pos

    def value(self, pos: int, depth: int) -> tuple[Any, int]:
        if depth > MAX_DEPTH:
            raise self.error(f"nesting deeper than {MAX_DEPTH} levels", pos)
        text = self.text
        c = text[pos : pos + 1]
        if c == "{":
            return self._object(pos, depth)
        if c == "[":
            return self._array(pos, depth)
        if c == '"':
            return self._string(pos)
        m = _NUMBER.match(text, pos)
        if m is not None:
            number = m.group()
            try:
                return (float(number) if m.group(1) or m.group(2) else int(number)), m.end()
            except ValueError as exc:  # more digits than Python converts (json.loads' limit)
                raise self.error(f"malformed JSON: {exc}", pos) from None
        for word, literal in _LITERALS.items():
            if text.startswith(word, pos):
                return literal, pos + len(word)
        raise self.error("malformed JSON: Expecting value", pos)

    def _string(self, pos: int) -> tuple[str, int]:
        try:
            value, end = _scanstring(self.text, pos + 1)
        except JSONDecodeError as exc:
            raise self.error(f"malformed JSON: {exc.msg}", exc.pos) from None
        if _SURROGATE.search(value):
            raise self.error(
                "a \\u escape gives half of a UTF-16 surrogate pair, not a character",
                pos,
                "write the character itself, or both halves of the pair",
            )
        return value, end

    def _object(self, pos: int, depth: int) -> tuple[LMap, int]:
        out = LMap()
        out.mark = self.mark(pos)
        out.key_marks = {}
        out.value_marks = {}
        text = self.text
        pos = self.skip(pos + 1)
        if text[pos : pos + 1] == "}":
            return out, pos + 1
        while True:
            if text[pos : pos + 1] != '"':
                raise self.error(
                    "malformed JSON: Expecting property name enclosed in double quotes", pos
                )
            key_mark = self.mark(pos)
            key, pos = self._string(pos)
            if key in out:
                first = out.key_marks[key]
                raise InputError(
                    f"duplicate key '{key}' (first given at line {first.line})",
                    hint="remove one of them",
                    location=key_mark.location(),
                )
            pos = self.skip(pos)
            if text[pos : pos + 1] != ":":
                raise self.error("malformed JSON: Expecting ':' delimiter", pos)
            pos = self.skip(pos + 1)
            value_mark = self.mark(pos)
            out[key], pos = self.value(pos, depth + 1)
            out.key_marks[key] = key_mark
            out.value_marks[key] = value_mark
            pos = self.skip(pos)
            c = text[pos : pos + 1]
            if c == "}":
                return out, pos + 1
            if c != ",":
                raise self.error("malformed JSON: Expecting ',' delimiter", pos)
            pos = self.skip(pos + 1)

    def _array(self, pos: int, depth: int) -> tuple[LList, int]:
        out = LList()
        out.mark = self.mark(pos)
        out.item_marks = []
        text = self.text
        pos = self.skip(pos + 1)
        if text[pos : pos + 1] == "]":
            return out, pos + 1
        while True:
            out.item_marks.append(self.mark(pos))
            item, pos = self.value(pos, depth + 1)
            out.append(item)
            pos = self.skip(pos)
            c = text[pos : pos + 1]
            if c == "]":
                return out, pos + 1
            if c != ",":
                raise self.error("malformed JSON: Expecting ',' delimiter", pos)
            pos = self.skip(pos + 1)
