"""Untrusted text written into our outputs: on one line in a comment, or as a quoted scalar.

A name from a profile, a file name or a command line may hold a line break, and YAML breaks
lines at ``\\n``, ``\\r``, U+0085, U+2028 and U+2029: written raw into a ``#`` comment, the
rest of the text would become policy keys. Every character that does not print (line
breaks, controls, format characters, lone surrogates) is written as an escape instead.
"""

from __future__ import annotations

# YAML's short escapes (YAML 1.1, 5.7) for the characters people know by these names.
_SHORT = {
    "\0": "\\0",
    "\t": "\\t",
    "\n": "\\n",
    "\r": "\\r",
    "\x1b": "\\e",
    '"': '\\"',
    "\\": "\\\\",
}


def _escape(c: str) -> str:
    if c in _SHORT:
        return _SHORT[c]
    n = ord(c)
    if 0xD800 <= n <= 0xDFFF:
        return "\\ufffd"  # a lone surrogate (an undecodable file name byte) is no character
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def quoted(text: str) -> str:
    """``text`` as a YAML double-quoted scalar holding only printable characters."""
    body = "".join(c if c.isprintable() and c not in _SHORT else _escape(c) for c in text)
    return f'"{body}"'


def one_line(text: str) -> str:
    """``text`` itself when every character prints; else quoted, so it stays one line."""
    return text if text.isprintable() else quoted(text)
