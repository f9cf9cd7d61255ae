"""Prove that a BPF filter answers exactly what its Program says, on every input.

Two proofs share one report. The symbolic proof (``prove.symbolic``) splits all inputs — every
arch token, all 2^32 syscall numbers, all argument values — into the finitely many classes
on which the filter and the Program each answer alike, and compares the answers class by
class; it is what ``verify_bpf`` uses whenever the filter has the usual shape (loads, AND and
comparisons against constants). The sampling proof runs the emulator on chosen inputs: every
syscall number the table knows, the holes between them and numbers just beyond, x32-bit
numbers, foreign arch tokens, and for each argument condition its boundary values (the value,
±1, 0, all ones, upper half set or clear, mask bits set or clear), combined with values that
satisfy the rule's other conditions. It serves filters the symbolic proof does not model, and
as a second opinion: ``cross_check`` runs every class's witness through the emulator and
``Program.decide`` too.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from seccompiler.arch.abi import ABIS, X32_SYSCALL_BIT, Abi, Endian
from seccompiler.arch.tables import table
from seccompiler.bpf.check import BpfRejected
from seccompiler.bpf.emulate import Filter, SeccompData, make_args
from seccompiler.program import U32, U64, AbiProgram, Action, ArgCond, Op, Program
from seccompiler.prove import symbolic
from seccompiler.prove.words import Unsupported

Method = Literal["auto", "symbolic", "sampling"]

BEYOND = 64  # numbers past the table's highest that are checked one by one
MAX_KEPT = 1000  # disagreements kept in a report (all are counted)
_ODD_NRS = (0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF, 0x80000000, 0xBFFFFFFF, 0x3FFFFFFF, 0xFFFF, 4096)
_FOREIGN_ARCH = (0, 0xFFFFFFFF, 0x40000000, 0x80000000, 0xC0000000)


@dataclass(frozen=True)
class Disagreement:
    """One input on which the filter and the program answer differently."""

    abi: str  # the ABI the input belongs to, or "arch:0x…" for a foreign arch
    arch: int
    nr: int
    syscall: str  # name, or "" for a number the table does not know
    args: tuple[int, ...]
    expected: Action
    got: Action

    def __str__(self) -> str:
        name = f" ({self.syscall})" if self.syscall else ""
        args = ", ".join(f"{a:#x}" for a in self.args)
        return (
            f"{self.abi}: nr {self.nr:#x}{name} args [{args}]: "
            f"policy says {self.expected}, filter returns {self.got}"
        )


@dataclass
class AbiSummary:
    """How much of one ABI was checked, and how many inputs (or classes) disagreed."""

    abi: str
    numbers: int = 0
    inputs: int = 0
    disagreements: int = 0
    classes: int | None = None  # set by the symbolic proof, which covers every input

    def __str__(self) -> str:
        many = "disagreement" if self.disagreements == 1 else "disagreements"
        verdict = "agrees" if not self.disagreements else f"{self.disagreements} {many}"
        if self.classes is not None:
            every = "every arch token" if self.abi == "other arches" else "all 2^32 numbers"
            noun = "class" if self.classes == 1 else "classes"
            return f"{self.abi}: {every}, every argument, {self.classes} {noun}: {verdict}"
        return f"{self.abi}: {self.numbers} syscall numbers, {self.inputs} inputs: {verdict}"


@dataclass
class VerifyReport:
    """The outcome of ``verify_bpf``: per-ABI summaries and the disagreements found."""

    family: str
    instructions: int
    summaries: list[AbiSummary] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)
    total_disagreements: int = 0
    rejected: BpfRejected | None = None  # the kernel would not load the filter at all
    method: str = "sampling"  # which proof ran: "symbolic" or "sampling"
    fallback: str = ""  # why the symbolic proof could not be used, when it could not
    cross_check: list[str] = field(default_factory=list)  # emulator vs the symbolic proof

    @property
    def ok(self) -> bool:
        return self.rejected is None and self.total_disagreements == 0 and not self.cross_check

    def to_json(self) -> dict[str, object]:
        """The report as JSON (``verify``, ``compile --format json``): per ABI, then the rest."""
        return {
            "family": self.family,
            "instructions": self.instructions,
            "ok": self.ok,
            "method": self.method,
            "fallback": self.fallback or None,
            "rejected": str(self.rejected) if self.rejected is not None else None,
            "abis": [
                {
                    "abi": s.abi,
                    "agrees": not s.disagreements,
                    "disagreements": s.disagreements,
                    "classes": s.classes,  # the symbolic proof: classes covering every input
                    "numbers": s.numbers if s.classes is None else None,  # sampling: how much
                    "inputs": s.inputs if s.classes is None else None,
                }
                for s in self.summaries
            ],
            "disagreements": [
                {
                    "abi": d.abi,
                    "arch": d.arch,
                    "nr": d.nr,
                    "syscall": d.syscall or None,
                    "args": list(d.args),
                    "policy": str(d.expected),
                    "filter": str(d.got),
                }
                for d in self.disagreements
            ],
            "total_disagreements": self.total_disagreements,
            "cross_check": list(self.cross_check),
        }

    def lines(self) -> list[str]:
        """The report as text: one summary line per ABI, then every disagreement kept."""
        if self.rejected is not None:
            return [f"{self.family}: the kernel would refuse this filter: {self.rejected}"]
        out = [str(s) for s in self.summaries]
        if self.fallback:
            out.append(f"(proved by sampling: {self.fallback})")
        out += [f"  {d}" for d in self.disagreements]
        out += [f"  the emulator disagrees with the symbolic proof: {c}" for c in self.cross_check]
        if self.total_disagreements > len(self.disagreements):
            out.append(f"  … and {self.total_disagreements - len(self.disagreements)} more")
        return out


def boundary_values(c: ArgCond) -> set[int]:
    """Values of one argument at which a condition can change its answer."""
    v = c.value
    vals = {0, U64, U32, U32 + 1, v, v + 1, v - 1, v | (U32 << 32), v & U32, v ^ (1 << 63)}
    if c.op is Op.MASKED_EQ:
        m = c.mask
        vals |= {m, v | ~m & U64, (v | ~m) & U64 & ~(U32 << 32), v ^ m}
        # each mask bit flipped alone: a filter that tests one bit too few or too many fails
        vals |= {v ^ (1 << i) for i in range(64) if m >> i & 1}
    return {x & U64 for x in vals if x >= 0 or x == -1} | {U64}


def satisfying(c: ArgCond) -> int:
    """A value that meets ``c`` (used to hold the other conditions of a rule true)."""
    v = c.value
    return {
        Op.EQ: v,
        Op.NE: v ^ 1,
        Op.LT: v - 1 if v else 0,
        Op.LE: v,
        Op.GT: v + 1,
        Op.GE: v,
        Op.MASKED_EQ: v,
    }[c.op] & U64


def arg_vectors(p: AbiProgram, nr: int) -> Iterator[tuple[int, ...]]:
    """Argument vectors that exercise every condition of the syscall's rules."""
    yield (0,) * 6
    sp = p.syscalls.get(nr)
    if sp is None or not sp.rules:
        return
    seen: set[tuple[int, ...]] = {(0,) * 6}
    conds = [c for r in sp.rules for c in r.conditions]
    for rule in sp.rules:
        base = [0] * 6
        for c in rule.conditions:
            base[c.index] = satisfying(c)
        for variant in (base, [0] * 6):
            for c in conds:
                for value in sorted(boundary_values(c)):
                    args = list(variant)
                    args[c.index] = value
                    t = tuple(args)
                    if t not in seen:
                        seen.add(t)
                        yield t
            t = tuple(variant)
            if t not in seen:
                seen.add(t)
                yield t


def _shares_token_with_x32(abi: Abi) -> bool:
    return any(a.is_x32 and a.audit_arch == abi.audit_arch for a in ABIS.values())


def _numbers(p: AbiProgram) -> list[int]:
    """Every number the ABI can present: table, holes, just beyond, odd values.

    Numbers with the x32 bit are tried only on the ABIs that share an arch token with x32:
    elsewhere the bit has no meaning to the kernel and they are merely unknown numbers.
    """
    off = p.abi.nr_offset
    known = set(table(p.abi).by_nr) | set(p.syscalls)
    dense = [n for n in known if n < off + 4096]  # arm's private calls sit near 0x0f0000
    top = max(dense, default=off)
    nrs = set(range(off, top + BEYOND + 1)) | known
    nrs |= {(n + d) & U32 for n in known for d in (-1, 1)}
    nrs |= {(n + off) & U32 for n in _ODD_NRS}
    x32ish = _shares_token_with_x32(p.abi)
    if x32ish and not p.abi.is_x32:
        # x32-bit numbers on x86_64: a filter must not treat them as native calls
        nrs |= {n | X32_SYSCALL_BIT for n in (0, 1, 59, 231, 322, 512, 513, 547)}
    if not x32ish:
        nrs = {n for n in nrs if not n & X32_SYSCALL_BIT}
    return sorted(nrs)


def verify_bpf(
    program: Program,
    bpf: bytes,
    family: str,
    *,
    method: Method = "auto",
    cross_check: bool = False,
    only: Collection[str] | None = None,
) -> VerifyReport:
    """Check one family's raw filter against ``program``; never raises for a bad filter.

    ``auto`` proves symbolically and samples only a filter the symbolic proof does not model;
    ``cross_check`` also runs each class's witness through the emulator. ``only`` limits the
    report to those ABIs of the family; the program's other ABIs are still known to it, so the
    filter's answers for them are not counted as foreign.
    """
    native = ABIS[family]
    try:
        f = Filter.from_bytes(bpf, native.endian, f"<{family} filter>")
    except BpfRejected as exc:
        return VerifyReport(family, len(bpf) // 8, rejected=exc)
    fallback = ""
    report: VerifyReport | None = None
    if method != "sampling":
        try:
            report = _verify_symbolic(program, f, family, cross_check)
        except Unsupported as exc:
            if method == "symbolic":
                raise
            fallback = exc.why
    if report is None:
        report = _verify_sampling(program, f, family)
        report.fallback = fallback
    return report if only is None else _narrowed(report, only)


def _narrowed(report: VerifyReport, only: Collection[str]) -> VerifyReport:
    """The report for some ABIs of the family, and what foreign arches got."""
    keep = {*only, "other arches"}
    report.summaries = [s for s in report.summaries if s.abi in keep]
    report.disagreements = [
        d for d in report.disagreements if d.abi in only or d.abi.startswith("arch:")
    ]
    report.total_disagreements = sum(s.disagreements for s in report.summaries)
    return report


def _verify_symbolic(program: Program, f: Filter, family: str, cross: bool) -> VerifyReport:
    report = VerifyReport(family, len(f.insns), method="symbolic")
    progs = program.families().get(family, ())
    summaries = {p.abi.name: AbiSummary(p.abi.name, classes=0) for p in progs}
    other = AbiSummary("other arches", classes=0)

    def on_class(o: symbolic.Outcome) -> None:
        summary = other if o.abi is None else summaries[o.abi.abi.name]
        assert summary.classes is not None
        summary.classes += 1
        if not cross and o.expected == o.got:
            return
        data = _seccomp_data(o.witness(), f.endian)
        if cross:
            ran = f.run(data).ret
            decided = program.decide(data.arch, data.nr, data.args)
            if ran != o.ret or decided != o.expected:
                report.cross_check.append(
                    f"nr {data.nr:#x} arch {data.arch:#x}: classed as {o.expected} / "
                    f"ret {o.ret:#x}, emulated {decided} / ret {ran:#x}"
                )
        if o.expected == o.got:
            return
        summary.disagreements += 1
        report.total_disagreements += 1
        if len(report.disagreements) < MAX_KEPT:
            abi = None if o.abi is None else o.abi.abi
            label = abi.name if abi is not None else f"arch:{data.arch:#x}"
            name = table(abi).by_nr.get(data.nr, "") if abi is not None else ""
            report.disagreements.append(
                Disagreement(label, data.arch, data.nr, name, data.args, o.expected, o.got)
            )

    symbolic.prove(program, progs, f.insns, f.endian, on_class)
    report.summaries = [*summaries.values(), other]
    return report


def _seccomp_data(words: tuple[int, ...], endian: Endian) -> SeccompData:
    order = "<" if endian == "little" else ">"
    raw = struct.pack(f"{order}16I", *words)
    nr, arch, ip, *args = struct.unpack(f"{order}IIQ6Q", raw)
    return SeccompData(nr, arch, ip, make_args(args))


def _verify_sampling(program: Program, f: Filter, family: str) -> VerifyReport:
    report = VerifyReport(family, len(f.insns))
    progs = program.families().get(family, ())
    for p in progs:
        summary = AbiSummary(p.abi.name)
        names = table(p.abi).by_nr
        for nr in _numbers(p):
            summary.numbers += 1
            for args in arg_vectors(p, nr):
                summary.inputs += 1
                _compare(
                    f,
                    program,
                    p.abi,
                    p.abi.audit_arch,
                    nr,
                    args,
                    names.get(nr, ""),
                    report,
                    summary,
                )
        report.summaries.append(summary)
    _foreign(f, program, family, report)
    return report


def _foreign(f: Filter, program: Program, family: str, report: VerifyReport) -> None:
    """Arch tokens the program does not cover must all get ``bad_arch``."""
    covered = {p.abi.audit_arch for p in program.abis}
    tokens = sorted({a.audit_arch for a in ABIS.values()} - covered | set(_FOREIGN_ARCH) - covered)
    summary = AbiSummary("other arches")
    sample = sorted(
        {0, 1, 2, 3, 59, 60, 231, 0x40000000, 0xFFFFFFFF} | set(table(ABIS[family]).by_nr)
    )
    for arch in tokens:
        for nr in sample:
            summary.numbers += 1
            summary.inputs += 1
            _compare(f, program, None, arch, nr, (0,) * 6, "", report, summary)
    report.summaries.append(summary)


def _compare(
    f: Filter,
    program: Program,
    abi: Abi | None,
    arch: int,
    nr: int,
    args: Sequence[int],
    name: str,
    report: VerifyReport,
    summary: AbiSummary,
) -> None:
    a6 = make_args(args)
    got = f.run(SeccompData(nr, arch, 0, a6)).action
    want = program.decide(arch, nr, a6)
    if got == want:
        return
    summary.disagreements += 1
    report.total_disagreements += 1
    if len(report.disagreements) < MAX_KEPT:
        label = abi.name if abi is not None else f"arch:{arch:#x}"
        report.disagreements.append(Disagreement(label, arch, nr, name, a6, want, got))
