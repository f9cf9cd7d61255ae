"""Render raw BPF as a listing people can read and ``bpf asm`` can read back byte for byte.

The listing is one line per instruction: ``<pc>  [label:]  <insn>  [; comment]``. Loads
from ``seccomp_data`` are named (``ld [nr]``, ``ld [args[1].hi]``, which half depends on the
byte order), return values are named (``ret ERRNO(EPERM)``), jump targets are labels, and a
comparison of the syscall number names the syscall on the ABI that path has checked for.
Anything without a canonical spelling (unknown opcode, stray bits) is written as
``.insn code, jt, jf, k`` so that every byte string round-trips.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from seccompiler.arch.abi import ABIS, X32_SYSCALL_BIT, Abi
from seccompiler.arch.tables import table
from seccompiler.bpf import insn as isa
from seccompiler.bpf.check import COND_JUMPS
from seccompiler.bpf.insn import Endian, Insn
from seccompiler.program import MAX_ERRNO, ActionKind, errno_name, number_label

ALU_NAMES: dict[int, str] = {
    isa.ADD: "add", isa.SUB: "sub", isa.MUL: "mul", isa.DIV: "div", isa.MOD: "mod",
    isa.AND: "and", isa.OR: "or", isa.XOR: "xor", isa.LSH: "lsh", isa.RSH: "rsh",
}  # fmt: skip
JMP_NAMES: dict[int, str] = {isa.JEQ: "jeq", isa.JGT: "jgt", isa.JGE: "jge", isa.JSET: "jset"}
SIZE_SUFFIX: dict[int, str] = {isa.W: "", isa.H: "h", isa.B: "b"}
RET_NAMES: dict[ActionKind, str] = {
    ActionKind.KILL_PROCESS: "KILL_PROCESS",
    ActionKind.KILL_THREAD: "KILL_THREAD",
    ActionKind.TRAP: "TRAP",
    ActionKind.ERRNO: "ERRNO",
    ActionKind.USER_NOTIF: "USER_NOTIF",
    ActionKind.TRACE: "TRACE",
    ActionKind.LOG: "LOG",
    ActionKind.ALLOW: "ALLOW",
}
# The first line of every listing: how a later `bpf disasm -o` knows the file is ours.
STAMP = re.compile(r"; \d+ instructions, (little|big)-endian(, abi \S+)?")
_WITH_DATA = (ActionKind.TRAP, ActionKind.ERRNO, ActionKind.TRACE)


def field_names(endian: Endian) -> dict[int, str]:
    """Names of the 32-bit words of ``struct seccomp_data``, by offset, for a byte order."""
    lo, hi = (0, 4) if endian == "little" else (4, 0)
    names = {0: "nr", 4: "arch", 8 + lo: "ip.lo", 8 + hi: "ip.hi"}
    for i in range(6):
        names[16 + 8 * i + lo] = f"args[{i}].lo"
        names[16 + 8 * i + hi] = f"args[{i}].hi"
    return names


def ret_name(k: int) -> str:
    """Name a return value: ``ALLOW``, ``ERRNO(EPERM)``, ``TRACE(7)``, or ``#0x…``."""
    full, data = k & 0xFFFF0000, k & 0xFFFF
    for kind, name in RET_NAMES.items():
        if kind.value != full:
            continue
        if kind is ActionKind.ERRNO:
            shown = errno_name(data) if 0 < data <= MAX_ERRNO else str(data)
            return f"ERRNO({shown})"
        if kind in _WITH_DATA:
            return f"{name}({data})" if data else name
        if not data:
            return name
    return f"#{k:#x}"


def _const(k: int) -> str:
    return f"#{k}" if k < 4096 else f"#{k:#x}"


def render_insn(
    ins: Insn, endian: Endian, target: dict[int, str] | None = None, pc: int = 0
) -> str:
    """One instruction as text; ``target`` maps absolute jump targets to labels."""
    code, jt, jf, k = ins.code, ins.jt, ins.jf, ins.k
    labels = target or {}

    def dest(off: int) -> str:
        return labels.get(pc + 1 + off, f"+{off}")

    raw = f".insn {code:#06x}, {jt}, {jf}, {k:#x}"
    cls = code & 0x07
    if code > 0xFF or (cls != isa.JMP and (jt or jf)):
        return raw
    if cls == isa.LD:
        size, mode = code & 0x18, code & 0xE0
        suffix = SIZE_SUFFIX.get(size)
        if suffix is None:
            return raw
        if mode == isa.ABS:
            name = field_names(endian).get(k) if size == isa.W else None
            return f"ld{suffix} [{name or k}]"
        if mode == isa.IND:
            return f"ld{suffix} [x+{k}]"
        if size == isa.W and mode == isa.IMM:
            return f"ld {_const(k)}"
        if size == isa.W and mode == isa.MEM:
            return f"ld M[{k}]"
        if size == isa.W and mode == isa.LEN and k == 0:
            return "ld #len"
        return raw
    if cls == isa.LDX:
        if code == isa.LDX | isa.IMM:
            return f"ldx {_const(k)}"
        if code == isa.LDX | isa.MEM:
            return f"ldx M[{k}]"
        if code == isa.LDX | isa.W | isa.LEN and k == 0:
            return "ldx #len"
        if code == isa.LDX | isa.B | isa.MSH:
            return f"ldxb 4*([{k}]&0xf)"
        return raw
    if cls in (isa.ST, isa.STX):
        return f"{'st' if cls == isa.ST else 'stx'} M[{k}]" if code == cls else raw
    if cls == isa.ALU:
        op = code & 0xF0
        if code == isa.ALU | isa.NEG:
            return "neg" if k == 0 else raw
        if op in ALU_NAMES and code & ~0xF8 == isa.ALU:
            if code & isa.X:
                return f"{ALU_NAMES[op]} x" if k == 0 else raw
            return f"{ALU_NAMES[op]} {_const(k)}"
        return raw
    if cls == isa.JMP:
        if code == isa.JMP | isa.JA:
            return f"ja {dest(k)}" if not (jt or jf) else raw
        if code in COND_JUMPS:
            name = JMP_NAMES[code & 0xF0]
            if code & isa.X:
                return f"{name} x, {dest(jt)}, {dest(jf)}" if k == 0 else raw
            return f"{name} {_const(k)}, {dest(jt)}, {dest(jf)}"
        return raw
    if cls == isa.RET:
        if code == isa.RET | isa.K:
            return f"ret {ret_name(k)}"
        if code == isa.RET | isa.A and k == 0:
            return "ret a"
        return raw
    if code == isa.MISC | isa.TAX and k == 0:
        return "tax"
    if code == isa.MISC | isa.TXA and k == 0:
        return "txa"
    return raw


@dataclass(frozen=True)
class _State:
    """What the accumulator holds on entry to an instruction, and the arch checked so far."""

    a: str | None  # "nr", "arch", or None
    arch: int | None


def _merge(old: _State | None, new: _State) -> _State:
    if old is None:
        return new
    return _State(old.a if old.a == new.a else None, old.arch if old.arch == new.arch else None)


def _abi_for(arch: int | None, nr: int, default: Abi | None) -> Abi | None:
    if arch is None:
        return default
    x32 = bool(nr & X32_SYSCALL_BIT)
    return next((a for a in ABIS.values() if a.audit_arch == arch and a.is_x32 == x32), default)


def _comments(insns: Sequence[Insn], endian: Endian, abi: Abi | None) -> list[str]:
    """Comment per instruction, from a forward pass that tracks nr/arch loads and arch checks."""
    n = len(insns)
    states: list[_State | None] = [None] * n
    states[0] = _State(None, None)
    out = [""] * n
    for pc, ins in enumerate(insns):
        st = states[pc] or _State(None, None)
        code, k = ins.code, ins.k
        succ: list[tuple[int, _State]] = []
        if code == isa.LD | isa.W | isa.ABS:
            a = field_names(endian).get(k)
            nxt = _State(a if a in ("nr", "arch") else None, st.arch)
            succ.append((pc + 1, nxt))
        elif code in COND_JUMPS:
            t, f = st, st
            if code == isa.JMP | isa.JEQ | isa.K and st.a == "arch":
                t = _State(st.a, k)
                out[pc] = _arch_comment(k)
            elif code == isa.JMP | isa.JGE | isa.K and st.a == "nr" and k == X32_SYSCALL_BIT:
                out[pc] = "x32 syscall bit"
            elif (
                code
                in (isa.JMP | isa.JEQ | isa.K, isa.JMP | isa.JGE | isa.K, isa.JMP | isa.JGT | isa.K)
                and st.a == "nr"
            ):
                target = _abi_for(st.arch, k, abi)
                name = table(target).name_of(k) if target else None
                if target and not name and code & 0xF0 == isa.JEQ and k <= target.nr_range[1]:
                    name = number_label(target, k)  # a number singled out, without a name
                if name and target:
                    rel = {isa.JEQ: "", isa.JGE: ">= ", isa.JGT: "> "}[code & 0xF0]
                    out[pc] = f"{target.name}: {rel}{name}"
            elif code == isa.JMP | isa.JSET | isa.K and st.a == "nr" and k == X32_SYSCALL_BIT:
                out[pc] = "x32 syscall bit"
            elif code == isa.JMP | isa.JSET | isa.K and st.a == "nr":
                # a split by low bits of the number: taken when any of them is set
                target = _abi_for(st.arch, 0, abi)
                out[pc] = f"{target.name + ': ' if target else ''}nr & {k:#x}"
            elif code & isa.X == 0 and st.a == "arch":
                out[pc] = _arch_comment(k)
            succ += [(pc + 1 + ins.jt, t), (pc + 1 + ins.jf, f)]
        elif code == isa.JMP | isa.JA:
            succ.append((pc + 1 + k, st))
        elif code & 0x07 == isa.RET:
            pass
        elif code & 0x07 in (isa.ST, isa.STX, isa.JMP) or code in (
            isa.MISC | isa.TAX,
            isa.LDX | isa.IMM,
            isa.LDX | isa.MEM,
            isa.LDX | isa.W | isa.LEN,
        ):
            succ.append((pc + 1, st))
        else:
            succ.append((pc + 1, _State(None, st.arch)))
        for dst, s in succ:
            if pc < dst < n:
                states[dst] = _merge(states[dst], s)
    return out


def _arch_comment(k: int) -> str:
    names = [a.name for a in ABIS.values() if a.audit_arch == k and not a.is_x32]
    return "/".join(names) if names else ""


def disassemble(
    insns: Sequence[Insn], endian: Endian = "little", abi: Abi | None = None, comments: bool = True
) -> str:
    """The listing of a program; ``abi`` names syscalls where the program never checks arch."""
    n = len(insns)
    targets: set[int] = set()
    for pc, ins in enumerate(insns):
        if ins.code == isa.JMP | isa.JA and not (ins.jt or ins.jf):
            targets.add(pc + 1 + ins.k)
        elif ins.code in COND_JUMPS:
            targets.update((pc + 1 + ins.jt, pc + 1 + ins.jf))
    width = len(str(max(n - 1, 0)))
    labels = {t: f"L{t:0{width}d}" for t in sorted(targets) if t < n}
    notes = _comments(insns, endian, abi) if comments and n else [""] * n
    lines = [
        f"; {n} instructions, {endian}-endian" + (f", abi {abi.name}" if abi else ""),
        f".endian {endian}",
    ]
    lwidth = width + 2
    for pc, ins in enumerate(insns):
        label = f"{labels[pc]}:" if pc in labels else ""
        text = render_insn(ins, endian, labels, pc)
        line = f"{pc:>{width}}  {label:<{lwidth}} {text}"
        if notes[pc]:
            line = f"{line:<48} ; {notes[pc]}"
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"
