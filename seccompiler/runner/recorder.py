"""Observed syscalls, counted per ABI and syscall with the argument values that matter.

For the syscalls whose arguments select a behaviour a filter can tell apart
(``ARG_CONDITIONS``) the values seen are kept, and with a base policy the values of every
argument the base decides by; no other argument is read, so the launcher counts calls by
exactly those (``keep_list``). ``recpolicy`` writes the result as a policy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from seccompiler.arch import abi as abimod
from seccompiler.arch import catalog, tables
from seccompiler.program import ActionKind, Program

# Syscalls whose argument (by index) picks an operation; recording its values keeps the
# policy as narrow as the workload. Values are compared on the width the compiler picks.
ARG_CONDITIONS: dict[str, int] = {
    "personality": 0,  # persona
    "socket": 0,  # address family
    "socketpair": 0,
    "prctl": 0,  # option
    "arch_prctl": 0,
    "clone": 0,  # flags
    "unshare": 0,
    "ioctl": 1,  # request
    "fcntl": 1,  # command
    "fcntl64": 1,
}
MAX_VALUES = 16  # beyond this many distinct values a syscall is allowed whatever they are
ALLOWING = frozenset({ActionKind.ALLOW, ActionKind.LOG})


class Call(Protocol):
    """What the recorder needs of an observed syscall."""

    @property
    def abi(self) -> Any: ...  # an ABI name or an ``abi.Abi``
    @property
    def nr(self) -> int: ...
    @property
    def name(self) -> str | None: ...
    @property
    def args(self) -> Sequence[int]: ...


class Event(Call, Protocol):
    """One call, by one task (``supervise.SyscallEvent``)."""

    @property
    def pid(self) -> int: ...


class Counted(Call, Protocol):
    """Calls counted together (``notify.Seen``): the arguments nobody asked for are zero."""

    @property
    def count(self) -> int: ...


Guard = tuple[tuple[int, int, int], ...]  # (index, width, value) per argument the base reads


@dataclass
class Use:
    """How often one syscall was seen on one ABI, and with which selecting argument values.

    ``guarded`` is filled when the base policy decides the syscall by its arguments: each
    observed call's values of exactly those arguments, so that the recorded allow can keep
    the base's distinctions instead of opening the whole syscall.
    """

    count: int = 0
    values: Counter[int] = field(default_factory=Counter)
    guarded: Counter[Guard] = field(default_factory=Counter)


@dataclass
class Recording:
    """Observed syscalls aggregated per (ABI, name)."""

    uses: dict[tuple[str, str], Use] = field(default_factory=dict)
    unknown: Counter[tuple[str, int]] = field(default_factory=Counter)
    tasks: int = 0  # threads that made a call
    unkept: int = 0  # calls counted without their syscall: the launcher's table was full
    total: int = 0
    covered: int = 0  # calls the base policy already allows

    @property
    def abis(self) -> tuple[str, ...]:
        seen = {a for a, _ in self.uses} | {a for a, _ in self.unknown}
        return tuple(a.name for a in abimod.ABIS.values() if a.name in seen)


def _abi_name(value: Any) -> str:
    if isinstance(value, abimod.Abi):
        return value.name
    found = abimod.lookup(str(value))
    return found.name if found is not None else str(value)


def _name_of(abi_name: str, nr: int, given: str | None) -> str | None:
    """The table's name for the call; None for numbers our tables do not know."""
    a = abimod.ABIS.get(abi_name)
    if a is None:
        return None
    table = tables.table(a)
    if given and given in table.by_name:
        return given
    return table.name_of(nr)


def _allowed_by(base: Program, abi_name: str, nr: int, args: Sequence[int]) -> bool:
    a = abimod.ABIS.get(abi_name)
    if a is None:
        return False
    padded = [*args, 0, 0, 0, 0, 0, 0][:6]
    return base.decide(a.audit_arch, nr, padded).kind in ALLOWING


def base_widths(base: Program | None, abi_name: str, nr: int) -> dict[int, int]:
    """The arguments the base decides this syscall by, with the widest width it reads them."""
    prog = base.abi(abi_name) if base is not None else None
    sp = prog.syscalls.get(nr) if prog is not None else None
    out: dict[int, int] = {}
    for rule in sp.rules if sp is not None else ():
        for c in rule.conditions:
            out[c.index] = max(out.get(c.index, 0), c.effective_width(prog.abi))  # type: ignore[union-attr]
    return out


def kept_args(base: Program | None, abi_name: str, nr: int) -> set[int]:
    """The arguments ``aggregate`` reads of a call: the selecting one, and the base's."""
    index = ARG_CONDITIONS.get(_name_of(abi_name, nr, None) or "")
    return set(base_widths(base, abi_name, nr)) | ({index} if index is not None else set())


def keep_list(base: Program | None, abis: Iterable[str]) -> str:
    """The launcher's --record list for ``abis``: "ARCH:NR:MASK,..." naming, per syscall,
    the arguments ``aggregate`` reads; every other argument is counted as zero."""
    out = []
    for abi_name in abis:
        a = abimod.ABIS[abi_name]
        prog = base.abi(abi_name) if base is not None else None
        nrs = set(tables.table(a).by_nr) | set(prog.syscalls if prog is not None else ())
        for nr in sorted(nrs):
            mask = sum(1 << i for i in kept_args(base, abi_name, nr))
            if mask:
                out.append(f"{a.audit_arch}:{nr}:{mask}")
    return ",".join(out)


@dataclass(frozen=True)
class _One:
    abi: Any
    nr: int
    name: str | None
    args: Sequence[int]
    count: int = 1


def aggregate(events: Iterable[Event], base: Program | None = None) -> Recording:
    """Count events (one call each) per ABI and syscall; see ``aggregate_counts``."""
    pids: set[int] = set()

    def counted() -> Iterable[Counted]:
        for ev in events:
            pids.add(ev.pid)
            yield _One(ev.abi, ev.nr, ev.name, ev.args)

    rec = aggregate_counts(counted(), base)
    rec.tasks = len(pids)
    return rec


def aggregate_counts(
    seen: Iterable[Counted], base: Program | None = None, tasks: int = 0, unkept: int = 0
) -> Recording:
    """Count calls per ABI and syscall; with ``base``, skip calls the base already allows."""
    rec = Recording(tasks=tasks, unkept=unkept, total=unkept)
    for ev in seen:
        n = ev.count
        rec.total += n
        abi_name = _abi_name(ev.abi)
        if base is not None and _allowed_by(base, abi_name, ev.nr, ev.args):
            rec.covered += n
            continue
        name = _name_of(abi_name, ev.nr, ev.name)
        if name is None:
            rec.unknown[(abi_name, ev.nr)] += n
            continue
        use = rec.uses.setdefault((abi_name, name), Use())
        use.count += n
        args = [*ev.args, 0, 0, 0, 0, 0, 0][:6]
        widths = base_widths(base, abi_name, ev.nr)
        if widths:
            index = ARG_CONDITIONS.get(name)
            if index is not None and index not in widths:
                widths[index] = 64  # the usual narrowing, kept as well
            use.guarded[
                tuple((i, w, args[i] & ((1 << w) - 1)) for i, w in sorted(widths.items()))
            ] += n
            continue
        index = ARG_CONDITIONS.get(name)
        if index is not None and index < len(ev.args):
            use.values[ev.args[index] & _read_mask(abi_name, name, index)] += n
    return rec


def _read_mask(abi_name: str, name: str, index: int) -> int:
    """The bits of an argument the kernel reads (an int's low 32): the value recorded is the
    value the call had, whatever the caller left in the rest of the register."""
    widths = catalog.arg_widths(abi_name).get(name, ())
    bits = widths[index] if index < len(widths) else abimod.ABIS[abi_name].register_bits
    return (1 << bits) - 1
