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

from seccompiler.bpf.check import check
from seccompiler.bpf.insn import (
    ABS,
    ADD,
    ALU,
    AND,
    DIV,
    IMM,
    JA,
    JEQ,
    JGE,
    JGT,
    JMP,
    JSET,
    LD,
    LDX,
    LEN,
    LSH,
    MEM,
    MISC,
    MUL,
    NEG,
    OR,
    RET,
    SECCOMP_DATA_SIZE,
    ST,
    STX,
    SUB,
    TAX,
    TXA,
    XOR,
    A,
    Endian,
    Insn,
    K,
    W,
    X,
    decode,
)
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


_LD_ABS = LD | W | ABS
_JEQ_K, _JGT_K, _JGE_K, _JSET_K = JMP | JEQ | K, JMP | JGT | K, JMP | JGE | K, JMP | JSET | K
_JEQ_X, _JGT_X, _JGE_X, _JSET_X = JMP | JEQ | X, JMP | JGT | X, JMP | JGE | X, JMP | JSET | X


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
            elif code == RET | K:
                return Result(k, steps)
            elif code == RET | A:
                return Result(a, steps)
            elif code == JMP | JA:
                pc += k
            elif code == _JEQ_X:
                pc += jt if a == x else jf
            elif code == _JGT_X:
                pc += jt if a > x else jf
            elif code == _JGE_X:
                pc += jt if a >= x else jf
            elif code == _JSET_X:
                pc += jt if a & x else jf
            elif code & 0x07 == ALU:
                op = code & 0xF0
                if op == NEG:
                    a = -a & U32
                    continue
                v = x if code & X else k
                if op == DIV and v == 0:
                    return Result(0, steps, div_by_zero=True)
                a = _alu(op, a, v)
            elif code == LD | IMM:
                a = k
            elif code == LDX | IMM:
                x = k
            elif code == LD | W | LEN:
                a = SECCOMP_DATA_SIZE
            elif code == LDX | W | LEN:
                x = SECCOMP_DATA_SIZE
            elif code == LD | MEM:
                a = mem[k]
            elif code == LDX | MEM:
                x = mem[k]
            elif code == ST:
                mem[k] = a
            elif code == STX:
                mem[k] = x
            elif code == MISC | TAX:
                x = a
            elif code == MISC | TXA:
                a = x
            else:  # pragma: no cover - the checker admits nothing else
                raise AssertionError(f"unchecked opcode {code:#x}")


def _alu(op: int, a: int, v: int) -> int:
    if op == ADD:
        return (a + v) & U32
    if op == SUB:
        return (a - v) & U32
    if op == MUL:
        return (a * v) & U32
    if op == DIV:
        return a // v
    if op == OR:
        return a | v
    if op == AND:
        return a & v
    if op == XOR:
        return a ^ v
    if op == LSH:
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
