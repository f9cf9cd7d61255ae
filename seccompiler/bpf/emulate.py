"""Run a seccomp filter exactly as the kernel does, on a ``struct seccomp_data`` we choose.

Semantics of the classic BPF the kernel converts and runs (net/core/filter.c
bpf_convert_filter, kernel/bpf/core.c): A and X are 32-bit and start at 0; loads from
``seccomp_data`` read a 32-bit word in the machine's byte order; ``len`` is 64; shifts by X use
its low 5 bits; dividing by an X of 0 ends the program with the value 0 (kill-thread).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from seccompiler.bpf import insn as isa
from seccompiler.bpf.check import check
from seccompiler.bpf.insn import Endian, Insn, decode
from seccompiler.program import Action

U32 = 0xFFFFFFFF
U64 = (1 << 64) - 1


@dataclass(frozen=True)
class SeccompData:
    """The input a filter sees (linux/seccomp.h): nr, arch, instruction pointer, six args."""

    nr: int
    arch: int
    ip: int = 0
    args: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0)

    def pack(self, endian: Endian) -> bytes:
        fmt = ("<" if endian == "little" else ">") + "IIQ6Q"
        return struct.pack(
            fmt, self.nr & U32, self.arch & U32, self.ip & U64, *(a & U64 for a in self.args)
        )

    def words(self, endian: Endian) -> tuple[int, ...]:
        """The sixteen 32-bit words a ``ld [k]`` can read, indexed by k / 4."""
        fmt = ("<" if endian == "little" else ">") + "16I"
        return struct.unpack(fmt, self.pack(endian))


def make_args(values: Sequence[int]) -> tuple[int, int, int, int, int, int]:
    """Six 64-bit argument values, missing ones zero."""
    v = [x & U64 for x in values[:6]] + [0] * (6 - min(len(values), 6))
    return (v[0], v[1], v[2], v[3], v[4], v[5])


@dataclass(frozen=True)
class Result:
    """What the filter returned and how many instructions it executed to get there."""

    ret: int
    steps: int
    div_by_zero: bool = False

    @property
    def action(self) -> Action:
        return Action.from_ret(self.ret)


_RET_K = isa.RET | isa.K
_RET_A = isa.RET | isa.A
_JA = isa.JMP | isa.JA
_LD_ABS = isa.LD | isa.W | isa.ABS
_JEQ_K, _JGT_K, _JGE_K, _JSET_K = (
    isa.JMP | isa.JEQ | isa.K,
    isa.JMP | isa.JGT | isa.K,
    isa.JMP | isa.JGE | isa.K,
    isa.JMP | isa.JSET | isa.K,
)
_JEQ_X, _JGT_X, _JGE_X, _JSET_X = (
    isa.JMP | isa.JEQ | isa.X,
    isa.JMP | isa.JGT | isa.X,
    isa.JMP | isa.JGE | isa.X,
    isa.JMP | isa.JSET | isa.X,
)


class Filter:
    """A checked program, ready to run many times."""

    def __init__(self, insns: Sequence[Insn], endian: Endian = "little", path: str = "<bpf>"):
        check(insns, path)
        self.insns: tuple[Insn, ...] = tuple(insns)
        self.endian: Endian = endian
        self._code = tuple((i.code, i.jt, i.jf, i.k) for i in insns)

    @classmethod
    def from_bytes(cls, data: bytes, endian: Endian = "little", path: str = "<bpf>") -> Filter:
        return cls(decode(data, endian, path), endian, path)

    def run(self, data: SeccompData) -> Result:
        """Execute once; the checker guarantees that this ends within len(program) steps."""
        words = data.words(self.endian)
        prog = self._code
        a = x = 0
        mem = [0] * 16
        pc = 0
        steps = 0
        while True:
            code, jt, jf, k = prog[pc]
            steps += 1
            pc += 1
            if code == _LD_ABS:
                a = words[k >> 2]
            elif code == _JEQ_K:
                pc += jt if a == k else jf
            elif code == _JGT_K:
                pc += jt if a > k else jf
            elif code == _JGE_K:
                pc += jt if a >= k else jf
            elif code == _JSET_K:
                pc += jt if a & k else jf
            elif code == _RET_K:
                return Result(k, steps)
            elif code == _RET_A:
                return Result(a, steps)
            elif code == _JA:
                pc += k
            elif code == _JEQ_X:
                pc += jt if a == x else jf
            elif code == _JGT_X:
                pc += jt if a > x else jf
            elif code == _JGE_X:
                pc += jt if a >= x else jf
            elif code == _JSET_X:
                pc += jt if a & x else jf
            elif code & 0x07 == isa.ALU:
                op = code & 0xF0
                if op == isa.NEG:
                    a = -a & U32
                    continue
                v = x if code & isa.X else k
                if op == isa.DIV and v == 0:
                    return Result(0, steps, div_by_zero=True)
                a = _alu(op, a, v)
            elif code == isa.LD | isa.IMM:
                a = k
            elif code == isa.LDX | isa.IMM:
                x = k
            elif code == isa.LD | isa.W | isa.LEN:
                a = isa.SECCOMP_DATA_SIZE
            elif code == isa.LDX | isa.W | isa.LEN:
                x = isa.SECCOMP_DATA_SIZE
            elif code == isa.LD | isa.MEM:
                a = mem[k]
            elif code == isa.LDX | isa.MEM:
                x = mem[k]
            elif code == isa.ST:
                mem[k] = a
            elif code == isa.STX:
                mem[k] = x
            elif code == isa.MISC | isa.TAX:
                x = a
            elif code == isa.MISC | isa.TXA:
                a = x
            else:  # pragma: no cover - the checker admits nothing else
                raise AssertionError(f"unchecked opcode {code:#x}")


def _alu(op: int, a: int, v: int) -> int:
    if op == isa.ADD:
        return (a + v) & U32
    if op == isa.SUB:
        return (a - v) & U32
    if op == isa.MUL:
        return (a * v) & U32
    if op == isa.DIV:
        return a // v
    if op == isa.OR:
        return a | v
    if op == isa.AND:
        return a & v
    if op == isa.XOR:
        return a ^ v
    if op == isa.LSH:
        return (a << (v & 31)) & U32
    return a >> (v & 31)  # RSH


def run(
    insns: Sequence[Insn] | bytes,
    data: SeccompData,
    endian: Endian = "little",
    path: str = "<bpf>",
) -> Result:
    """Check and run a program once."""
    f = (
        Filter.from_bytes(insns, endian, path)
        if isinstance(insns, bytes)
        else Filter(insns, endian, path)
    )
    return f.run(data)
