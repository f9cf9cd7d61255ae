"""Frontend: a policy YAML file (and the files it extends) → ``Policy``, with positions kept.

The policy language is documented in docs/policy.md. Every mistake is a ``PolicyError`` with
the file, line and column, and a hint; several are collected and reported together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seccompiler.arch import abi as abimod
from seccompiler.arch import catalog, tables
from seccompiler.base.errors import ErrorList, InputError, PolicyError, SyscallNotFound
from seccompiler.base.yamlsrc import LList, LMap, Mark, load_file
from seccompiler.program import U64, Action, ActionKind, Op

MAX_EXTENDS_DEPTH = 16
LANGUAGE_VERSION = 1

TOP_KEYS = ("seccompiler", "name", "description", "extends", "abis", "default", "unknown", "rules")
RULE_KEYS = ("action", "syscalls", "except", "args", "abis", "caps", "reason")
ARG_KEYS = ("index", "op", "value", "mask", "width")


@dataclass(frozen=True)
class ArgSpec:
    """One argument condition as written; ``values`` holds alternatives (any may match)."""

    index: int
    op: Op
    values: tuple[int, ...]
    mask: int
    width: int | None  # None: decided per syscall from the int-argument table
    mark: Mark


@dataclass(frozen=True)
class RuleSpec:
    """One entry of ``rules:``."""

    action: Action
    syscalls: tuple[tuple[str, Mark], ...]  # names and @groups as written
    excluded: frozenset[str]
    args: tuple[ArgSpec, ...]
    abis: frozenset[str] | None
    caps: frozenset[str]
    reason: str
    mark: Mark
    action_mark: Mark


@dataclass(frozen=True)
class Policy:
    """A policy with its ``extends`` chain flattened: base rules first, later rules win."""

    path: str
    name: str
    description: str
    abis: tuple[str, ...]
    default: Action
    unknown: Action
    rules: tuple[RuleSpec, ...]
    sources: tuple[str, ...]  # every file read, base first


class _Errors:
    """Collects errors so a user sees all of them in one run."""

    def __init__(self) -> None:
        self.items: list[InputError] = []

    def add(self, mark: Mark, message: str, hint: str = "", code: str = "policy") -> None:
        self.items.append(PolicyError(message, hint=hint, location=mark.location(), code=code))

    def raise_if_any(self) -> None:
        if len(self.items) == 1:
            raise self.items[0]
        if self.items:
            first = self.items[0]
            raise ErrorList(
                f"{len(self.items)} errors", location=first.location, errors=list(self.items)
            )


def _check_keys(m: LMap, allowed: tuple[str, ...], what: str, errs: _Errors) -> None:
    for key in m:
        if key not in allowed:
            close = tables.suggest(key, frozenset(allowed), 1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
            errs.add(m.where_key(key), f"unknown key '{key}' in {what}", hint, "unknown-key")


def parse_action(value: Any, mark: Mark, errs: _Errors) -> Action | None:
    if not isinstance(value, str):
        errs.add(mark, "an action must be text such as allow or errno(EPERM)", code="bad-action")
        return None
    try:
        action = Action.parse(value)
    except ValueError as exc:
        code = "errno-range" if "out of range" in str(exc) else "bad-action"
        errs.add(
            mark,
            str(exc),
            "actions: allow, log, errno(NAME|1-4095), kill-process, kill-thread, trap, "
            "notify, trace(N)",
            code,
        )
        return None
    if action.kind is ActionKind.ERRNO and action.data == 0:
        errs.add(
            mark,
            "errno(0) would report success without running the syscall",
            "use an errno from 1 to 4095, or allow",
            "errno-range",
        )
        return None
    return action


_EXPR_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|0[xX][0-9a-fA-F]+|0[oO][0-7]+|\d+)\s*")


def parse_value(value: Any, mark: Mark, errs: _Errors) -> int | None:
    """An integer, a constant name, or constants joined with ``|`` (e.g. CLONE_NEWNS|8)."""
    if isinstance(value, bool):
        errs.add(mark, "expected a number or constant, not a boolean", code="bad-value")
        return None
    if isinstance(value, int):
        if not 0 <= value <= U64:
            if -(1 << 63) <= value < 0:
                return value & U64
            errs.add(mark, f"value {value} does not fit in 64 bits", code="bad-value")
            return None
        return value
    if not isinstance(value, str) or not value.strip():
        errs.add(mark, "expected a number or a constant name", code="bad-value")
        return None
    total = 0
    for part in value.split("|"):
        m = _EXPR_TOKEN.fullmatch(part)
        if not m:
            errs.add(
                mark,
                f"cannot read '{value}' as a value",
                "use numbers, constants and |",
                "bad-value",
            )
            return None
        tok = m.group(1)
        if tok[0].isdigit():
            total |= int(tok, 0)
            continue
        known = catalog.constants().get(tok)
        if known is None:
            close = tables.suggest(tok, frozenset(catalog.constants()), 1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else "see seccompiler/arch/data/constants.yaml"
            )
            errs.add(mark, f"unknown constant '{tok}'", hint, "unknown-constant")
            return None
        total |= known
    if total > U64:
        errs.add(mark, f"value {value} does not fit in 64 bits", code="bad-value")
        return None
    return total


def _parse_arg(item: Any, mark: Mark, errs: _Errors) -> ArgSpec | None:
    if not isinstance(item, LMap):
        errs.add(mark, "an argument condition is a mapping {index, op, value}", code="bad-arg")
        return None
    _check_keys(item, ARG_KEYS, "argument condition", errs)
    index = item.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= 5:
        errs.add(
            item.where("index"),
            f"argument index must be 0-5, got {index!r}",
            "syscalls take at most six arguments, counted from 0",
            "arg-index",
        )
        return None
    op_text = item.get("op", "eq")
    try:
        op = Op(str(op_text))
    except ValueError:
        errs.add(
            item.where("op"),
            f"unknown comparison '{op_text}'",
            "use eq, ne, lt, le, gt, ge or masked_eq",
            "bad-op",
        )
        return None
    width = item.get("width")
    if width is not None and width not in (32, 64):
        errs.add(item.where("width"), "width must be 32 or 64", code="bad-width")
        return None
    if "value" not in item:
        errs.add(item.mark, "argument condition needs a value", code="bad-arg")
        return None
    raw = item["value"]
    raw_values = list(raw) if isinstance(raw, LList) else [raw]
    if not raw_values:
        errs.add(item.where("value"), "value list is empty", code="bad-value")
        return None
    if len(raw_values) > 1 and op is not Op.EQ:
        errs.add(
            item.where("value"),
            "a list of values is only allowed with op: eq",
            "write one rule per value for other comparisons",
            "bad-value",
        )
        return None
    values = []
    for i, v in enumerate(raw_values):
        where = raw.where(i) if isinstance(raw, LList) else item.where("value")
        parsed = parse_value(v, where, errs)
        if parsed is None:
            return None
        values.append(parsed)
    mask = 0
    if op is Op.MASKED_EQ:
        if "mask" not in item:
            errs.add(item.mark, "masked_eq needs a mask", code="bad-arg")
            return None
        m = parse_value(item["mask"], item.where("mask"), errs)
        if m is None:
            return None
        mask = m
    elif "mask" in item:
        errs.add(item.where_key("mask"), "only masked_eq takes a mask", code="bad-arg")
        return None
    limit = (1 << 32) - 1 if width == 32 else U64
    for v in [*values, mask]:
        if v > limit:
            errs.add(
                item.where("value"), f"value {v:#x} does not fit in {width} bits", code="bad-value"
            )
            return None
    return ArgSpec(index, op, tuple(values), mask, width, item.mark)


def _parse_names(value: Any, mark: Mark, what: str, errs: _Errors) -> list[tuple[str, Mark]]:
    if isinstance(value, str):
        return [(value, mark)]
    if not isinstance(value, LList):
        errs.add(mark, f"{what} must be a list of names", code="bad-syscalls")
        return []
    out = []
    for i, v in enumerate(value):
        if not isinstance(v, str):
            errs.add(value.where(i), f"{what} entries must be names", code="bad-syscalls")
            continue
        out.append((v, value.where(i)))
    return out


def check_name(name: str, mark: Mark, errs: _Errors) -> bool:
    """A syscall name must be in some table, a group must exist; offer the closest names."""
    if name.startswith("@"):
        if name[1:] in catalog.groups():
            return True
        pool = frozenset("@" + g for g in catalog.groups())
        close = tables.suggest(name, pool)
        hint = (
            f"did you mean {', '.join(repr(c) for c in close)}?"
            if close
            else (f"groups: {', '.join(sorted(pool))}")
        )
        errs.items.append(
            SyscallNotFound(
                f"unknown syscall group '{name}'",
                hint=hint,
                location=mark.location(),
                name=name,
                suggestions=close,
            )
        )
        return False
    if name in tables.all_names():
        return True
    close = tables.suggest(name)
    hint = (
        f"did you mean {', '.join(repr(c) for c in close)}?"
        if close
        else ("run 'seccompiler syscalls NAME' to look names up")
    )
    errs.items.append(
        SyscallNotFound(
            f"unknown syscall '{name}'",
            hint=hint,
            location=mark.location(),
            name=name,
            suggestions=close,
        )
    )
    return False


def _parse_abis(value: Any, mark: Mark, errs: _Errors) -> tuple[str, ...] | None:
    names = _parse_names(value, mark, "abis", errs)
    out = []
    for name, where in names:
        a = abimod.lookup(name)
        if a is None:
            close = tables.suggest(name, frozenset(abimod.ABIS))
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(abimod.ABIS)}"
            errs.add(where, f"unknown ABI '{name}'", hint, "unknown-abi")
            return None
        if a.name in out:
            errs.add(where, f"ABI '{a.name}' listed twice", code="duplicate-abi")
            continue
        out.append(a.name)
    return tuple(out)


def _parse_caps(value: Any, mark: Mark, errs: _Errors) -> frozenset[str]:
    out = set()
    for name, where in _parse_names(value, mark, "caps", errs):
        cap = name.upper()
        cap = cap if cap.startswith("CAP_") else "CAP_" + cap
        if cap not in catalog.CAPABILITIES:
            close = tables.suggest(cap, frozenset(catalog.CAPABILITIES), 1)
            errs.add(
                where,
                f"unknown capability '{name}'",
                f"did you mean '{close[0]}'?" if close else "",
                "unknown-cap",
            )
            continue
        out.add(cap)
    return frozenset(out)


def _parse_rule(item: Any, mark: Mark, errs: _Errors) -> RuleSpec | None:
    if not isinstance(item, LMap):
        errs.add(mark, "a rule is a mapping with action and syscalls", code="bad-rule")
        return None
    _check_keys(item, RULE_KEYS, "rule", errs)
    if "action" not in item or "syscalls" not in item:
        errs.add(item.mark, "a rule needs both 'action' and 'syscalls'", code="bad-rule")
        return None
    action = parse_action(item["action"], item.where("action"), errs)
    names = _parse_names(item["syscalls"], item.where("syscalls"), "syscalls", errs)
    if not names:
        errs.add(item.where("syscalls"), "a rule needs at least one syscall", code="bad-rule")
    names = [(n, m) for n, m in names if check_name(n, m, errs)]
    excluded = []
    for n, m in _parse_names(item.get("except", LList()), item.where("except"), "except", errs):
        if check_name(n, m, errs):
            excluded.append(n)
    args_raw = item.get("args", LList())
    args: list[ArgSpec] = []
    if not isinstance(args_raw, LList):
        errs.add(item.where("args"), "args must be a list of conditions", code="bad-arg")
    else:
        seen: set[int] = set()
        for i, a in enumerate(args_raw):
            spec = _parse_arg(a, args_raw.where(i), errs)
            if spec is None:
                continue
            if spec.index in seen:
                errs.add(
                    args_raw.where(i),
                    f"argument {spec.index} compared twice in one rule",
                    "write a second rule; conditions in one rule must all hold",
                    "duplicate-arg",
                )
            seen.add(spec.index)
            args.append(spec)
    abis = None
    if "abis" in item:
        parsed = _parse_abis(item["abis"], item.where("abis"), errs)
        abis = frozenset(parsed) if parsed is not None else None
    caps = _parse_caps(item["caps"], item.where("caps"), errs) if "caps" in item else frozenset()
    reason = item.get("reason", "")
    if not isinstance(reason, str):
        errs.add(item.where("reason"), "reason must be text", code="bad-rule")
        reason = ""
    if action is None:
        return None
    return RuleSpec(
        action,
        tuple(names),
        frozenset(excluded),
        tuple(args),
        abis,
        caps,
        reason.strip(),
        item.mark,
        item.where("action"),
    )


def _check_conflicts(rules: list[RuleSpec], errs: _Errors) -> None:
    """Two unconditional rules in one file giving one syscall different actions is a mistake."""
    seen: dict[tuple[str, str], tuple[Action, RuleSpec]] = {}
    for rule in rules:
        if rule.args or rule.caps:
            continue
        for abi_name in sorted(rule.abis) if rule.abis else ["*"]:
            for name in expand_names(rule):
                key = (name, abi_name)
                prev = seen.get(key)
                if prev is not None and prev[0] != rule.action:
                    errs.add(
                        rule.action_mark,
                        f"syscall '{name}' is given {rule.action} here and {prev[0]} at line "
                        f"{prev[1].mark.line}",
                        "remove one, or exclude it from the group with 'except:'",
                        "conflict",
                    )
                    continue
                seen[key] = (rule.action, rule)


def expand_names(rule: RuleSpec) -> dict[str, str]:
    """The syscall names a rule covers (groups expanded, exceptions removed) with reasons."""
    out: dict[str, str] = {}
    excluded: set[str] = set()
    for ex in rule.excluded:
        excluded.update(catalog.expand_group(ex[1:]) if ex.startswith("@") else [ex])
    for name, _ in rule.syscalls:
        if name.startswith("@"):
            for member, why in catalog.expand_group(name[1:]).items():
                out.setdefault(member, why or rule.reason)
        else:
            out.setdefault(name, rule.reason)
    return {n: r for n, r in out.items() if n not in excluded}


def _load_one(path: Path, errs: _Errors) -> LMap:
    data = load_file(str(path))
    if not isinstance(data, LMap):
        raise PolicyError(
            "a policy is a YAML mapping",
            hint="start with 'seccompiler: 1'",
            location=Mark(str(path), 1, 1).location(),
            code="not-a-mapping",
        )
    _check_keys(data, TOP_KEYS, "policy", errs)
    version = data.get("seccompiler")
    if version != LANGUAGE_VERSION:
        errs.add(
            data.where("seccompiler"),
            f"unsupported or missing language version {version!r}",
            "put 'seccompiler: 1' at the top",
            "version",
        )
    return data


def load_policy(path: str | Path, *, _chain: tuple[Path, ...] = ()) -> Policy:
    """Read a policy and everything it extends; raise on the first file with errors."""
    p = Path(path)
    resolved = p.resolve()
    errs = _Errors()
    data = _load_one(p, errs)
    spath = str(p)
    base: Policy | None = None
    if "extends" in data:
        ext = data["extends"]
        where = data.where("extends")
        if not isinstance(ext, str) or not ext:
            errs.add(where, "extends takes one file name", code="bad-extends")
        else:
            target = p.parent / ext
            if target.resolve() in (*_chain, resolved):
                chain = " → ".join(str(c) for c in (*_chain, resolved, target.resolve()))
                errs.add(
                    where, f"'extends' forms a cycle: {chain}", "remove one link", "extends-cycle"
                )
            elif len(_chain) >= MAX_EXTENDS_DEPTH:
                errs.add(
                    where,
                    f"'extends' nests deeper than {MAX_EXTENDS_DEPTH} files",
                    code="extends-depth",
                )
            elif not target.is_file():
                errs.add(
                    where,
                    f"extended policy '{ext}' not found",
                    f"looked for {target}",
                    "extends-missing",
                )
            else:
                errs.raise_if_any()
                base = load_policy(target, _chain=(*_chain, resolved))
    abis: tuple[str, ...] | None = base.abis if base else None
    if "abis" in data:
        abis = _parse_abis(data["abis"], data.where("abis"), errs)
    elif base is None:
        errs.add(data.mark, "the policy names no ABIs", "add e.g. 'abis: [x86_64, x86]'", "no-abis")

    def action_key(key: str, fallback: Action | None) -> Action | None:
        if key in data:
            return parse_action(data[key], data.where(key), errs)
        if fallback is None:
            errs.add(data.mark, f"the policy has no '{key}' action", code=f"no-{key}")
        return fallback

    default = action_key("default", base.default if base else None)
    unknown_fallback = base.unknown if base else Action.parse("errno(ENOSYS)")
    unknown = action_key("unknown", unknown_fallback)
    name = data.get("name", base.name if base else p.stem)
    description = data.get("description", "")
    rules_raw = data.get("rules", LList())
    rules: list[RuleSpec] = []
    if not isinstance(rules_raw, LList):
        errs.add(data.where("rules"), "rules must be a list", code="bad-rule")
    else:
        for i, item in enumerate(rules_raw):
            rule = _parse_rule(item, rules_raw.where(i), errs)
            if rule is not None:
                rules.append(rule)
    _check_conflicts(rules, errs)
    if abis is not None:
        for rule in rules:
            for name_, mark in rule.syscalls:
                if not name_.startswith("@") and not any(
                    name_ in tables.table(a).by_name for a in abis
                ):
                    errs.add(
                        mark,
                        f"syscall '{name_}' exists on none of the policy's ABIs "
                        f"({', '.join(abis)})",
                        code="absent-on-abis",
                    )
    errs.raise_if_any()
    assert abis is not None and default is not None and unknown is not None
    return Policy(
        path=spath,
        name=str(name),
        description=str(description),
        abis=abis,
        default=default,
        unknown=unknown,
        rules=(*(base.rules if base else ()), *rules),
        sources=(*(base.sources if base else ()), spath),
    )
