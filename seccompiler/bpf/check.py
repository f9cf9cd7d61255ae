"""The kernel's load-time checks on a seccomp filter, as values.

Two checkers run when a filter is loaded: ``bpf_check_classic`` (net/core/filter.c: known
opcodes, jumps inside the program, no division by a zero constant, shifts below 32, scratch
slots below 16 and written before read on every path, a return at the end) and then
``seccomp_check_filter`` (kernel/seccomp.c: a smaller set of opcodes, and 32-bit aligned
loads inside ``struct seccomp_data``). A program that passes both is what the kernel runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from seccompiler.base.errors import InputError, Location
from seccompiler.bpf import insn as isa
from seccompiler.bpf.insn import Endian, Insn, decode

# Opcodes bpf_check_classic knows (net/core/filter.c, codes[]).
CLASSIC_CODES: frozenset[int] = frozenset(
    [
        *(
            isa.ALU | op | src
            for op in (
                isa.ADD,
                isa.SUB,
                isa.MUL,
                isa.DIV,
                isa.MOD,
                isa.AND,
                isa.OR,
                isa.XOR,
                isa.LSH,
                isa.RSH,
            )
            for src in (isa.K, isa.X)
        ),
        isa.ALU | isa.NEG,
        *(isa.LD | sz | mode for sz in (isa.W, isa.H, isa.B) for mode in (isa.ABS, isa.IND)),
        isa.LD | isa.W | isa.LEN,
        isa.LD | isa.IMM,
        isa.LD | isa.MEM,
        isa.LDX | isa.W | isa.LEN,
        isa.LDX | isa.B | isa.MSH,
        isa.LDX | isa.IMM,
        isa.LDX | isa.MEM,
        isa.ST,
        isa.STX,
        isa.MISC | isa.TAX,
        isa.MISC | isa.TXA,
        isa.RET | isa.K,
        isa.RET | isa.A,
        isa.JMP | isa.JA,
        *(
            isa.JMP | op | src
            for op in (isa.JEQ, isa.JGT, isa.JGE, isa.JSET)
            for src in (isa.K, isa.X)
        ),
    ]
)

# The subset seccomp_check_filter lets through (kernel/seccomp.c).
SECCOMP_CODES: frozenset[int] = frozenset(
    [
        isa.LD | isa.W | isa.ABS,
        isa.LD | isa.W | isa.LEN,
        isa.LDX | isa.W | isa.LEN,
        isa.RET | isa.K,
        isa.RET | isa.A,
        *(
            isa.ALU | op | src
            for op in (
                isa.ADD,
                isa.SUB,
                isa.MUL,
                isa.DIV,
                isa.AND,
                isa.OR,
                isa.XOR,
                isa.LSH,
                isa.RSH,
            )
            for src in (isa.K, isa.X)
        ),
        isa.ALU | isa.NEG,
        isa.LD | isa.IMM,
        isa.LDX | isa.IMM,
        isa.MISC | isa.TAX,
        isa.MISC | isa.TXA,
        isa.LD | isa.MEM,
        isa.LDX | isa.MEM,
        isa.ST,
        isa.STX,
        isa.JMP | isa.JA,
        *(
            isa.JMP | op | src
            for op in (isa.JEQ, isa.JGE, isa.JGT, isa.JSET)
            for src in (isa.K, isa.X)
        ),
    ]
)

COND_JUMPS: frozenset[int] = frozenset(
    isa.JMP | op | src for op in (isa.JEQ, isa.JGT, isa.JGE, isa.JSET) for src in (isa.K, isa.X)
)


@dataclass(eq=False)
class BpfRejected(InputError):
    """The kernel would refuse to load this program; ``pc`` is the offending instruction."""

    pc: int = -1
    reason: str = ""  # one of: empty, too-long, bad-opcode, jump-range, div-zero, shift,
    # mem-slot, mem-uninit, no-ret, bad-load


def _reject(path: str, pc: int, reason: str, message: str, hint: str = "") -> BpfRejected:
    where = f"instruction {pc}: " if pc >= 0 else ""
    return BpfRejected(where + message, hint=hint, location=Location(path), pc=pc, reason=reason)


def check(insns: Sequence[Insn], path: str = "<bpf>") -> None:
    """Raise ``BpfRejected`` where the kernel's checkers would refuse ``insns``."""
    n = len(insns)
    if n == 0:
        raise _reject(path, -1, "empty", "the program is empty")
    if n > isa.BPF_MAXINSNS:
        raise _reject(
            path, -1, "too-long", f"{n} instructions; the kernel accepts {isa.BPF_MAXINSNS}"
        )
    for pc, ins in enumerate(insns):
        code, k = ins.code, ins.k
        if code not in CLASSIC_CODES:
            raise _reject(path, pc, "bad-opcode", f"unknown opcode {code:#06x}")
        if code in (isa.ALU | isa.DIV | isa.K, isa.ALU | isa.MOD | isa.K) and k == 0:
            raise _reject(path, pc, "div-zero", "division by the constant 0")
        if code in (isa.ALU | isa.LSH | isa.K, isa.ALU | isa.RSH | isa.K) and k >= 32:
            raise _reject(path, pc, "shift", f"shift by {k}, at most 31 is allowed")
        if code in (isa.LD | isa.MEM, isa.LDX | isa.MEM, isa.ST, isa.STX) and k >= isa.BPF_MEMWORDS:
            raise _reject(path, pc, "mem-slot", f"scratch slot M[{k}] does not exist (0-15)")
        if code == isa.JMP | isa.JA and k >= n - pc - 1:
            raise _reject(path, pc, "jump-range", f"jump of {k} leaves the program")
        if code in COND_JUMPS and (pc + ins.jt + 1 >= n or pc + ins.jf + 1 >= n):
            raise _reject(path, pc, "jump-range", "conditional jump leaves the program")
    _check_memory(insns, path)
    if insns[-1].code not in (isa.RET | isa.K, isa.RET | isa.A):
        raise _reject(path, n - 1, "no-ret", "the program does not end with a return")
    for pc, ins in enumerate(insns):
        if ins.code not in SECCOMP_CODES:
            raise _reject(
                path, pc, "bad-opcode", f"opcode {ins.code:#06x} is not allowed in seccomp filters"
            )
        if ins.code == isa.LD | isa.W | isa.ABS and (ins.k >= isa.SECCOMP_DATA_SIZE or ins.k & 3):
            raise _reject(
                path,
                pc,
                "bad-load",
                f"load at offset {ins.k} is outside struct seccomp_data or not 4-byte aligned",
            )


def _check_memory(insns: Sequence[Insn], path: str) -> None:
    """Every scratch slot is written before it is read, on every path (check_load_and_stores)."""
    n = len(insns)
    masks = [0xFFFF] * n
    valid = 0
    for pc, ins in enumerate(insns):
        valid &= masks[pc]
        code = ins.code
        if code in (isa.ST, isa.STX):
            valid |= 1 << ins.k
        elif code in (isa.LD | isa.MEM, isa.LDX | isa.MEM):
            if not valid & (1 << ins.k):
                raise _reject(path, pc, "mem-uninit", f"M[{ins.k}] is read before it is written")
        elif code == isa.JMP | isa.JA:
            masks[pc + 1 + ins.k] &= valid
            valid = 0xFFFF
        elif code in COND_JUMPS:
            masks[pc + 1 + ins.jt] &= valid
            masks[pc + 1 + ins.jf] &= valid
            valid = 0xFFFF


def loadable(data: bytes) -> bool:
    """Whether ``data`` is a whole seccomp filter the kernel would load, in either byte order.

    Raw BPF has no room for a stamp; this is how ``bpf asm -o`` tells a filter (an earlier
    output) from any other file, which it refuses to replace.
    """
    orders: tuple[Endian, ...] = ("little", "big")
    for endian in orders:
        try:
            check(decode(data, endian))
        except InputError:
            continue
        return True
    return False
