"""BPF backend: a resolved ``Program`` → one classic-BPF seccomp filter per kernel family.

Layout (all jumps forward):
  ld [arch]; one jeq per ABI of the family → that ABI's code; else ret bad_arch.
  Per ABI: ld [nr]; on the x86_64 token, numbers with the x32 bit go to the x32 code when the
  program has x32, else get bad_arch (the kernel would run them as x32 syscalls).
  Then a balanced binary tree of ``jge`` over number ranges that share one answer, so a lookup
  costs about log2(ranges) comparisons, and only nr/arch loads, jge and ret appear on paths
  without argument checks — the shape the kernel's action cache can prove constant.
  Argument checks compare 32-bit halves, low and high word at offsets that depend on the
  ABI's byte order; 32-bit ABIs (and width-32 conditions) compare the low word only.

Syscall numbers come from our tables, never from libseccomp, so every syscall the table
knows works on every ABI, whatever the system libseccomp knows.
"""

from __future__ import annotations

from dataclasses import dataclass

from seccompiler.arch import abi as abimod
from seccompiler.backends.layout import Builder, Goto, Jump, Label, assemble
from seccompiler.base.errors import UsageError
from seccompiler.bpf import insn as b
from seccompiler.program import (
    AbiProgram,
    Action,
    ArgCond,
    Op,
    Program,
    SyscallProgram,
)


@dataclass(frozen=True)
class _Range:
    lo: int  # first number
    hi: int  # last number (inclusive)
    action: Action | None  # simple answer, or None when ``syscall`` needs argument checks
    syscall: SyscallProgram | None = None


def _ranges(p: AbiProgram) -> list[_Range]:
    """Cover 0..2^32-1 with ranges of one answer each (within the ABI's number space)."""
    base = abimod.X32_SYSCALL_BIT if p.abi.is_x32 else 0
    top = base + (abimod.X32_SYSCALL_BIT - 1 if p.abi.is_x32 else 0xFFFFFFFF)
    out: list[_Range] = []

    def add(lo: int, hi: int, action: Action | None, sp: SyscallProgram | None = None) -> None:
        if out and action is not None and out[-1].action == action and out[-1].hi + 1 == lo:
            out[-1] = _Range(out[-1].lo, hi, action)
        else:
            out.append(_Range(lo, hi, action, sp))

    cursor = base
    for nr in sorted(p.syscalls):
        sp = p.syscalls[nr]
        if nr > cursor:
            add(cursor, nr - 1, p.unknown)
        if sp.rules:
            add(nr, nr, None, sp)
        else:
            add(nr, nr, sp.fallback)
        cursor = nr + 1
    if cursor <= top:
        add(cursor, top, p.unknown)
    return out


class _Gen:
    def __init__(self, program: Program) -> None:
        self.program = program
        self.bld = Builder()

    def ret(self, action: Action) -> None:
        self.bld.emit(b.stmt(b.RET | b.K, action.ret))

    def ld(self, off: int) -> None:
        self.bld.emit(b.stmt(b.LD | b.W | b.ABS, off))

    def family(self, progs: tuple[AbiProgram, ...]) -> list[b.Insn]:
        bld = self.bld
        self.ld(b.OFF_ARCH)
        tokens: dict[int, list[AbiProgram]] = {}
        for p in progs:
            tokens.setdefault(p.abi.audit_arch, []).append(p)
        entries: list[tuple[Label, list[AbiProgram]]] = []
        for token, group in tokens.items():
            lbl = bld.label()
            entries.append((lbl, group))
            bld.emit(Jump(b.JEQ, token, lbl, None))
        self.ret(self.program.bad_arch)
        for lbl, group in entries:
            bld.place(lbl)
            self.ld(b.OFF_NR)
            self.token(group)
        return assemble(bld.items)

    def token(self, group: list[AbiProgram]) -> None:
        """Code for every ABI sharing one audit arch token (x86_64 and x32 share one)."""
        native = next((p for p in group if not p.abi.is_x32), None)
        x32 = next((p for p in group if p.abi.is_x32), None)
        if native is None and x32 is None:
            return
        if abimod.has_x32_numbers(group[0].abi.audit_arch):
            x32_lbl = self.bld.label()
            native_lbl = self.bld.label()
            # -1 (a tracer skipping the syscall) is a native number despite its bit 30
            self.bld.emit(Jump(b.JEQ, 0xFFFFFFFF, native_lbl, None))
            self.bld.emit(Jump(b.JSET, abimod.X32_SYSCALL_BIT, x32_lbl, None))
            self.bld.place(native_lbl)
            if native is not None:
                self.tree(native, _ranges(native))
            else:
                self.ret(self.program.bad_arch)
            self.bld.place(x32_lbl)
            if x32 is not None:
                self.tree(x32, _ranges(x32))
            else:
                self.ret(self.program.bad_arch)
        else:
            assert native is not None
            self.tree(native, _ranges(native))

    def tree(self, p: AbiProgram, ranges: list[_Range]) -> None:
        if len(ranges) == 1:
            self.leaf(p, ranges[0])
            return
        mid = len(ranges) // 2
        right = self.bld.label()
        self.bld.emit(Jump(b.JGE, ranges[mid].lo, right, None))
        self.tree(p, ranges[:mid])
        self.bld.place(right)
        self.tree(p, ranges[mid:])

    def leaf(self, p: AbiProgram, r: _Range) -> None:
        if r.action is not None:
            self.ret(r.action)
            return
        assert r.syscall is not None
        for rule in r.syscall.rules:
            next_rule = self.bld.label()
            for cond in rule.conditions:
                self.cond(p, cond, next_rule)
            self.ret(rule.action)
            self.bld.place(next_rule)
        self.ret(r.syscall.fallback)

    def _arg_offsets(self, p: AbiProgram, index: int) -> tuple[int, int]:
        base = b.OFF_ARGS + 8 * index
        return (base, base + 4) if p.abi.endian == "little" else (base + 4, base)

    def cond(self, p: AbiProgram, c: ArgCond, fail: Label) -> None:
        """Fall through when ``c`` holds, jump to ``fail`` when it does not."""
        lo_off, hi_off = self._arg_offsets(p, c.index)
        wide = c.effective_width(p.abi) == 64
        v_lo, v_hi = c.value & 0xFFFFFFFF, c.value >> 32
        m_lo, m_hi = c.mask & 0xFFFFFFFF, c.mask >> 32
        bld = self.bld
        ok = bld.label()
        if c.op is Op.MASKED_EQ:
            if wide and m_hi:
                self.ld(hi_off)
                bld.emit(b.stmt(b.ALU | b.AND | b.K, m_hi))
                bld.emit(Jump(b.JEQ, v_hi, None, fail))
            elif wide and v_hi:
                bld.emit(Goto(fail))  # value has bits the mask clears: never equal
            self.ld(lo_off)
            if m_lo != 0xFFFFFFFF:
                bld.emit(b.stmt(b.ALU | b.AND | b.K, m_lo))
            bld.emit(Jump(b.JEQ, v_lo, None, fail))
        elif c.op in (Op.EQ, Op.NE):
            hit, miss = (None, fail) if c.op is Op.EQ else (fail, ok)
            if wide:
                self.ld(hi_off)
                bld.emit(Jump(b.JEQ, v_hi, None, miss if c.op is Op.EQ else ok))
            self.ld(lo_off)
            bld.emit(Jump(b.JEQ, v_lo, hit, miss if c.op is Op.EQ else None))
        else:
            # ordered comparisons: A > v ⇔ hi > v_hi, or hi == v_hi and lo > v_lo
            strict = c.op in (Op.GT, Op.LE)
            holds_when_greater = c.op in (Op.GT, Op.GE)
            t, f = (ok, fail) if holds_when_greater else (fail, ok)
            if wide:
                self.ld(hi_off)
                bld.emit(Jump(b.JGT, v_hi, t, None))
                bld.emit(Jump(b.JEQ, v_hi, None, f))
            self.ld(lo_off)
            bld.emit(Jump(b.JGT if strict else b.JGE, v_lo, t, f))
        bld.place(ok)


def families(program: Program) -> list[str]:
    """The kernel families a program covers, in a stable order."""
    return list(program.families())


def compile_family(program: Program, family: str) -> bytes:
    """One filter for every ABI of ``family`` in the program, in the family's byte order."""
    progs = program.families().get(family)
    if not progs:
        raise UsageError(
            f"the program covers no ABI of family '{family}'",
            hint=f"families: {', '.join(families(program))}",
        )
    insns = _Gen(program).family(progs)
    if len(insns) > b.BPF_MAXINSNS:
        raise UsageError(
            f"the filter for {family} needs {len(insns)} instructions; the kernel accepts "
            f"{b.BPF_MAXINSNS}",
            hint="simplify argument conditions or split the policy",
        )
    return b.encode(insns, abimod.ABIS[family].endian)


def compile_abi(program: Program, abi: str) -> bytes:
    """A filter for one ABI alone (other ABIs of its family get the bad-arch action)."""
    p = program.abi(abi)
    if p is None:
        raise UsageError(f"the program does not cover ABI '{abi}'")
    single = Program(program.name, (p,), program.bad_arch, program.sources)
    return compile_family(single, p.abi.family)


def instructions(program: Program, family: str) -> list[b.Insn]:
    """The family filter as instructions (for tools that want them undecoded)."""
    progs = program.families()[family]
    return _Gen(program).family(progs)
