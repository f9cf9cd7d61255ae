"""Classic BPF instructions: the opcode table and the 8-byte ``struct sock_filter`` layout.

Opcode values are from linux/bpf_common.h and linux/filter.h. A seccomp program is an array
of ``{u16 code; u8 jt; u8 jf; u32 k}`` in the byte order of the machine that loads it; the
``seccomp_data`` it reads is laid out in linux/seccomp.h.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from seccompiler.base.errors import InputError, Location

# instruction classes
LD, LDX, ST, STX, ALU, JMP, RET, MISC = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
# ld/ldx sizes and modes
W, H, B = 0x00, 0x08, 0x10
IMM, ABS, IND, MEM, LEN, MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
# alu/jmp operations and sources
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR = (
    0x00,
    0x10,
    0x20,
    0x30,
    0x40,
    0x50,
    0x60,
    0x70,
    0x80,
    0x90,
    0xA0,
)
JA, JEQ, JGT, JGE, JSET = 0x00, 0x10, 0x20, 0x30, 0x40
K, X = 0x00, 0x08
# ret sources (BPF_RVAL): K, X or A
A = 0x10
# misc
TAX, TXA = 0x00, 0x80

BPF_MAXINSNS = 4096  # linux/bpf_common.h
BPF_MEMWORDS = 16  # scratch memory slots

# seccomp_data offsets (linux/seccomp.h): int nr; u32 arch; u64 ip; u64 args[6]
SECCOMP_DATA_SIZE = 64
OFF_NR = 0
OFF_ARCH = 4
OFF_IP = 8
OFF_ARGS = 16

Endian = Literal["little", "big"]
_FMT = {"little": "<HBBI", "big": ">HBBI"}


@dataclass(frozen=True)
class Insn:
    """One ``struct sock_filter``."""

    code: int
    jt: int = 0
    jf: int = 0
    k: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.code <= 0xFFFF and 0 <= self.jt <= 0xFF and 0 <= self.jf <= 0xFF):
            raise ValueError("instruction field out of range")
        if not 0 <= self.k <= 0xFFFFFFFF:
            raise ValueError("instruction constant out of range")

    @property
    def cls(self) -> int:
        return self.code & 0x07


def stmt(code: int, k: int = 0) -> Insn:
    return Insn(code, 0, 0, k & 0xFFFFFFFF)


def jump(code: int, k: int, jt: int, jf: int) -> Insn:
    return Insn(code, jt, jf, k & 0xFFFFFFFF)


def encode(insns: list[Insn] | tuple[Insn, ...], endian: Endian = "little") -> bytes:
    """Serialise instructions as the kernel reads them on a machine of ``endian``."""
    fmt = _FMT[endian]
    return b"".join(struct.pack(fmt, i.code, i.jt, i.jf, i.k) for i in insns)


def decode(data: bytes, endian: Endian = "little", path: str = "<bpf>") -> tuple[Insn, ...]:
    """Parse raw BPF bytes; the length must be a whole number of 8-byte instructions."""
    if len(data) % 8:
        raise InputError(
            f"BPF program is {len(data)} bytes, not a multiple of 8",
            hint="a raw seccomp filter is an array of 8-byte struct sock_filter entries",
            location=Location(path),
        )
    if not data:
        raise InputError("BPF program is empty", location=Location(path))
    if len(data) // 8 > BPF_MAXINSNS:
        raise InputError(
            f"BPF program has {len(data) // 8} instructions; the kernel accepts at most "
            f"{BPF_MAXINSNS}",
            location=Location(path),
        )
    fmt = _FMT[endian]
    return tuple(Insn(*struct.unpack_from(fmt, data, off)) for off in range(0, len(data), 8))
