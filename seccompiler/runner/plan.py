"""The probe plan: every call ``seccompiler test`` makes, with the action the policy promises."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from seccompiler.arch import abi as abimod
from seccompiler.arch import tables
from seccompiler.program import (
    Action,
    ArgCond,
    Op,
    Program,
    SyscallProgram,
)
from seccompiler.runner import host, probe

MAX_VECTORS = 4

FORK_LIKE = frozenset({"fork", "vfork", "clone"})
SIGRETURN = frozenset({"rt_sigreturn", "sigreturn"})
# Calls that wait forever on zero arguments get a zeroed timeout (the probe's "Z" page).
ZERO_TIMEOUT = {
    "select": 4,
    "_newselect": 4,
    "pselect6": 4,
    "pselect6_time64": 4,
    "ppoll": 2,
    "ppoll_time64": 2,
}


@dataclass(frozen=True)
class Point:
    """One planned call and what the policy says about it."""

    call: probe.Call
    name: str
    expected: Action


def _satisfy(c: ArgCond, negate: bool) -> int | None:
    limit = 0xFFFFFFFF if c.width == 32 else (1 << 64) - 1
    v = c.value
    if c.op is Op.MASKED_EQ:
        if not negate:
            return v
        low = c.mask & -c.mask
        return (v ^ low) if low else None
    want = {Op.EQ: v, Op.NE: v + 1, Op.GE: v, Op.GT: v + 1, Op.LE: v, Op.LT: v - 1}[c.op]
    if negate:
        want = {Op.EQ: v + 1, Op.NE: v, Op.GE: v - 1, Op.GT: v, Op.LE: v + 1, Op.LT: v}[c.op]
    return want if 0 <= want <= limit else None


def _vectors(sp: SyscallProgram, a: abimod.Abi, base: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Argument vectors reaching each distinct answer of ``sp``, zeros first."""
    cands = [base]
    for rule in sp.rules:
        for negate in (False, True):
            args = list(base)
            for c in rule.conditions:
                v = _satisfy(c, negate)
                if v is not None:
                    args[c.index] = v
            cands.append(tuple(args))
    out: list[tuple[int, ...]] = []
    seen: set[Action] = set()
    for vec in cands:
        act = sp.decide(vec, a)
        if act not in seen and len(out) < MAX_VECTORS:
            seen.add(act)
            out.append(vec)
    return out


def _kind(name: str) -> probe.Kind:
    if name in FORK_LIKE:
        return "fork"
    if name in SIGRETURN:
        return "sigreturn"
    return "plain"


def _base_args(name: str) -> tuple[int, ...]:
    args = [0] * 6
    if name in ZERO_TIMEOUT:
        args[ZERO_TIMEOUT[name]] = probe.ZERO_PAGE
    return tuple(args)


def plan(
    program: Program, abis: Sequence[str] | None = None, names: Iterable[str] | None = None
) -> list[Point]:
    """Every call to make, with the action the policy promises for it (default: every ABI)."""
    wanted = set(names) if names is not None else None
    points: list[Point] = []
    for abi_name in abis if abis is not None else host.probe_abis():
        a = abimod.ABIS[abi_name]
        t = tables.table(a)
        ap = program.abi(abi_name)
        # and the numbers the policy names with nr: (newer than the table: the kernel may
        # not know them, and then answers ENOSYS unless the filter answers first)
        numbered = {n: sp.name for n, sp in ap.syscalls.items() if sp.numbered} if ap else {}
        for nr, name in sorted({**t.by_nr, **numbered}.items()):
            if wanted is not None and name not in wanted:
                continue
            base = _base_args(name)
            sp = ap.syscalls.get(nr) if ap is not None else None
            vectors = _vectors(sp, a, base) if sp is not None else [base]
            for args in vectors:
                call = probe.Call(abi_name, nr, args, _kind(name))
                points.append(Point(call, name, program.decide(a.audit_arch, nr, concrete(args))))
        if wanted is None:
            nr = t.max_nr + 1
            call = probe.Call(abi_name, nr)
            points.append(
                Point(
                    call,
                    f"(unknown {nr & ~abimod.X32_SYSCALL_BIT})",
                    program.decide(a.audit_arch, nr),
                )
            )
    return points


def concrete(args: tuple[int, ...]) -> tuple[int, ...]:
    # The zero page's address is unknown here; the rules never look at those arguments.
    return tuple(0 if x == probe.ZERO_PAGE else x for x in args)
