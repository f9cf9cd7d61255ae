"""Scalars and one-line flow collections for the fast YAML reader (``yamlfast``).

A value written on one line after ``key:`` or ``-``: plain scalars resolved as the located
loader resolves them (``go_plain``: as the API server reads them), single- and
double-quoted ones, flow collections closed on their line, a comment after
any of them dropped. Anything else raises ``Outside``: the caller reads the text with
``yamlsrc``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml

from seccompiler.base.yamlsrc import MERGE, go_plain, json_key, json_number

# Scalars the subset leaves to yamlsrc: indicators, and what may continue on the next line.
PLAIN_START = frozenset("?:,[]{}#&*!|>'\"%@`")
_KEYS: dict[str, str] = {}  # key text → key
_VALUES: dict[str, Any] = {}  # plain scalar text → its value, for the texts that repeat


class Outside(Exception):
    """The text leaves the subset: read it with yamlsrc."""


QUOTE_OPEN = object()  # a single-quoted scalar not closed on its first line


def plain_value(text: str) -> Any:
    """A plain scalar's value, exactly as the located loader resolves it (``go_plain``)."""
    value = _VALUES.get(text)
    if value is not None or text in _VALUES:
        return value
    value = go_plain(text)
    if value is MERGE:
        raise Outside  # a merge key: yamlsrc merges
    try:
        json_number(value)
    except ValueError:
        raise Outside from None  # yamlsrc says why
    if len(_VALUES) < 65536:
        _VALUES[text] = value
    return value


def scalar(text: str) -> Any:
    """The value written after ``key:`` or ``-`` on the same line, a comment after it
    dropped ('' is left to the caller)."""
    text = text.rstrip(" ")
    c = text[0]
    if c == '"':
        m = _DOUBLE.match(text)
        if m is None:
            raise Outside  # over lines
        after(text, m.end())
        return unescape(m.group(1))
    if c == "'":  # '' inside is one quote
        end = closing_quote(text, 1)
        if end < 0:
            return QUOTE_OPEN  # goes on over the next lines (_folded)
        after(text, end + 1)
        return text[1:end].replace("''", "'")
    if c in "[{":
        return _flow(text)
    if c in PLAIN_START:
        raise Outside
    cut = text.find(" #")
    if cut >= 0:
        text = text[:cut].rstrip(" ")
    if ": " in text or text[-1] == ":" or (c == "-" and text[1:2] in ("", " ")):
        raise Outside  # a key (of words with spaces between: not one _LINE takes), or a dash
    return plain_value(text)


# A double-quoted scalar closed on its line, escapes and all.
_DOUBLE = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(?:([xuU])([0-9A-Fa-f]*)|(.))")
_REPLACE = yaml.scanner.Scanner.ESCAPE_REPLACEMENTS
_CODES = yaml.scanner.Scanner.ESCAPE_CODES


def unescape(body: str) -> str:
    """A double-quoted scalar's text with its escapes read by the located loader's own
    tables (YAML 1.1 as PyYAML reads it); one it would refuse, or that gives half a
    surrogate pair, is left to it."""
    if "\\" not in body:
        return body

    def one(m: re.Match[str]) -> str:
        code, digits, char = m.groups()
        if char is not None:
            if char not in _REPLACE:
                raise Outside
            return str(_REPLACE[char])
        if len(digits) < _CODES[code]:
            raise Outside
        value = int(digits[: _CODES[code]], 16)
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            raise Outside
        return chr(value) + digits[_CODES[code] :]

    return _ESCAPE.sub(one, body)


def closing_quote(text: str, i: int) -> int:
    """Where the single-quoted scalar open before ``i`` closes on this line, or -1."""
    while (i := text.find("'", i)) >= 0:
        if text[i + 1 : i + 2] != "'":
            return i
        i += 2
    return -1


def after(text: str, i: int) -> None:
    """After a scalar ending at ``i`` a line holds nothing, or a comment after a space."""
    rest = text[i:]
    if rest and (rest[0] != " " or rest.lstrip(" ")[:1] != "#"):
        raise Outside


# A scalar in a one-line flow collection: double-quoted without escapes, single-quoted, or
# plain without any character that ends or may change a plain scalar in flow (YAML 1.1 as
# PyYAML reads it: ',' '[' ']' '{' '}' '?', and ':' before a space, ',' or a bracket; '#'
# after a space starts a comment); ':' and '#' anywhere in a plain one are left to yamlsrc.
# It ends where a ',', a closing bracket or ': ' follows.
_FLOW_SCALAR = re.compile(
    r""""((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)'"""  # double- or single-quoted
    r"""|([^\s\-?:,\[\]{}#&*!|>'"%@`][^,?:\[\]{}#]*?"""  # plain
    r"""|-[^\s,?:\[\]{}#][^,?:\[\]{}#]*?)(?= *(?:[,\]}]|: ))"""  # plain after a '-'
)
MAX_FLOW_DEPTH = 16


def _flow(text: str) -> Any:
    """A flow collection closed on its line: ``["sh", "-c"]``, ``{drop: [ALL]}``, ``[]``,
    ``[{containerPort: 80}]``. A pair without a value, and collections over lines, are left
    to yamlsrc. (No place is kept for a mapping inside: a manifest's reader that needs one,
    for an object, reads the text located.)"""
    value, i = _flow_node(text, 0, 0)
    after(text, i)
    return value


def _skip(text: str, i: int) -> int:
    while text[i : i + 1] == " ":
        i += 1
    return i


def _flow_node(text: str, i: int, depth: int) -> tuple[Any, int]:
    """The collection opening at ``text[i]``, and where it ends."""
    if depth > MAX_FLOW_DEPTH:
        raise Outside
    is_map = text[i] == "{"
    out: Any = {} if is_map else []
    close = "}" if is_map else "]"
    i = _skip(text, i + 1)
    if text[i : i + 1] == close:
        return out, i + 1
    while True:
        if is_map:
            key, i = _flow_key(text, i)
            if text[i : i + 2] != ": " or key in out:
                raise Outside  # a pair without a value, or a key twice (yamlsrc says where)
            out[key], i = _flow_item(text, _skip(text, i + 2), depth)
        else:
            value, i = _flow_item(text, i, depth)
            out.append(value)
        i = _skip(text, i)
        c = text[i : i + 1]
        if c == close:
            return out, i + 1
        if c != ",":
            raise Outside
        i = _skip(text, i + 1)
        if text[i : i + 1] == close:  # a trailing comma
            return out, i + 1


def _flow_item(text: str, i: int, depth: int) -> tuple[Any, int]:
    if text[i : i + 1] in ("[", "{"):
        return _flow_node(text, i, depth + 1)
    return _flow_scalar(text, i, plain_value)


def _flow_key(text: str, i: int) -> tuple[str, int]:
    key, end = _flow_scalar(text, i, mapping_key)
    return str(key), end


def _flow_scalar(text: str, i: int, bare: Callable[[str], Any]) -> tuple[Any, int]:
    """The scalar at ``i`` and where it ends; a plain one's value is ``bare`` of its text."""
    m = _FLOW_SCALAR.match(text, i)
    if m is None:
        raise Outside
    dq, sq, plain = m.groups()
    if dq is not None:
        return unescape(dq), m.end()
    if sq is not None:
        return sq.replace("''", "'"), m.end()
    return bare(plain), m.end()


def mapping_key(text: str) -> str:
    key = _KEYS.get(text)
    if key is None:
        if text[0] in "\"'":
            key = text[1:-1]
        else:
            try:  # as yamlsrc turns a key that is not a string into one
                key = json_key(plain_value(text))
            except ValueError:
                raise Outside from None  # a null key: yamlsrc says where
        if len(_KEYS) < 65536:
            _KEYS[text] = key
    return key
