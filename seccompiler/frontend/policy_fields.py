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
        errs.add(
            mark,
            "expected a number or a constant name",
            "write an integer (16, 0x10) or constant names joined by '|' (CLONE_NEWNS|8)",
            code="bad-value",
        )
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


def _number_error(a: abimod.Abi, nr: int) -> tuple[str, str] | None:
    """Why ``nr`` cannot be a call of ``a`` (message, hint), or None when it can.

    Under x86_64's token the kernel takes a number with the x32 bit (bit 30) for an x32 call
    and any other for an x86_64 one, whatever bit 31 says (arch/x86/entry/syscall_64.c,
    ``do_syscall_x64``/``do_syscall_x32``: one past the table is ENOSYS), and -1, a tracer's
    "skip this call", for no x32 call (``Program.program_for`` reads it the same way).
    """
    if nr < 0 or nr > 0xFFFFFFFF:
        return (
            f"syscall number {nr} does not fit seccomp_data.nr (0 to 0xffffffff)",
            "write the number the kernel sees, as a non-negative 32-bit value",
        )
    if abimod.has_x32_numbers(a.audit_arch) and not a.is_x32:
        if nr & abimod.X32_SYSCALL_BIT and nr != 0xFFFFFFFF:
            return (
                f"syscall number {nr:#x} has the x32 bit (0x40000000) set: on {a.name} the "
                "kernel takes it for an x32 call",
                "write x32 numbers under 'x32:', and this ABI's without the bit",
            )
        return None
    lo, hi = a.nr_range
    if lo <= nr <= hi:
        return None
    if a.is_x32:
        return (
            f"syscall number {nr:#x} is outside {a.name}'s numbers ({lo:#x}-{hi:#x})",
            "write an x32 number as its table does, with or without the x32 bit (0x40000000)",
        )
    fixed = nr + a.nr_offset
    maybe = f"; did you mean {fixed}?" if lo <= fixed <= hi else ""
    return (
        f"syscall number {nr} is outside {a.name}'s numbers ({lo}-{hi})",
        f"{a.name} numbers its calls from {a.nr_offset}, as the kernel sees them{maybe}",
    )


def parse_numbers(value: Any, mark: Mark, errs: Errors) -> list[tuple[str, int, Mark]]:
    """``nr: {ABI: number or [numbers]}``: syscalls the table has no name for yet.

    A number is written as the kernel sees it (seccomp_data.nr); x32's may leave out the x32
    bit. One the table names on that ABI is refused: the name says more, and keeps working
    when the number moves on another ABI.
    """
    if not isinstance(value, LMap) or not value:
        errs.add(
            mark,
            "nr must map ABIs to syscall numbers, e.g. nr: {x86_64: 480, aarch64: 480}",
            code="bad-nr",
        )
        return []
    out: list[tuple[str, int, Mark]] = []
    given: set[tuple[str, int]] = set()  # (ABI, number) already in out: each once
    for key, raw in value.items():
        a = abimod.lookup(str(key))
        if a is None:
            close = tables.suggest(str(key), frozenset(abimod.ABIS))
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(abimod.ABIS)}"
            errs.add(value.where_key(key), f"unknown ABI '{key}'", hint, "unknown-abi")
            continue
        items = list(raw) if isinstance(raw, LList) else [raw]
        if not items:
            errs.add(value.where(key), f"nr gives {a.name} no number", code="bad-nr")
        wheres = [raw.where(i) for i in range(len(items))] if isinstance(raw, LList) else []
        for i, nr in enumerate(items):
            where = wheres[i] if wheres else value.where(key)
            if isinstance(nr, bool) or not isinstance(nr, int):
                errs.add(where, f"a syscall number is an integer, not {nr!r}", code="bad-nr")
                continue
            if a.is_x32 and 0 <= nr < abimod.X32_SYSCALL_BIT:
                nr |= abimod.X32_SYSCALL_BIT
            problem = _number_error(a, nr)
            if problem is not None:
                errs.add(where, problem[0], problem[1], "nr-range")
                continue
            name = tables.table(a).name_of(nr)
            if name is not None:
                errs.add(
                    where,
                    f"syscall number {nr & ~abimod.X32_SYSCALL_BIT if a.is_x32 else nr} is "
                    f"'{name}' on {a.name}",
                    f"name it: syscalls: [{name}] (numbers are for syscalls newer than the "
                    f"table, Linux {tables.kernel_version()})",
                    "nr-named",
                )
                continue
            if (a.name, nr) not in given:
                given.add((a.name, nr))
                out.append((a.name, nr, where))
    return out
