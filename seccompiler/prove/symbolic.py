"""Prove a filter equal to its Program on every input, by classes instead of samples.

A seccomp filter of the usual shape only ever compares one 32-bit word of ``seccomp_data``,
perhaps masked with a constant, against a constant. Each comparison is a predicate on one word:
``x & m == k``, ``x >= k`` or their negations (``jset`` is ``x & k != 0``). Run the filter
symbolically: every path carries, per word, the predicates it has taken, and a branch whose
predicates no value satisfies is dropped. At each ``ret`` the Program is run the same way over
that path's inputs (its arch tokens, the x32 bit, its syscall numbers and its argument
conditions are predicates of the same kinds), and every class where the two answers differ is
a disagreement with a witness input. The classes cover every arch token, all 2^32 syscall
numbers and all argument values, so agreement on every class is a proof.

Filters that use anything else (the X register, scratch memory, arithmetic, ``ret A``)
raise ``Unsupported``; the caller falls back to the sampling proof.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from seccompiler.arch.abi import X32_SYSCALL_BIT, Endian, has_x32_numbers
from seccompiler.bpf import insn as b
from seccompiler.program import U32, AbiProgram, Action, ArgCond, Op, Program
from seccompiler.prove.words import (
    ARCH,
    NR,
    PATH_STEPS,
    WORDS,
    Region,
    Unsupported,
    Word,
    branch_eq,
    branch_ge,
    set_word,
    witness,
    word_of,
)

# --- the filter, run symbolically ------------------------------------------------------------


def filter_paths(insns: Sequence[b.Insn]) -> Iterator[tuple[Region, int]]:
    """Every (region, return value) the filter's paths end in; the regions partition inputs."""
    budget = [PATH_STEPS]
    start: Region = (None,) * WORDS
    yield from _run(insns, 0, None, start, budget)


_A = tuple[int, int] | int | None  # (word, mask), a constant, or None (never set: 0)


def _run(
    insns: Sequence[b.Insn], pc: int, a: _A, region: Region, budget: list[int]
) -> Iterator[tuple[Region, int]]:
    # Depth first with a stack of its own: a chain of thousands of tests stays one frame deep.
    todo: list[tuple[int, _A, Region]] = [(pc, a, region)]
    while todo:
        pc, a, region = todo.pop()
        yield from _path(insns, pc, a, region, budget, todo)


def _path(
    insns: Sequence[b.Insn],
    pc: int,
    a: _A,
    region: Region,
    budget: list[int],
    todo: list[tuple[int, _A, Region]],
) -> Iterator[tuple[Region, int]]:
    """Follow one path until it returns or splits; a split's halves go onto ``todo``."""
    while True:
        budget[0] -= 1
        if budget[0] < 0:
            raise Unsupported("the filter has too many paths to follow one by one")
        ins = insns[pc]
        code, k = ins.code, ins.k
        pc += 1
        if code == b.LD | b.W | b.ABS:
            a = (k // 4, U32)
        elif code == b.LD | b.IMM:
            a = k
        elif code == b.ALU | b.AND | b.K:
            a = (a[0], a[1] & k) if isinstance(a, tuple) else (a or 0) & k
        elif code == b.RET | b.K:
            yield region, k
            return
        elif code == b.JMP | b.JA:
            pc += k
        elif code in _JUMPS:
            halves = _branch(code, k, a, region, pc - 1)
            if len(halves) == 1:
                pc += ins.jt if halves[0][0] else ins.jf
                region = halves[0][1]
                continue
            todo.extend((pc + (ins.jt if h else ins.jf), a, s) for h, s in reversed(halves))
            return
        else:
            raise Unsupported(f"instruction {pc - 1} (code {code:#06x}) is not modelled")


_JUMPS = frozenset(b.JMP | op | b.K for op in (b.JEQ, b.JGE, b.JGT, b.JSET))


def _branch(code: int, k: int, a: _A, region: Region, at: int) -> list[tuple[bool, Region]]:
    """A conditional jump's outcomes: (taken, the part of ``region`` that goes that way).

    One outcome when A is a constant or the region decides the test, else the two halves.
    """
    op = code & 0xF0
    if not isinstance(a, tuple):
        value = a or 0
        if op == b.JSET:
            return [(bool(value & k), region)]
        taken = value == k if op == b.JEQ else value >= k if op == b.JGE else value > k
        return [(taken, region)]
    index, mask = a
    if op == b.JSET:
        return [(not zero, r) for zero, r in branch_eq(region, index, mask & k, 0)]
    if op == b.JEQ:
        return list(branch_eq(region, index, mask, k))
    if mask != U32:
        raise Unsupported(f"instruction {at}: ordered comparison of a masked word")
    if op == b.JGE:
        return list(branch_ge(region, index, k))
    if k == U32:
        return [(False, region)]  # nothing is greater
    return list(branch_ge(region, index, k + 1))


# --- the Program, run symbolically -----------------------------------------------------------


@dataclass(frozen=True)
class Class:
    """Inputs on which the Program answers one thing: which ABI (None: bad arch), the answer."""

    region: Region
    abi: AbiProgram | None
    action: Action


@dataclass
class _Ctx:
    program: Program
    family: tuple[AbiProgram, ...]
    endian: Endian
    keys: dict[str, list[int]] = field(default_factory=dict)
    tokens: dict[int, list[AbiProgram]] = field(default_factory=dict)
    others: list[int] = field(default_factory=list)  # tokens of the Program's other families
    x32ish: set[int] = field(default_factory=set)  # tokens under which bit 30 picks x32

    def __post_init__(self) -> None:
        for p in self.family:
            self.tokens.setdefault(p.abi.audit_arch, []).append(p)
        self.others = sorted({p.abi.audit_arch for p in self.program.abis} - set(self.tokens))
        self.keys = {p.abi.name: sorted(p.syscalls) for p in self.family}
        self.x32ish = {t for t in self.tokens if has_x32_numbers(t)}


def program_classes(ctx: _Ctx, region: Region) -> Iterator[Class]:
    """Split ``region`` into the classes the Program answers alike (skipping tokens of other
    families of the Program, which this family's kernel never presents)."""
    tokens = ctx.tokens
    arch = word_of(region, ARCH)
    if arch.lo == arch.hi:  # the filter's path already fixed the token
        if arch.lo in tokens:
            yield from _token_classes(ctx, tokens[arch.lo], region)
        elif arch.lo not in ctx.others:
            yield Class(region, None, ctx.program.bad_arch)
        return
    rest: Region | None = region
    for token in [*tokens, *ctx.others]:
        if rest is None:
            break
        inside = outside = None
        for holds, r in branch_eq(rest, ARCH, U32, token):
            if holds:
                inside = r
            else:
                outside = r
        if inside is not None and token in tokens:
            yield from _token_classes(ctx, tokens[token], inside)
        rest = outside
    if rest is not None:
        yield Class(rest, None, ctx.program.bad_arch)


def _token_classes(ctx: _Ctx, group: list[AbiProgram], region: Region) -> Iterator[Class]:
    native = next((p for p in group if not p.abi.is_x32), None)
    if group[0].abi.audit_arch not in ctx.x32ish:
        yield from _abi_classes(ctx, native, region)
        return
    x32 = next((p for p in group if p.abi.is_x32), None)
    nr = word_of(region, NR)
    if nr.plain:
        # bounds and points only: cut the range at the x32 segments' edges
        bit = X32_SYSCALL_BIT
        segments = (
            (0, bit - 1, native),
            (bit, 2 * bit - 1, x32),
            (2 * bit, 3 * bit - 1, native),
            (3 * bit, U32 - 1, x32),
            (U32, U32, native),
        )
        for lo, hi, p in segments:
            lo, hi = max(lo, nr.lo), min(hi, nr.hi)
            if lo > hi:
                continue
            part = Word(lo, hi, 0, 0, (), nr.excluded)
            if part.witness() is not None:
                yield from _abi_classes(ctx, p, set_word(region, NR, part))
        return
    for is_minus_one, r in branch_eq(region, NR, U32, U32):
        if is_minus_one:  # -1: a tracer's "skip", a native number
            yield from _abi_classes(ctx, native, r)
            continue
        for bit_clear, r2 in branch_eq(r, NR, X32_SYSCALL_BIT, 0):
            yield from _abi_classes(ctx, native if bit_clear else x32, r2)


def _abi_classes(ctx: _Ctx, p: AbiProgram | None, region: Region) -> Iterator[Class]:
    if p is None:
        yield Class(region, None, ctx.program.bad_arch)
        return
    keys = ctx.keys[p.abi.name]
    nr = word_of(region, NR)
    inside = keys[bisect_left(keys, nr.lo) : bisect_right(keys, nr.hi)]
    if nr.plain:
        # bounds and points only: each key is in or out at a glance
        syscalls = p.syscalls
        for key in inside:
            if key not in nr.excluded:
                sp = syscalls[key]
                point = set_word(region, NR, Word(key, key))
                if sp.rules:
                    yield from _syscall_classes(ctx, p, key, point)
                else:
                    yield Class(point, p, sp.fallback)
        others = nr.without(inside)
        gone = sum(1 for x in others.excluded if nr.lo <= x <= nr.hi)
        if nr.hi - nr.lo + 1 > gone:  # some number of the range is no syscall
            yield Class(set_word(region, NR, others), p, p.unknown)
        return
    left: Region | None = region
    for key in inside:
        if left is None:
            break
        hit = miss = None
        for holds, r in branch_eq(left, NR, U32, key):
            if holds:
                hit = r
            else:
                miss = r
        if hit is not None:
            yield from _syscall_classes(ctx, p, key, hit)
        left = miss
    if left is not None:
        yield Class(left, p, p.unknown)


def _syscall_classes(ctx: _Ctx, p: AbiProgram, nr: int, region: Region) -> Iterator[Class]:
    sp = p.syscalls[nr]
    # Rule by rule, not by recursion: a syscall may carry thousands of conditional rules.
    pending = [region]
    for rule in sp.rules:
        missed: list[Region] = []
        for r in pending:
            for holds, sub in _conds(ctx, p, rule.conditions, r):
                if holds:
                    yield Class(sub, p, rule.action)
                else:
                    missed.append(sub)
        pending = missed
    for r in pending:
        yield Class(r, p, sp.fallback)


def _conds(
    ctx: _Ctx, p: AbiProgram, conds: Sequence[ArgCond], region: Region
) -> Iterator[tuple[bool, Region]]:
    """Split ``region`` by whether all of ``conds`` hold."""
    if not conds:
        yield True, region
        return
    for holds, sub in _cond(ctx, p, conds[0], region):
        if holds:
            yield from _conds(ctx, p, conds[1:], sub)
        else:
            yield False, sub


def _arg_words(ctx: _Ctx, index: int) -> tuple[int, int]:
    """Word indices of args[index]: (low half, high half), in the machine's byte order."""
    base = 4 + 2 * index
    return (base, base + 1) if ctx.endian == "little" else (base + 1, base)


def _cond(ctx: _Ctx, p: AbiProgram, c: ArgCond, region: Region) -> Iterator[tuple[bool, Region]]:
    lo_w, hi_w = _arg_words(ctx, c.index)
    wide = c.effective_width(p.abi) == 64
    v = c.value if wide else c.value & U32
    v_lo, v_hi = v & U32, v >> 32
    if c.op is Op.MASKED_EQ:
        m = c.mask if wide else c.mask & U32
        parts = [(lo_w, m & U32, v_lo)] + ([(hi_w, m >> 32, v_hi)] if wide else [])
        yield from _all_eq(parts, region)
        return
    if c.op in (Op.EQ, Op.NE):
        parts = [(lo_w, U32, v_lo)] + ([(hi_w, U32, v_hi)] if wide else [])
        for holds, sub in _all_eq(parts, region):
            yield holds == (c.op is Op.EQ), sub
        return
    # ordered: x >= v (GE, negated LT) or x > v ⇔ x >= v + 1 (GT, negated LE)
    bound = v + 1 if c.op in (Op.GT, Op.LE) else v
    want = c.op in (Op.GT, Op.GE)
    if bound > (U32 if not wide else (1 << 64) - 1):
        yield not want, region  # nothing reaches the bound
        return
    for holds, sub in _at_least(lo_w, hi_w if wide else None, bound, region):
        yield holds == want, sub


def _all_eq(parts: list[tuple[int, int, int]], region: Region) -> Iterator[tuple[bool, Region]]:
    if not parts:
        yield True, region
        return
    (index, m, k), rest = parts[0], parts[1:]
    for holds, sub in branch_eq(region, index, m, k):
        if holds:
            yield from _all_eq(rest, sub)
        else:
            yield False, sub


def _at_least(
    lo_w: int, hi_w: int | None, bound: int, region: Region
) -> Iterator[tuple[bool, Region]]:
    """Split by ``x >= bound`` for x = (hi word, lo word), or the lo word alone."""
    b_lo, b_hi = bound & U32, bound >> 32
    if hi_w is None:
        yield from branch_ge(region, lo_w, b_lo)
        return
    # x >= bound ⇔ hi > b_hi, or hi == b_hi and lo >= b_lo
    for above, r in branch_ge(region, hi_w, b_hi + 1) if b_hi < U32 else [(False, region)]:
        if above:
            yield True, r
            continue
        for equal, r2 in branch_eq(r, hi_w, U32, b_hi):
            if not equal:
                yield False, r2
                continue
            yield from branch_ge(r2, lo_w, b_lo)


# --- the proof -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One class of inputs: what the Program and the filter answer there."""

    abi: AbiProgram | None
    expected: Action
    got: Action
    ret: int
    region: Region

    def witness(self) -> tuple[int, ...]:
        """One input of the class, as the 16 words of ``seccomp_data``."""
        return witness(self.region)


def prove(
    program: Program,
    family: tuple[AbiProgram, ...],
    insns: Sequence[b.Insn],
    endian: Endian,
    on_class: Callable[[Outcome], None],
) -> None:
    """Call ``on_class`` for every class of inputs (filter path × Program class)."""
    ctx = _Ctx(program, family, endian)
    answers: dict[int, Action] = {}
    for region, ret in filter_paths(insns):
        got = answers.get(ret) or answers.setdefault(ret, Action.from_ret(ret))
        for cls in program_classes(ctx, region):
            on_class(Outcome(cls.abi, cls.action, got, ret, cls.region))
