"""Parsers of the policy language's fields: actions, values, argument conditions, names, ABIs."""

from __future__ import annotations

import re
from typing import Any

from seccompiler.arch import abi as abimod
from seccompiler.arch import catalog, tables
from seccompiler.base.errors import SyscallNotFound
from seccompiler.base.yamlsrc import LList, LMap, Mark
from seccompiler.frontend.policy_spec import ARG_KEYS, ArgSpec, Errors, check_keys
from seccompiler.program import U64, Action, Op


def parse_action(value: Any, mark: Mark, errs: Errors) -> Action | None:
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
    # errno(0) is legal, as in libseccomp: the call reports success without running
    return action


_EXPR_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|0[xX][0-9a-fA-F]+|0[oO][0-7]+|\d+)\s*")


def parse_value(value: Any, mark: Mark, errs: Errors) -> int | None:
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


def _arg_values(item: LMap, op: Op, errs: Errors) -> list[int] | None:
    """The value (or, with eq, the list of values) an argument is compared with."""
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
    return values


def _arg_mask(item: LMap, op: Op, errs: Errors) -> int | None:
    """The mask of a masked_eq condition; 0 for every other comparison."""
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
    return mask


def parse_arg(item: Any, mark: Mark, errs: Errors) -> ArgSpec | None:
    if not isinstance(item, LMap):
        errs.add(mark, "an argument condition is a mapping {index, op, value}", code="bad-arg")
        return None
    check_keys(item, ARG_KEYS, "argument condition", errs)
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
    values = _arg_values(item, op, errs)
    if values is None:
        return None
    mask = _arg_mask(item, op, errs)
    if mask is None:
        return None
    limit = (1 << 32) - 1 if width == 32 else U64
    for v in [*values, mask]:
        if v > limit:
            errs.add(
                item.where("value"), f"value {v:#x} does not fit in {width} bits", code="bad-value"
            )
            return None
    return ArgSpec(index, op, tuple(values), mask, width, item.mark)


def parse_names(value: Any, mark: Mark, what: str, errs: Errors) -> list[tuple[str, Mark]]:
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


def check_name(name: str, mark: Mark, errs: Errors) -> bool:
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


def parse_abis(value: Any, mark: Mark, errs: Errors) -> tuple[str, ...] | None:
    names = parse_names(value, mark, "abis", errs)
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


def parse_caps(value: Any, mark: Mark, errs: Errors) -> frozenset[str]:
    out = set()
    for name, where in parse_names(value, mark, "caps", errs):
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
