"""BPF backend: a resolved ``Program`` → one classic-BPF seccomp filter per kernel family.

Layout (all jumps forward):
  ld [arch]; one jeq per arch token of the family → that token's code; else ret bad_arch.
  Per token: ld [nr], then one search tree over all 2^32 numbers. Under x86_64's token the
  tree's ranges already say which numbers are x32 (bit 30 set, -1 excepted): they reach the
  x32 code when the program has x32 and bad_arch otherwise, as the kernel would run them as
  x32 syscalls. The tree is planned for the syscalls a workload makes (``tree.plan``, weighted
  by the table and by a syscall mix), ``jge`` between ranges of one answer, ``jeq`` for
  single numbers inside a stretch of one answer, and ``jset`` on a low bit of the number where
  answers alternate. Only nr/arch loads, jge, jeq, jset and ret appear on paths without
  argument checks — the shape the kernel's action cache can prove constant.
  Argument checks compare 32-bit halves, low and high word at offsets that depend on the
  ABI's byte order; 32-bit ABIs (and width-32 conditions) compare the low word only; a word
  the accumulator already holds is not loaded again.

Syscall numbers come from our tables, never from libseccomp, so every syscall the table
knows works on every ABI, whatever the system libseccomp knows.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from seccompiler.arch import abi as abimod
from seccompiler.arch.tables import table
from seccompiler.backends import tree as treemod
from seccompiler.backends.layout import Builder, Goto, Jump, Label, assemble
from seccompiler.base.errors import InputError, UsageError
from seccompiler.bpf import insn as b
from seccompiler.bpf.stats import default_mix
from seccompiler.program import (
    U32,
    AbiProgram,
    Action,
    ArgCond,
    Op,
    Program,
    SyscallProgram,
)

# Weight of the table's syscalls, each alike, against the syscall mix's calls in planning the
# tree: the first keeps the mean over all syscalls short, the second what a workload pays.
TABLE_SHARE = 0.8
MAX_PATH = 16  # instructions any syscall of the table may cost, arguments zero
# Weight of a range the table has no syscall in (holes, numbers past the table, x32 numbers
# on x86_64) relative to one syscall: small, so they sit deep, but not zero, so they stay
# within a balanced depth.
EMPTY_WEIGHT = 0.1


@dataclass(frozen=True)
class _Range:
    lo: int  # first number
    hi: int  # last number (inclusive)
    action: Action | None  # simple answer, or None when ``syscall`` needs argument checks
    abi: AbiProgram | None = None  # the ABI whose argument checks ``syscall`` needs
    syscall: SyscallProgram | None = None


@cache
def _mix() -> Mapping[str, int]:
    return default_mix() or {}


@cache
def _weights(abi: str) -> tuple[list[int], list[float], dict[int, list[float]]]:
    """The ABI's table numbers, sorted, the running sum of their planning weights, and the
    running sums over the numbers with each low bit clear (for ``jset`` splits)."""
    t = table(abimod.ABIS[abi])
    nrs = sorted(t.by_nr)
    mix = _mix()
    calls = [mix.get(t.by_nr[nr], 0) for nr in nrs]
    share = (1.0 - TABLE_SHARE) * len(nrs) / sum(calls) if any(calls) else 0.0
    acc = [0.0]
    by_bit: dict[int, list[float]] = {}
    for m in treemod.BITS:
        by_bit[m] = [0.0]
    for nr, c in zip(nrs, calls, strict=True):
        w = TABLE_SHARE + share * c
        acc.append(acc[-1] + w)
        for m, run in by_bit.items():
            run.append(run[-1] + (0.0 if nr & m else w))
    return nrs, acc, by_bit


def _segments(group: list[AbiProgram]) -> list[tuple[int, int, AbiProgram | None]]:
    """Number intervals of one arch token and the ABI the kernel runs them as (None: none)."""
    native = next((p for p in group if not p.abi.is_x32), None)
    if not abimod.has_x32_numbers(group[0].abi.audit_arch):
        return [(0, U32, native)]
    x32 = next((p for p in group if p.abi.is_x32), None)
    bit = abimod.X32_SYSCALL_BIT
    # bit 30 picks x32, except -1: a tracer's "skip this syscall", a native number
    return [
        (0, bit - 1, native),
        (bit, 2 * bit - 1, x32),
        (2 * bit, 3 * bit - 1, native),
        (3 * bit, U32 - 1, x32),
        (U32, U32, native),
    ]


def _weigh(p: AbiProgram | None, lo: int, hi: int, bit: int) -> float:
    """The planning weight of the numbers x in lo..hi with ``x & bit == 0`` (bit 0: all), run
    as ``p``'s syscalls (None: numbers no ABI runs): their syscalls' weights, or EMPTY_WEIGHT."""
    if p is None:
        return EMPTY_WEIGHT
    nrs, acc, by_bit = _weights(p.abi.name)
    run = by_bit[bit] if bit else acc
    w = run[bisect_right(nrs, hi)] - run[bisect_left(nrs, lo)]
    return w or EMPTY_WEIGHT


def _ranges(group: list[AbiProgram], bad_arch: Action) -> list[_Range]:
    """Cover 0..2^32-1 with ranges of one answer each."""
    out: list[_Range] = []

    def add(
        lo: int,
        hi: int,
        action: Action | None,
        p: AbiProgram | None = None,
        sp: SyscallProgram | None = None,
    ) -> None:
        last = out[-1] if out else None
        if last and action is not None and last.action == action and last.hi + 1 == lo:
            out[-1] = _Range(last.lo, hi, action, last.abi if last.abi is p else None)
        else:
            out.append(_Range(lo, hi, action, p, sp))

    for lo, hi, p in _segments(group):
        if p is None:
            add(lo, hi, bad_arch)
            continue
        cursor = lo
        for nr in sorted(n for n in p.syscalls if lo <= n <= hi):
            sp = p.syscalls[nr]
            if nr > cursor:
                add(cursor, nr - 1, p.unknown, p)
            add(nr, nr, None if sp.rules else sp.fallback, p, sp if sp.rules else None)
            cursor = nr + 1
        if cursor <= hi:
            add(cursor, hi, p.unknown, p)
    return out


def _weigher(group: list[AbiProgram]) -> treemod.Weigh:
    """Planning weights of one arch token's numbers: each weighs as the syscall its ABI runs
    there (``_weigh``), a stretch without one as EMPTY_WEIGHT."""
    segments = _segments(group)

    def weigh(lo: int, hi: int, bit: int) -> float:
        total = 0.0  # left to right, not sum(): Python 3.12's compensates, and plans must not move
        for s_lo, s_hi, p in segments:
            if s_lo <= hi and lo <= s_hi:
                total += _weigh(p, max(lo, s_lo), min(hi, s_hi), bit)
        return total

    return weigh


def _leaf_cost(program: Program, r: _Range) -> int:
    """Instructions a range's leaf code runs with all arguments zero (its answer included)."""
    gen = _Gen(program)
    gen.leaf(r)
    items = gen.bld.items
    at = {it: pos for pos, it in enumerate(items) if isinstance(it, Label)}
    a = steps = pc = 0
    while pc < len(items):
        it = items[pc]
        pc += 1
        if isinstance(it, Label):
            continue
        steps += 1
        if isinstance(it, Goto):
            pc = at[it.target]
        elif isinstance(it, Jump):
            taken = {
                b.JEQ: a == it.k,
                b.JGT: a > it.k,
                b.JGE: a >= it.k,
                b.JSET: bool(a & it.k),
            }[it.op]
            target = it.true if taken else it.false
            if target is not None:
                pc = at[target]
        elif it.cls == b.RET:
            break
        elif it.code == b.ALU | b.AND | b.K:
            a &= it.k
        else:
            a = 0  # an argument word: all are zero here
    return steps


class _Gen:
    def __init__(self, program: Program) -> None:
        self.program = program
        self.bld = Builder()

    def ret(self, action: Action) -> None:
        self.bld.emit(b.stmt(b.RET | b.K, action.ret))

    def ld(self, off: int) -> None:
        self.bld.load(off)

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
        for n, (lbl, group) in enumerate(entries):
            bld.place(lbl)
            self.ld(b.OFF_NR)
            ranges = _ranges(group, self.program.bad_arch)
            left = MAX_PATH - (n + 3)  # after ld [arch], the jeq's up to this token's, ld [nr]
            plan = treemod.plan(
                [treemod.Item(r.lo, r.hi, r.action) for r in ranges],
                _weigher(group),
                [left - (1 if r.syscall is None else _leaf_cost(self.program, r)) for r in ranges],
            )
            self.tree(ranges, plan)
        return assemble(bld.items)

    def tree(self, ranges: list[_Range], node: treemod.Node) -> None:
        if isinstance(node, treemod.Leaf):
            self.leaf(ranges[node.index])
        elif isinstance(node, treemod.Split | treemod.Bit):
            other = self.bld.label()
            if isinstance(node, treemod.Split):
                first, second = node.left, node.right
                self.bld.emit(Jump(b.JGE, node.at, other, None))
            else:
                first, second = node.clear, node.set
                self.bld.emit(Jump(b.JSET, node.mask, other, None))
            self.tree(ranges, first)
            self.bld.place(other)
            self.tree(ranges, second)
        else:
            labels = [self.bld.label() for _ in node.tests]
            for (nr, _), lbl in zip(node.tests, labels, strict=True):
                self.bld.emit(Jump(b.JEQ, nr, lbl, None))
            self.leaf(ranges[node.background[0]])
            for (_, t), lbl in zip(node.tests, labels, strict=True):
                self.bld.place(lbl)
                self.leaf(ranges[t])

    def leaf(self, r: _Range) -> None:
        if r.action is not None:
            self.ret(r.action)
            return
        assert r.syscall is not None and r.abi is not None
        p = r.abi
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
                self.masked_eq(m_hi, v_hi, fail)
            elif wide and v_hi:
                bld.emit(Goto(fail))  # value has bits the mask clears: never equal
            self.ld(lo_off)
            self.masked_eq(m_lo, v_lo, fail)
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

    def masked_eq(self, m: int, v: int, fail: Label) -> None:
        """Fall through when ``A & m == v``, jump to ``fail`` when not.

        No bit of ``m`` set (v == 0), or its one bit set (v == m), is one ``jset`` that
        leaves A as it is; other tests mask A first.
        """
        if m == 0xFFFFFFFF:
            self.bld.emit(Jump(b.JEQ, v, None, fail))
        elif m and v == 0:
            self.bld.emit(Jump(b.JSET, m, fail, None))
        elif m and v == m and m & (m - 1) == 0:
            self.bld.emit(Jump(b.JSET, m, None, fail))
        else:
            self.bld.emit(b.stmt(b.ALU | b.AND | b.K, m))
            self.bld.emit(Jump(b.JEQ, v, None, fail))


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
    if len(insns) > b.BPF_MAXINSNS:  # the policy was read and found wanting: exit 1
        raise InputError(
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
