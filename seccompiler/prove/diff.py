"""Compare what two filters or policies answer, syscall by syscall, on every ABI.

Each side is a ``Program`` (a policy, a JSON profile) or a raw filter. For every syscall
number of every ABI, both sides are asked on the argument vectors that matter to either side
(the boundary values of their conditions); a syscall whose answers differ is a change. Numbers
beyond the table and foreign arches are compared too, where both sides define them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from seccompiler.arch.abi import Abi
from seccompiler.arch.tables import table
from seccompiler.bpf.emulate import Filter, SeccompData, make_args
from seccompiler.program import U32, U64, Action, ArgCond, Op, Program, SyscallProgram
from seccompiler.prove.verify import arg_vectors, boundary_values, satisfying

FOREIGN_ARCH = 0x0BADA5C8  # an arch token no ABI uses


@dataclass
class Side:
    """One side of a comparison: a program, or raw filters by family."""

    label: str
    abis: tuple[Abi, ...]
    program: Program | None = None
    filters: dict[str, Filter] | None = None
    bad_arch: Action | None = None

    def covers(self, abi: Abi) -> bool:
        """Whether this side speaks for ``abi`` (what it gives foreign arches is compared
        once, as ``bad_arch``, not ABI by ABI)."""
        if abi not in self.abis:
            return False
        return self.program is not None or (self.filters is not None and abi.family in self.filters)

    def decide(self, abi: Abi, nr: int, args: Sequence[int]) -> Action:
        a6 = make_args(args)
        if self.program is not None:
            return self.program.decide(abi.audit_arch, nr, a6)
        assert self.filters is not None
        return self.filters[abi.family].run(SeccompData(nr, abi.audit_arch, 0, a6)).action

    def vectors(self, abi: Abi, nr: int) -> Iterator[tuple[int, ...]]:
        p = self.program.abi(abi.name) if self.program is not None else None
        if p is None:
            yield (0,) * 6
            return
        yield from arg_vectors(p, nr)

    def syscall(self, abi: Abi, nr: int) -> SyscallProgram | None:
        p = self.program.abi(abi.name) if self.program is not None else None
        return p.syscalls.get(nr) if p is not None else None


Lines = dict[tuple[tuple[int, ...], int], set[int]]  # (base, arg index) → values of that arg


def _with(vector: tuple[int, ...], index: int, value: int) -> tuple[int, ...]:
    return (*vector[:index], value, *vector[index + 1 :])


def _lines(sp: SyscallProgram | None, out: Lines) -> None:
    """``arg_vectors``'s inputs, as lines: a base vector and the values one argument takes.

    The same set of vectors, without its n² repeats: for n rules on one argument, every
    rule's base vector, that argument replaced, is the same line.
    """
    zero = (0,) * 6
    out.setdefault((zero, 0), set()).add(0)
    if sp is None or not sp.rules:
        return
    by_index: dict[int, set[int]] = {}
    for r in sp.rules:
        for c in r.conditions:
            by_index.setdefault(c.index, set()).update(boundary_values(c))
    filled: set[tuple[tuple[int, ...], int]] = set()
    for rule in sp.rules:
        base = [0] * 6
        for c in rule.conditions:
            base[c.index] = satisfying(c)
        for variant in (tuple(base), zero):
            for index, values in by_index.items():
                key = (_with(variant, index, 0), index)
                if key not in filled:  # one line is met once per rule: fill it once
                    filled.add(key)
                    out.setdefault(key, set()).update(values)
            # the variant itself lies on the line of any argument the rule tests
            first = rule.conditions[0].index
            out[(_with(variant, first, 0), first)].add(variant[first])


def _field(c: ArgCond, abi: Abi) -> tuple[int, int] | None:
    """``(mask, value)`` such that the condition holds iff ``arg & mask == value``."""
    limit = U32 if c.effective_width(abi) == 32 else U64
    if c.op is Op.EQ:
        return limit, c.value & limit
    if c.op is Op.MASKED_EQ:
        return c.mask & limit, c.value & limit
    return None


def _answers_along(
    sp: SyscallProgram, abi: Abi, base: tuple[int, ...], index: int, values: Iterable[int]
) -> dict[int, Action]:
    """What ``sp`` answers on ``base`` with argument ``index`` set to each value.

    The rules that can still match are indexed once by the bits they test on that argument,
    so each value costs a lookup per distinct mask, not a walk of every rule.
    """
    tables: dict[int, dict[int, int]] = {}  # mask → value → first rule testing it
    slow: list[int] = []  # rules tested one by one (ordered comparisons, several conditions)
    always = len(sp.rules)  # the first rule that holds whatever the argument is
    for j, rule in enumerate(sp.rules):
        if j > always:
            break
        here = [c for c in rule.conditions if c.index == index]
        if not all(c.matches(base[c.index], abi) for c in rule.conditions if c.index != index):
            continue
        field = _field(here[0], abi) if len(here) == 1 else None
        if not here:
            always = j
        elif field is not None:
            tables.setdefault(field[0], {}).setdefault(field[1], j)
        else:
            slow.append(j)
    out: dict[int, Action] = {}
    for x in values:
        best = always
        for mask, first in tables.items():
            j = first.get(x & mask, always)
            best = min(best, j)
        for j in slow:
            if j >= best:
                break
            if all(c.matches(x, abi) for c in sp.rules[j].conditions if c.index == index):
                best = j
        out[x] = sp.rules[best].action if best < len(sp.rules) else sp.fallback
    return out


def _program_changes(a: Side, b: Side, abi: Abi, nr: int) -> tuple[str, str] | None:
    """The change of one syscall between two program sides, found along lines."""
    sa, sb = a.syscall(abi, nr), b.syscall(abi, nr)
    if sa is not None and sb is not None:
        same = (sa.fallback, [(r.conditions, r.action) for r in sa.rules]) == (
            sb.fallback,
            [(r.conditions, r.action) for r in sb.rules],
        )
        if same:
            return None  # one decision list answers alike everywhere
    lines: Lines = {}
    _lines(sa, lines)
    _lines(sb, lines)
    ra: dict[tuple[int, ...], Action] = {}
    rb: dict[tuple[int, ...], Action] = {}
    for (base, index), values in lines.items():
        for side, sp, into in ((a, sa, ra), (b, sb, rb)):
            if sp is None:
                action = side.decide(abi, nr, base)
                answers = {x: action for x in values}
            else:
                answers = _answers_along(sp, abi, base, index, values)
            for x, action in answers.items():
                into[_with(base, index, x)] = action
    if ra == rb:
        return None
    return _describe(ra), _describe(rb)


def side_from_filters(label: str, abis: Sequence[Abi], filters: dict[str, Filter]) -> Side:
    """A raw-filter side; what it answers for a foreign arch is read from the filter itself."""
    fam = abis[0].family
    bad = filters[fam].run(SeccompData(0, FOREIGN_ARCH)).action
    return Side(label, tuple(abis), None, dict(filters), bad)


@dataclass(frozen=True)
class Change:
    """A syscall (or a class of numbers) answered differently by A and B."""

    abi: str
    syscall: str
    nr: int | None
    a: str
    b: str


@dataclass
class DiffResult:
    changes: list[Change]
    only_a: list[str]  # ABIs only A covers
    only_b: list[str]

    @property
    def equal(self) -> bool:
        return not self.changes

    def to_json(self) -> dict[str, object]:
        by_abi: dict[str, list[dict[str, object]]] = {}
        for c in self.changes:
            by_abi.setdefault(c.abi, []).append(
                {"syscall": c.syscall, "nr": c.nr, "a": c.a, "b": c.b}
            )
        return {"equal": self.equal, "abis": by_abi, "only_a": self.only_a, "only_b": self.only_b}

    def lines(self) -> list[str]:
        """Per ABI, changes grouped by (A's answer → B's answer), names sorted."""
        out: list[str] = []
        abis = list(dict.fromkeys(c.abi for c in self.changes))
        for abi in abis:
            groups: dict[tuple[str, str], list[str]] = {}
            for c in self.changes:
                if c.abi == abi:
                    groups.setdefault((c.a, c.b), []).append(c.syscall)
            count = sum(len(v) for v in groups.values())
            out.append(f"{abi}: {count} syscalls change")
            for (a, b), names in sorted(groups.items()):
                out.append(f"  {a} -> {b}: {', '.join(sorted(names))}")
        for name in self.only_a:
            out.append(f"{name}: only in A")
        for name in self.only_b:
            out.append(f"{name}: only in B")
        return out


def _describe(answers: dict[tuple[int, ...], Action]) -> str:
    kinds = sorted(set(answers.values()), key=lambda x: (x.rank, x.data))
    if len(kinds) == 1:
        return str(kinds[0])
    return "|".join(str(k) for k in kinds) + " by args"


def diff(a: Side, b: Side, abis: Sequence[Abi] | None = None) -> DiffResult:
    """Every difference between ``a`` and ``b`` on ``abis`` (default: every ABI either has)."""
    chosen = list(abis) if abis else list(dict.fromkeys([*a.abis, *b.abis]))
    changes: list[Change] = []
    only_a = [x.name for x in chosen if a.covers(x) and not b.covers(x)]
    only_b = [x.name for x in chosen if b.covers(x) and not a.covers(x)]
    for abi in chosen:
        if not (a.covers(abi) and b.covers(abi)):
            continue
        t = table(abi)
        for nr, name in sorted({**t.by_nr, **_numbered(a, abi), **_numbered(b, abi)}.items()):
            if a.program is not None and b.program is not None:
                found = _program_changes(a, b, abi, nr)
            else:
                vecs = list(dict.fromkeys([*a.vectors(abi, nr), *b.vectors(abi, nr)]))
                ra = {v: a.decide(abi, nr, v) for v in vecs}
                rb = {v: b.decide(abi, nr, v) for v in vecs}
                found = (_describe(ra), _describe(rb)) if ra != rb else None
            if found is not None:
                da, db = found
                if da == db:
                    da, db = da + " (differs by args)", db + " (differs by args)"
                changes.append(Change(abi.name, name, nr, da, db))
        beyond = [t.max_nr + 1, t.max_nr + 100]
        ua = {n: a.decide(abi, n, ()) for n in beyond}
        ub = {n: b.decide(abi, n, ()) for n in beyond}
        if ua != ub:
            changes.append(
                Change(
                    abi.name, "(numbers beyond the table)", None, _describe_n(ua), _describe_n(ub)
                )
            )
    if a.bad_arch is not None and b.bad_arch is not None and a.bad_arch != b.bad_arch:
        changes.append(Change("(other arches)", "(any)", None, str(a.bad_arch), str(b.bad_arch)))
    return DiffResult(changes, only_a, only_b)


def _numbered(side: Side, abi: Abi) -> dict[int, str]:
    """The numbers a side's policy names with ``nr:`` on ``abi`` (no name in the table)."""
    p = side.program.abi(abi.name) if side.program is not None else None
    return {nr: sp.name for nr, sp in p.syscalls.items() if sp.numbered} if p else {}


def _describe_n(answers: dict[int, Action]) -> str:
    kinds = sorted(set(answers.values()), key=lambda x: (x.rank, x.data))
    return "|".join(str(k) for k in kinds)
