"""A failed Pod Security Standards check, and the wording helpers that match upstream's texts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from seccompiler.platform.pss.model import Pod as PodSpec


@dataclass(frozen=True, slots=True)
class Violation:
    """One failed check: upstream's short reason and its detail (which may be empty)."""

    reason: str
    detail: str = ""


Rule = Callable[[PodSpec], Violation | None]


def plural(singular: str, many: str, count: int) -> str:
    return singular if count == 1 else many


def join_quote(items: Iterable[str]) -> str:
    """``"a", "b"``: upstream joins with literal quotes, without escaping."""
    items = list(items)
    return '"' + '", "'.join(items) + '"' if items else ""


def go_quote(text: str) -> str:
    """Quote like Go's ``%q`` (strconv.Quote), used where upstream prints annotation values."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch == " " or (ch.isprintable() and code != 0x7F):
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_GO_ESCAPES["\v"] = "\\v"


def name_containers(names: list[str]) -> str:
    return f"{plural('container', 'containers', len(names))} {join_quote(names)}"


def who_sets(pod_bad: bool, containers: list[str], extra: Iterable[str] = ()) -> list[str]:
    out = ["pod"] if pod_bad else []
    if containers:
        out.append(name_containers(containers))
    out.extend(extra)
    return out
