"""The JSON side of OCI/Docker seccomp profiles: text → ``Profile``, every error located."""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import re
from array import array
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from seccompiler.arch.abi import by_oci
from seccompiler.base.errors import InputError, Location
from seccompiler.base.fsio import read_text
from seccompiler.base.jsontext import (
    JSON_HINT,
    check_depth,
    check_surrogates,
    long_number_error,
    parse_float,
    parse_int,
    too_deep,
)
from seccompiler.frontend.scmp import ACTIONS, OPS
from seccompiler.program import (
    U64,
    Action,
    ActionKind,
    ArgCond,
    Op,
    Origin,
)

EPERM = 1


class _JObj(dict[str, Any]):
    """A JSON object that remembers the offset of its opening brace."""

    pos: int = 0


@dataclass(frozen=True)
class Cond:
    """An entry of ``filter.include``/``exclude``: caps, arches and a minimum kernel."""

    caps: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    min_kernel: tuple[int, ...] | None = None


@dataclass(frozen=True)
class JsonRule:
    """One element of ``syscalls``."""

    names: tuple[str, ...]
    action: Action
    args: tuple[ArgCond, ...]
    includes: Cond
    excludes: Cond
    comment: str
    where: Location

    @property
    def origin(self) -> Origin:
        return Origin(self.where.path, self.where.line, self.where.column, self.comment)


@dataclass(frozen=True)
class Profile:
    """A parsed JSON profile, not yet resolved for a container."""

    path: str
    default: Action
    arches: tuple[str, ...]  # ABIs we know, in file order (natives and their sub-arches)
    arch_map: dict[str, tuple[str, ...]]  # native → sub-arches (Docker format)
    unknown_arches: tuple[str, ...]  # SCMP_ARCH_* names without an ABI here (sh, m68k, …)
    rules: tuple[JsonRule, ...]
    docker_format: bool
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    unknown_at: Location | None = field(default=None, compare=False)  # the first unknown arch

    def where(self, obj: Any) -> Location:
        return _loc(self, obj)


@lru_cache(maxsize=4)
def _line_starts(text: str) -> array[int]:
    """Offsets where each line of ``text`` starts: a position's line is one bisection away."""
    starts = array("q", [0])
    pos = text.find("\n")
    while pos >= 0:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    return starts


def _loc(p: Profile | tuple[str, str], obj: Any) -> Location:
    path, text = (p.path, p.raw.get("\0text", "")) if isinstance(p, Profile) else p
    pos = obj.pos if isinstance(obj, _JObj) else 0
    starts = _line_starts(text)
    line = bisect_right(starts, pos)
    return Location(path, line, pos - starts[line - 1] + 1)


def _value_loc(ctx: tuple[str, str], obj: Any, key: str) -> Location:
    """Where the value of ``obj``'s ``key`` is written (lists keep no position of their own)."""
    path, text = ctx
    start = obj.pos if isinstance(obj, _JObj) else 0
    m = re.compile(rf'"{re.escape(key)}"\s*:\s*').search(text, start)
    if m is None:
        return _loc(ctx, obj)
    starts = _line_starts(text)
    line = bisect_right(starts, m.end())
    return Location(path, line, m.end() - starts[line - 1] + 1)


def parse_json(text: str, path: str) -> Any:
    """Decode JSON, keeping each object's position; errors carry line and column."""
    check_surrogates(text, path)
    check_depth(text, path)
    dec = json.JSONDecoder(parse_int=parse_int, parse_float=parse_float)

    def parse_object(s_and_end: tuple[str, int], *rest: Any) -> tuple[_JObj, int]:
        obj, end = json.decoder.JSONObject(s_and_end, *rest)  # type: ignore[attr-defined]
        out = _JObj(obj)
        out.pos = s_and_end[1] - 1
        return out, end

    dec.parse_object = parse_object  # type: ignore[attr-defined]
    dec.scan_once = json.scanner.py_make_scanner(dec)  # type: ignore[attr-defined]
    try:
        return dec.decode(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg}",
            hint=JSON_HINT,
            location=Location(path, exc.lineno, exc.colno),
        ) from None
    except RecursionError:
        raise too_deep(text, path) from None
    except ValueError as exc:
        err = long_number_error(exc, text, path)
        if err is None:
            raise
        raise err from None


# Bounds on what one profile may ask of us. Docker's default is 20 KB naming about 370
# syscalls; these leave room for profiles a thousand times that, and stop a 60 MB file
# before it costs a minute and gigabytes.
MAX_PROFILE_BYTES = 16 * 1024 * 1024
MAX_NAMES = 500_000  # syscall names over all entries of ``syscalls``


def load(path: str) -> Profile:
    """Read and check a JSON profile file."""
    return parse(read_text(path, MAX_PROFILE_BYTES), path)


def parse(text: str, path: str = "<json>") -> Profile:
    text = text.removeprefix("\ufeff")  # a byte order mark (PowerShell writes one): no column
    """Check the structure of a JSON profile and return it, or a located error."""
    doc = parse_json(text, path)
    ctx = (path, text)

    def err(obj: Any, msg: str, hint: str = "") -> InputError:
        return InputError(msg, hint=hint, location=_loc(ctx, obj))

    if not isinstance(doc, dict):
        raise err(doc, "a seccomp profile is a JSON object")
    if "seccomp" in doc and "defaultAction" not in doc and isinstance(doc["seccomp"], dict):
        doc = doc["seccomp"]  # linux.seccomp of an OCI config.json
    if "defaultAction" not in doc:
        raise err(doc, "missing 'defaultAction'", "is this a seccomp profile?")
    default = _action(doc, "defaultAction", "defaultErrnoRet", err)
    arches: list[str] = []
    unknown: list[str] = []
    arch_map: dict[str, tuple[str, ...]] = {}
    unknown_at: list[Location] = []

    def add_arch(name: Any, obj: Any, at: Location | None = None) -> str | None:
        if not isinstance(name, str):
            raise err(obj, f"architecture {name!r} is not a string")
        abi = by_oci(name)
        if abi is None:
            if not name.startswith("SCMP_ARCH_"):
                raise err(obj, f"unknown architecture '{name}'", "use SCMP_ARCH_* names")
            if name not in unknown:
                unknown.append(name)
            if not unknown_at:
                unknown_at.append(at or _loc(ctx, obj))
            return None
        if abi.name not in arches:
            arches.append(abi.name)
        return abi.name

    docker = "archMap" in doc
    for entry in _list(doc, "archMap", err):
        if not isinstance(entry, dict):
            raise err(doc, "archMap entries are objects")
        native = add_arch(entry.get("architecture"), entry)
        raw_subs = _list(entry, "subArchitectures", err)
        subs = tuple(s for s in (add_arch(x, entry) for x in raw_subs) if s)
        if native:
            arch_map[native] = subs
    listed = _list(doc, "architectures", err)
    at = _value_loc(ctx, doc, "architectures") if listed else None
    for name in listed:
        add_arch(name, doc, at)
    rules = tuple(_rule(obj, err, ctx) for obj in _list(doc, "syscalls", err))
    names = 0
    for rule in rules:
        names += len(rule.names)
        if names > MAX_NAMES:
            raise InputError(
                f"the profile names more than {MAX_NAMES} syscalls over its entries "
                "(the limit on names in one profile)",
                hint="list each syscall once per action; this limit bounds the work a "
                "profile can demand",
                location=rule.where,
            )
    raw = dict(doc)
    raw["\0text"] = text
    return Profile(
        path,
        default,
        tuple(arches),
        arch_map,
        tuple(unknown),
        rules,
        docker,
        raw,
        unknown_at[0] if unknown_at else None,
    )


def _list(obj: dict[str, Any], key: str, err: Callable[..., InputError]) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise err(obj, f"'{key}' must be a list")
    return value


def _int_field(obj: dict[str, Any], key: str, err: Callable[..., InputError], limit: int) -> int:
    value = obj.get(key, 0)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise err(obj, f"'{key}' must be an integer from 0 to {limit}, not {value!r}")
    return value


def _action(obj: dict[str, Any], key: str, ret_key: str, err: Callable[..., InputError]) -> Action:
    name = obj.get(key)
    kind = ACTIONS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise err(obj, f"unknown action {name!r}", "use SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, …")
    if kind in (ActionKind.ERRNO, ActionKind.TRACE):
        if obj.get(ret_key) is None:
            return Action(kind, EPERM)  # runc's choice when no value is given
        return Action(
            kind, _int_field(obj, ret_key, err, 4095 if kind is ActionKind.ERRNO else 0xFFFF)
        )
    return Action(kind)


def _cond(obj: Any, key: str, err: Callable[..., InputError]) -> Cond:
    value = obj.get(key)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise err(obj, f"'{key}' must be an object")
    # Only JSON null stands for "none" (Go decodes null into an empty slice); {} or "" where a
    # list belongs is refused, as runc's decoder refuses it.
    raw_caps, raw_arches = value.get("caps"), value.get("arches")
    raw_caps = [] if raw_caps is None else raw_caps
    raw_arches = [] if raw_arches is None else raw_arches
    if not (isinstance(raw_caps, list) and isinstance(raw_arches, list)) or not all(
        isinstance(c, str) for c in (*raw_caps, *raw_arches)
    ):
        raise err(obj, f"'{key}' caps and arches are lists of strings")
    caps, arches = tuple(raw_caps), tuple(raw_arches)
    mk = value.get("minKernel")
    min_kernel = None
    if mk is not None and not isinstance(mk, str):
        raise err(obj, f'minKernel must be a string such as "5.4", not {mk!r}')
    if mk:
        min_kernel = parse_kernel(mk)
        if min_kernel is None:
            raise err(obj, f"minKernel '{mk}' is not a version like 5.4")
    return Cond(caps, arches, min_kernel)


def parse_kernel(text: str) -> tuple[int, ...] | None:
    """``5.10`` or ``6.8.0-45-generic`` → (5, 10) / (6, 8, 0); None when unreadable."""
    head = text.strip().split("-", 1)[0].split("+", 1)[0]
    parts = head.split(".")
    if (
        not parts
        or len(parts) > 4
        or not all(p.isascii() and p.isdigit() and len(p) <= 9 for p in parts)
    ):
        return None
    return tuple(int(p) for p in parts)


def _rule(obj: Any, err: Callable[..., InputError], ctx: tuple[str, str]) -> JsonRule:
    if not isinstance(obj, dict):
        raise err(obj, "each element of 'syscalls' is an object")
    names = obj.get("names")
    if names is None and isinstance(obj.get("name"), str):
        names = [obj["name"]]  # the pre-1.0 form
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise err(obj, "'names' must be a list of syscall names")
    action = _action(obj, "action", "errnoRet", err)
    args: list[ArgCond] = []
    raw_args = _list(obj, "args", err)  # {} is not "no conditions": it is refused
    for a in raw_args:
        if not isinstance(a, dict):
            raise err(obj, "'args' entries are objects")
        op_name = a.get("op")
        op = OPS.get(op_name) if isinstance(op_name, str) else None
        if op is None:
            raise err(a, f"unknown comparison {a.get('op')!r}", "use SCMP_CMP_EQ, …")
        index = _int_field(a, "index", err, 5)
        value = _int_field(a, "value", err, U64)
        two = _int_field(a, "valueTwo", err, U64)
        if op is Op.MASKED_EQ:
            args.append(ArgCond(index, op, two & value, mask=value))
        else:
            args.append(ArgCond(index, op, value))
    comment = obj.get("comment") if isinstance(obj.get("comment"), str) else ""
    return JsonRule(
        tuple(names),
        action,
        tuple(args),
        _cond(obj, "includes", err),
        _cond(obj, "excludes", err),
        comment or "",
        _loc(ctx, obj),
    )
