"""Tell a raw filter's byte order and the ABIs it serves from its bytes and its arch checks.

A program is an array of ``struct sock_filter`` in the byte order of the machine that loads
it, and nothing in the file says which. The bytes mostly tell: a program the kernel accepts
ends with a return, code 0x06 or 0x16, which read in the other byte order is 0x0600 or
0x1600, no opcode at all (bpf_check_classic), so at most one byte order passes the kernel's
checks. The arch checks then name the ABIs: the audit arch tokens the program compares
``seccomp_data.arch`` against, of ABIs of that byte order (a big-endian kernel never sees a
little-endian token).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from seccompiler.arch.abi import ABIS, Abi
from seccompiler.base.errors import InputError, Location
from seccompiler.bpf import insn as isa
from seccompiler.bpf.check import BpfRejected, check
from seccompiler.bpf.emulate import Filter
from seccompiler.bpf.insn import Endian, Insn, decode

ORDERS: tuple[Endian, Endian] = ("little", "big")


@dataclass(frozen=True)
class Reading:
    """The program read in one byte order: its instructions, what the kernel's checks say,
    and the ABIs whose arch token it compares against."""

    endian: Endian
    insns: tuple[Insn, ...]
    rejected: BpfRejected | None
    abis: tuple[Abi, ...]


def arch_abis(insns: Sequence[Insn], endian: Endian) -> tuple[Abi, ...]:
    """ABIs of byte order ``endian`` whose arch token the program compares against: the
    constants of ``jeq`` where the accumulator holds ``seccomp_data.arch`` on every path
    that reaches it (a ``jeq #8`` on an argument is no check of MIPS's token)."""
    tokens = set()
    for i, arch in zip(insns, _arch_in_a(insns), strict=True):
        if arch and i.code == isa.JMP | isa.JEQ | isa.K:
            tokens.add(i.k)
    return tuple(a for a in ABIS.values() if a.endian == endian and a.audit_arch in tokens)


def _arch_in_a(insns: Sequence[Insn]) -> list[bool]:
    """For each instruction, whether the accumulator holds the arch on every path to it
    (classic BPF jumps only forward, so one pass in order sees every path)."""
    state: list[bool | None] = [None] * len(insns)  # None: not reached (yet)
    if insns:
        state[0] = False
    for n, i in enumerate(insns):
        here = state[n]
        if here is None:
            continue
        cls = i.code & 0x07
        if cls == isa.LD:
            out = i.code == isa.LD | isa.W | isa.ABS and i.k == isa.OFF_ARCH
        elif cls == isa.ALU or (cls == isa.MISC and i.code & 0xF8 == isa.TXA):
            out = False
        else:
            out = here
        if cls == isa.RET:
            continue
        if cls == isa.JMP:
            op = i.code & 0xF0
            targets = [n + 1 + i.k] if op == isa.JA else [n + 1 + i.jt, n + 1 + i.jf]
        else:
            targets = [n + 1]
        for t in targets:
            if 0 <= t < len(insns):
                state[t] = out if state[t] is None else (state[t] and out)
    return [s is True for s in state]


def read_as(data: bytes, endian: Endian, path: str = "<bpf>") -> Reading:
    """``data`` read in one byte order (a length that is no program is an ``InputError``)."""
    insns = decode(data, endian, path)
    try:
        check(insns, path)
        rejected = None
    except BpfRejected as e:
        rejected = e
    return Reading(endian, insns, rejected, arch_abis(insns, endian))


def identify(data: bytes, path: str = "<bpf>") -> Reading | None:
    """The reading the bytes tell, or None when they do not.

    The byte order the kernel accepts the program in, else (a program it refuses either
    way) the one order whose arch checks name an ABI.
    """
    both = [read_as(data, e, path) for e in ORDERS]
    accepted = [r for r in both if r.rejected is None]
    named = [r for r in both if r.abis]
    for found in (accepted, named):
        if len(found) == 1:
            return found[0]
    return None


def load_filter(
    data: bytes, path: str = "<bpf>", endian: Endian | None = None
) -> tuple[Filter, tuple[Abi, ...]]:
    """A checked ``Filter`` in ``endian`` or the byte order its bytes tell, and the ABIs its
    arch checks name (none when it checks no arch it serves)."""
    if endian is not None:
        r = read_as(data, endian, path)
        if r.rejected is not None:
            raise _with_other_order(r.rejected, data, endian, path)
        return Filter(r.insns, endian, path), r.abis
    found = identify(data, path)
    if found is None:
        little, big = (read_as(data, e, path) for e in ORDERS)
        raise InputError(
            "the kernel would refuse this program in either byte order: "
            f"little-endian, {little.rejected}; big-endian, {big.rejected}",
            hint="give --abi (or --endian) to read it in one byte order",
            location=Location(path),
        )
    if found.rejected is not None:
        raise found.rejected
    return Filter(found.insns, found.endian, path), found.abis


def _with_other_order(rejected: BpfRejected, data: bytes, endian: Endian, path: str) -> BpfRejected:
    """The refusal, with a hint when the program is one the kernel accepts the other way."""
    other: Endian = "big" if endian == "little" else "little"
    r = read_as(data, other, path)
    if r.rejected is not None or rejected.hint:
        return rejected
    named = f" for {', '.join(a.name for a in r.abis)}" if r.abis else ""
    return replace(
        rejected,
        hint=f"read {other}-endian it is a valid filter{named}: check --abi or --endian",
    )
