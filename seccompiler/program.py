"""The resolved program: the public contract between the frontend and every backend.

A ``Program`` says, for each ABI, what the filter must answer for every syscall number and
argument vector. Backends (OCI JSON, BPF, PFC) render it; the verifier compares any BPF
against ``Program.decide``. Constructors validate, so an invalid program cannot exist.

Return values are from linux/seccomp.h: the action sits in the high 16 bits
(SECCOMP_RET_ACTION_FULL), its data (errno, trace message) in the low 16 (SECCOMP_RET_DATA).
"""

from __future__ import annotations

import errno as _errno
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from seccompiler.arch.abi import X32_SYSCALL_BIT, Abi, has_x32_numbers
from seccompiler.base.errors import Note

RET_ACTION_FULL = 0xFFFF0000
RET_DATA = 0x0000FFFF
MAX_ERRNO = 4095
U64 = (1 << 64) - 1
U32 = (1 << 32) - 1


class ActionKind(Enum):
    """Seccomp actions, valued by their SECCOMP_RET_* code."""

    KILL_PROCESS = 0x80000000
    KILL_THREAD = 0x00000000
    TRAP = 0x00030000
    ERRNO = 0x00050000
    USER_NOTIF = 0x7FC00000
    TRACE = 0x7FF00000
    LOG = 0x7FFC0000
    ALLOW = 0x7FFF0000


_KIND_NAMES: dict[ActionKind, str] = {
    ActionKind.KILL_PROCESS: "kill-process",
    ActionKind.KILL_THREAD: "kill-thread",
    ActionKind.TRAP: "trap",
    ActionKind.ERRNO: "errno",
    ActionKind.USER_NOTIF: "notify",
    ActionKind.TRACE: "trace",
    ActionKind.LOG: "log",
    ActionKind.ALLOW: "allow",
}
_NAME_KINDS = {v: k for k, v in _KIND_NAMES.items()} | {"kill": ActionKind.KILL_PROCESS}

# The kernel's precedence when several filters answer (kernel/seccomp.c: lowest action wins,
# compared as signed values so that KILL_PROCESS ranks first).
_PRECEDENCE = [
    ActionKind.KILL_PROCESS,
    ActionKind.KILL_THREAD,
    ActionKind.TRAP,
    ActionKind.ERRNO,
    ActionKind.USER_NOTIF,
    ActionKind.TRACE,
    ActionKind.LOG,
    ActionKind.ALLOW,
]


def errno_name(value: int) -> str:
    """Symbolic name of an errno value, or the number as text."""
    return _errno.errorcode.get(value, str(value))


def errno_value(name: str) -> int | None:
    """Value of an errno name such as ``EPERM``; None when unknown."""
    value = getattr(_errno, name.upper(), None)
    return value if isinstance(value, int) else None


@dataclass(frozen=True)
class Action:
    """A seccomp action with its 16-bit datum (errno value, trace message)."""

    kind: ActionKind
    data: int = 0

    def __post_init__(self) -> None:
        if self.kind is ActionKind.ERRNO and not 0 <= self.data <= MAX_ERRNO:
            raise ValueError(f"errno value {self.data} out of range 0-{MAX_ERRNO}")
        if not 0 <= self.data <= RET_DATA:
            raise ValueError(f"action data {self.data} out of range 0-65535")
        if self.kind not in (ActionKind.ERRNO, ActionKind.TRACE, ActionKind.TRAP) and self.data:
            raise ValueError(f"{_KIND_NAMES[self.kind]} takes no value")

    def sort_key(self) -> tuple[int, int]:
        """Order by the kernel's precedence, then by datum."""
        return (self.rank, self.data)

    @property
    def ret(self) -> int:
        """The 32-bit value a BPF program returns for this action."""
        return self.kind.value | self.data

    @classmethod
    def from_ret(cls, value: int) -> Action:
        """Decode a filter's return value the way the kernel does (unknown → kill-process)."""
        value &= U32
        full = value & RET_ACTION_FULL
        for kind in ActionKind:
            if kind.value == full:
                data = value & RET_DATA
                if kind is ActionKind.ERRNO:
                    data = min(data, MAX_ERRNO)  # the kernel clamps errno to MAX_ERRNO
                if kind not in (ActionKind.ERRNO, ActionKind.TRACE, ActionKind.TRAP):
                    data = 0
                return cls(kind, data)
        return cls(ActionKind.KILL_PROCESS)

    @property
    def rank(self) -> int:
        """Position in the kernel's precedence: lower is stronger."""
        return _PRECEDENCE.index(self.kind)

    @property
    def blocks(self) -> bool:
        """True for actions that stop the syscall from running."""
        return self.kind not in (
            ActionKind.ALLOW,
            ActionKind.LOG,
            ActionKind.USER_NOTIF,
            ActionKind.TRACE,
        )

    @classmethod
    def parse(cls, text: str) -> Action:
        """Parse ``allow``, ``errno(EPERM)``, ``errno(1)``, ``trace(7)``, ``kill-process``…"""
        m = re.fullmatch(r"\s*([a-z-]+)\s*(?:\(\s*([A-Za-z0-9_]+)\s*\))?\s*", text)
        if not m or m.group(1) not in _NAME_KINDS:
            raise ValueError(f"unknown action '{text}'")
        kind = _NAME_KINDS[m.group(1)]
        arg = m.group(2)
        if arg is None:
            if kind is ActionKind.ERRNO:
                raise ValueError("errno needs a value, e.g. errno(EPERM)")
            return cls(kind)
        if kind not in (ActionKind.ERRNO, ActionKind.TRACE, ActionKind.TRAP):
            raise ValueError(f"{m.group(1)} takes no value")
        if arg.isdigit():
            return cls(kind, int(arg))
        if kind is ActionKind.ERRNO and (value := errno_value(arg)) is not None:
            return cls(kind, value)
        raise ValueError(f"unknown errno name '{arg}'")

    def __str__(self) -> str:
        name = _KIND_NAMES[self.kind]
        if self.kind is ActionKind.ERRNO:
            return f"errno({errno_name(self.data)})"
        if self.kind in (ActionKind.TRACE, ActionKind.TRAP) and self.data:
            return f"{name}({self.data})"
        return name


ALLOW = Action(ActionKind.ALLOW)
KILL_PROCESS = Action(ActionKind.KILL_PROCESS)


class Op(Enum):
    """Argument comparisons (the set libseccomp and the OCI runtime spec offer)."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    MASKED_EQ = "masked_eq"


@dataclass(frozen=True)
class ArgCond:
    """``(args[index] & mask) == value`` or an ordered comparison, on ``width`` bits.

    Width 32 compares only the low word: right for int-typed arguments, whose upper register
    half the kernel ignores and a caller may fill with anything.
    """

    index: int
    op: Op
    value: int
    mask: int = 0
    width: int = 64

    def __post_init__(self) -> None:
        if not 0 <= self.index <= 5:
            raise ValueError(f"argument index {self.index} out of range 0-5")
        if self.width not in (32, 64):
            raise ValueError("width must be 32 or 64")
        limit = U32 if self.width == 32 else U64
        if not 0 <= self.value <= limit:
            raise ValueError(f"value {self.value:#x} does not fit in {self.width} bits")
        if self.op is Op.MASKED_EQ:
            if not 0 <= self.mask <= limit:
                raise ValueError(f"mask {self.mask:#x} does not fit in {self.width} bits")
        elif self.mask:
            raise ValueError("only masked_eq takes a mask")

    def low_word(self) -> ArgCond:
        """This condition as libseccomp builds it for an ABI of 32-bit data in 64-bit
        registers (x32, MIPS n32): on the low word, with the value and mask cut to it."""
        mask = self.mask & U32 if self.op is Op.MASKED_EQ else 0
        return ArgCond(self.index, self.op, self.value & U32, mask, 32)

    def effective_width(self, abi: Abi) -> int:
        """32-bit ABIs only ever show the filter the low word of a register (x32 and MIPS
        n32, whose registers are 64 bits wide, show it all)."""
        return 32 if abi.register_bits == 32 else self.width

    def matches(self, arg: int, abi: Abi) -> bool:
        """Evaluate on the raw 64-bit ``seccomp_data.args[index]`` value.

        Where only the low word counts, the condition's value and mask are cut to it too.
        """
        limit = U32 if self.effective_width(abi) == 32 else U64
        v, value, mask = arg & limit, self.value & limit, self.mask & limit
        if self.op is Op.MASKED_EQ:
            return (v & mask) == value
        return {
            Op.EQ: v == value,
            Op.NE: v != value,
            Op.LT: v < value,
            Op.LE: v <= value,
            Op.GT: v > value,
            Op.GE: v >= value,
        }[self.op]

    def __str__(self) -> str:
        arg = f"arg{self.index}" if self.width == 64 else f"arg{self.index}.lo32"
        if self.op is Op.MASKED_EQ:
            return f"({arg} & {self.mask:#x}) == {self.value:#x}"
        sym = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
        return f"{arg} {sym[self.op.value]} {self.value:#x}"


@dataclass(frozen=True)
class Origin:
    """Where a decision came from: file, line, column and the reason the policy gave."""

    path: str
    line: int
    column: int
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Rule:
    """All ``conditions`` hold → ``action``."""

    conditions: tuple[ArgCond, ...]
    action: Action
    origin: Origin | None = None

    def matches(self, args: Sequence[int], abi: Abi) -> bool:
        return all(c.matches(args[c.index], abi) for c in self.conditions)


def number_label(abi: Abi, nr: int) -> str:
    """The name of a syscall the table has no name for, from a policy's ``nr:``: ``#480``.

    x32 numbers are shown without the x32 bit, as the table lists them.
    """
    return f"#{nr & ~X32_SYSCALL_BIT if abi.is_x32 else nr}"


@dataclass(frozen=True)
class SyscallProgram:
    """The decision for one syscall number: the first matching rule, else ``fallback``."""

    name: str
    nr: int  # the number the kernel sees (x32 numbers include the x32 bit)
    rules: tuple[Rule, ...]
    fallback: Action
    fallback_origin: Origin | None = None

    def __post_init__(self) -> None:
        if any(not r.conditions for r in self.rules):
            raise ValueError(f"{self.name}: an unconditional rule must be the fallback")

    @property
    def numbered(self) -> bool:
        """Named by number in the policy (``nr:``): no name the runtimes could look up."""
        return self.name.startswith("#")

    def decide(self, args: Sequence[int], abi: Abi) -> Action:
        for rule in self.rules:
            if rule.matches(args, abi):
                return rule.action
        return self.fallback

    @property
    def actions(self) -> frozenset[Action]:
        return frozenset([self.fallback, *(r.action for r in self.rules)])


@dataclass(frozen=True)
class AbiProgram:
    """Every decision for one ABI; numbers without an entry get ``unknown``."""

    abi: Abi
    syscalls: Mapping[int, SyscallProgram]
    default: Action  # what known syscalls the policy does not name get
    unknown: Action  # numbers the table does not know (newer kernels, holes)
    max_nr: int  # highest number the table knows for this ABI, as the kernel sees it

    def __post_init__(self) -> None:
        for nr, sp in self.syscalls.items():
            if nr != sp.nr:
                raise ValueError(f"syscall {sp.name} filed under {nr}, not {sp.nr}")
            if not 0 <= nr <= U32 or (
                has_x32_numbers(self.abi.audit_arch)
                and self.abi.is_x32 != (bool(nr & X32_SYSCALL_BIT) and nr != U32)
            ):  # under x32's token, x32 numbers are its own (program_for reads them so)
                raise ValueError(f"syscall {sp.name}: number {nr:#x} does not fit {self.abi.name}")

    def decide(self, nr: int, args: Sequence[int]) -> Action:
        sp = self.syscalls.get(nr)
        return self.unknown if sp is None else sp.decide(args, self.abi)


@dataclass(frozen=True)
class Program:
    """A compiled policy: per-ABI programs and the answer for ABIs it does not cover."""

    name: str
    abis: tuple[AbiProgram, ...]
    bad_arch: Action = KILL_PROCESS
    sources: tuple[str, ...] = field(default=())
    notes: tuple[Note, ...] = field(default=())  # the policy's notes for its author

    def __post_init__(self) -> None:
        names = [p.abi.name for p in self.abis]
        if len(set(names)) != len(names):
            raise ValueError("an ABI appears twice")
        if not self.abis:
            raise ValueError("a program needs at least one ABI")

    def abi(self, name: str) -> AbiProgram | None:
        return next((p for p in self.abis if p.abi.name == name), None)

    def program_for(self, arch: int, nr: int) -> AbiProgram | None:
        """The ABI program the kernel would consult for (arch, nr), or None (bad ABI).

        Under a token shared with x32 (x86_64's), the x32 bit of the number picks the ABI.
        """
        candidates = [p for p in self.abis if p.abi.audit_arch == arch]
        if not candidates:
            return None
        if has_x32_numbers(arch):
            # -1 is what a tracer writes to skip a syscall; it is no x32 number
            want_x32 = bool(nr & X32_SYSCALL_BIT) and nr != U32
            return next((p for p in candidates if p.abi.is_x32 == want_x32), None)
        return candidates[0]

    def decide(self, arch: int, nr: int, args: Sequence[int] = (0,) * 6) -> Action:
        """What a correct filter returns for this ``seccomp_data``."""
        p = self.program_for(arch, nr & U32)
        return self.bad_arch if p is None else p.decide(nr & U32, args)

    def map_actions(self, m: Callable[[Action], Action]) -> Program:
        """The same decisions with every action passed through ``m`` (twins, audit filters)."""

        def sp_map(sp: SyscallProgram) -> SyscallProgram:
            rules = tuple(replace(r, action=m(r.action)) for r in sp.rules)
            return replace(sp, rules=rules, fallback=m(sp.fallback))

        abis = tuple(
            AbiProgram(
                p.abi,
                {nr: sp_map(sp) for nr, sp in p.syscalls.items()},
                m(p.default),
                m(p.unknown),
                p.max_nr,
            )
            for p in self.abis
        )
        return Program(self.name, abis, m(self.bad_arch), self.sources)

    def families(self) -> dict[str, tuple[AbiProgram, ...]]:
        """Group the ABI programs by kernel family, native ABI first."""
        out: dict[str, list[AbiProgram]] = {}
        for p in self.abis:
            out.setdefault(p.abi.family, []).append(p)
        for progs in out.values():
            progs.sort(key=lambda p: (p.abi.name != p.abi.family, p.abi.name))
        return {k: tuple(v) for k, v in out.items()}
