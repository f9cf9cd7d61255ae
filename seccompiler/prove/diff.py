"""Compare what two filters or policies answer, syscall by syscall, on every ABI.

Each side is a ``Program`` (a policy, a JSON profile) or a raw filter. For every syscall
number of every ABI, both sides are asked on the argument vectors that matter to either side
(the boundary values of their conditions); a syscall whose answers differ is a change. Numbers
beyond the table and foreign arches are compared too, where both sides define them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from seccompiler.arch.abi import Abi
from seccompiler.arch.tables import table
from seccompiler.bpf.emulate import Filter, SeccompData, make_args
from seccompiler.program import Action, Program
from seccompiler.prove.verify import arg_vectors

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
        for nr, name in sorted(t.by_nr.items()):
            vecs = list(dict.fromkeys([*a.vectors(abi, nr), *b.vectors(abi, nr)]))
            ra = {v: a.decide(abi, nr, v) for v in vecs}
            rb = {v: b.decide(abi, nr, v) for v in vecs}
            if ra != rb:
                da, db = _describe(ra), _describe(rb)
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


def _describe_n(answers: dict[int, Action]) -> str:
    kinds = sorted(set(answers.values()), key=lambda x: (x.rank, x.data))
    return "|".join(str(k) for k in kinds)
