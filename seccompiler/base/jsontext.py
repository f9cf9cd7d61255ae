"""What every JSON reader of untrusted text checks beyond the grammar, with a location.

Python's ``json`` accepts two things our outputs cannot carry: a ``\\uD800``-style escape
that leaves a lone UTF-16 surrogate (not a character; printing it fails), and integers of
thousands of digits (converting them hits Python's int-digit limit, or costs quadratic
time). Both are refused here, located, before they reach any other code, as is nesting
deeper than ``MAX_DEPTH`` (``json`` itself recurses once per level and runs out of stack).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from seccompiler.base.errors import InputError, Location

# JSON's rules people most often break, for every "not valid JSON" error.
JSON_HINT = "JSON has no comments, no trailing commas and only double quotes; look just before here"
MAX_DIGITS = 40  # a 64-bit value needs 20; anything much longer is not a number we use
MAX_DEPTH = 100  # as yamlsrc.MAX_DEPTH (not imported: that module loads PyYAML)

# a string, whose brackets are text, or a bracket. An unterminated string runs to the end of
# the text, so that each character is scanned once (the decoder reports the string itself).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_NESTING = re.compile(rf"{_STRING.pattern}|[\[\]{{}}]", re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}

_SURROGATE = re.compile(
    r"\\u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?|"
    r"\\u([dD][c-fC-F][0-9a-fA-F]{2})|(\\\\)"
)


def location(text: str, offset: int, path: str) -> Location:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Location(path, line, col)


def check_surrogates(text: str, path: str) -> None:
    """Refuse ``\\uXXXX`` escapes that decode to a lone surrogate (a pair is a character)."""
    if "\\u" not in text and "\\U" not in text:
        return
    for m in _SURROGATE.finditer(text):
        if m.group(4):  # an escaped backslash: what follows is not an escape
            continue
        if m.group(1) and m.group(2):
            continue  # a high surrogate followed by a low one: a valid pair
        raise InputError(
            f"'{m.group(0)[:6]}' is half of a UTF-16 surrogate pair, not a character",
            hint="write the character itself, or a complete \\uD8xx\\uDCxx pair",
            location=location(text, m.start(), path),
        )


def check_depth(text: str, path: str) -> None:
    """Refuse arrays and objects nested deeper than ``MAX_DEPTH``, at the first one too deep."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return  # cannot be too deep: the common case costs two counts
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0) <= MAX_DEPTH:
        return
    depth = 0
    for m in _NESTING.finditer(text):  # too deep: find where, token by token
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise InputError(
                    f"nesting deeper than {MAX_DEPTH} levels",
                    hint="no document this tool reads nests that deep",
                    location=location(text, m.start(), path),
                )
        elif c in "]}":
            depth -= 1


# A string, or one bracket: enough to follow how deep a text nests, cheaply.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def too_deep(text: str, path: str) -> InputError:
    """The error for JSON too deep for the decoder, at the bracket opening its deepest level."""
    depth = deepest = at = 0
    for m in _STRUCTURE.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > deepest:
                deepest, at = depth, m.start()
        elif c in "]}":
            depth -= 1
    return InputError(
        f"JSON nests too deeply: {deepest} levels",
        hint="real documents nest a few levels; look for brackets that are never closed",
        location=location(text, at, path),
    )


class _LongNumber(ValueError):
    def __init__(self, digits: str) -> None:
        super().__init__(digits)
        self.digits = digits


def parse_int(digits: str) -> int:
    """``json``'s parse_int hook: refuse numbers longer than ``MAX_DIGITS``."""
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise _LongNumber(digits)
    return int(digits)


def parse_float(digits: str) -> float:
    if len(digits) > 4 * MAX_DIGITS:
        raise _LongNumber(digits)
    return float(digits)


def long_number_error(exc: BaseException, text: str, path: str) -> InputError | None:
    """The located error for a number ``parse_int`` refused; None for other exceptions."""
    if not isinstance(exc, _LongNumber):
        return None
    return InputError(
        f"a number of {len(exc.digits)} characters; at most {MAX_DIGITS} digits are read",
        hint="numbers here are at most 64 bits",
        location=location(text, max(text.find(exc.digits[:64]), 0), path),
    )


def loads(text: str, path: str, **hooks: Any) -> Any:
    """``json.loads`` with the checks above and located errors."""
    import json

    check_surrogates(text, path)
    check_depth(text, path)
    try:
        return json.loads(text, parse_int=parse_int, parse_float=parse_float, **hooks)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg}",
            hint=JSON_HINT,
            location=Location(path, exc.lineno, exc.colno),
        ) from None
    except _LongNumber as exc:
        err = long_number_error(exc, text, path)
        assert err is not None
        raise err from None
    except RecursionError:
        raise too_deep(text, path) from None  # check_depth lets nothing this deep through


def loads_bytes(data: bytes, path: str, **hooks: Any) -> Any:
    """``loads`` of UTF-8 bytes (as read from a file or a socket); bad bytes are located."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        raise InputError(
            f"not valid JSON: byte 0x{data[exc.start]:02x} is not UTF-8",
            hint="JSON text is UTF-8",
            location=location(good + "?", len(good), path),
        ) from None
    return loads(text, path, **hooks)
