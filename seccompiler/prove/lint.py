"""Findings about a policy, a JSON profile or a raw filter: what it lets through by mistake.

Each finding has a code, a severity and, where one exists, the location of the rule that
causes it. Warnings and errors make ``seccompiler lint`` exit 1; notes do not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from seccompiler.arch.abi import ABIS, MULTIPLEXED_CALLS, MULTIPLEXED_NUMBERS, Abi
from seccompiler.arch.catalog import arg_widths, expand_group
from seccompiler.arch.tables import table
from seccompiler.base.errors import Location, UsageError
from seccompiler.bpf.emulate import Filter, SeccompData
from seccompiler.frontend.ocijson import Profile
from seccompiler.program import ActionKind, Op, Origin, Program

SEVERITIES = ("error", "warning", "note")


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # error | warning | note
    message: str
    location: Location | None = None
    abis: tuple[str, ...] = ()
    syscall: str = ""

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.severity}: {self.message} [{self.code}]"

    def to_json(self) -> dict[str, object]:
        loc = self.location
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "path": loc.path if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "abis": list(self.abis),
            "syscall": self.syscall,
        }


def _loc(origin: Origin | None, program: Program) -> Location | None:
    if origin is not None:
        return Location(origin.path, origin.line, origin.column)
    return Location(program.sources[0]) if program.sources else None


def lint_program(program: Program, runtime_libseccomp: str | None = None) -> list[Finding]:
    """Checks that hold for any program, whatever it was written in."""
    # what the policy language itself says to its author (a base's default replaced, …)
    out: list[Finding] = [
        Finding(n.code, "note", n.message + (f"; {n.hint}" if n.hint else ""), n.location)
        for n in program.notes
    ]
    out += _risky(program)
    out += _siblings(program)
    out += _unbounded(program)
    out += _wide_compare(program)
    out += _multiplexers(program)
    if runtime_libseccomp:
        out += _runtime_names(program, runtime_libseccomp)
    return out


def _risky(program: Program) -> list[Finding]:
    risky = expand_group("risky")
    seen: dict[str, tuple[list[str], Origin | None]] = {}
    for p in program.abis:
        for sp in p.syscalls.values():
            if sp.name in risky and sp.fallback.kind is ActionKind.ALLOW and not sp.rules:
                entry = seen.setdefault(sp.name, ([], sp.fallback_origin))
                entry[0].append(p.abi.name)
    return [
        Finding(
            "risky-allowed",
            "warning",
            f"{name} is allowed: {risky[name]}",
            _loc(origin, program),
            tuple(abis),
            name,
        )
        for name, (abis, origin) in sorted(seen.items())
    ]


# Syscalls that reach what another reaches: refusing the first alone leaves the way open.
SIBLINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ptrace": ("debug", ("process_vm_readv", "process_vm_writev", "pidfd_getfd")),
}


def _siblings(program: Program) -> list[Finding]:
    out = []
    for name, (group, others) in SIBLINGS.items():
        open_: dict[str, list[str]] = {}
        origin: Origin | None = None
        for p in program.abis:
            t = table(p.abi)
            sp = p.syscalls.get(t.by_name.get(name, -1))
            if sp is None or sp.rules or not sp.fallback.blocks:
                continue
            origin = origin or sp.fallback_origin
            for other in others:
                nr = t.by_name.get(other)
                if nr is not None and not p.decide(nr, (0,) * 6).blocks:
                    open_.setdefault(other, []).append(p.abi.name)
        if open_:
            abis = tuple(dict.fromkeys(a for v in open_.values() for a in v))
            out.append(
                Finding(
                    "sibling-open",
                    "warning",
                    f"{name} is refused, but {', '.join(open_)} reach other processes just the "
                    f"same and are allowed; refuse the group that covers them: "
                    f"syscalls: ['@{group}']",
                    _loc(origin, program),
                    abis,
                    name,
                )
            )
    return out


def _unbounded(program: Program) -> list[Finding]:
    abis = [
        p.abi.name
        for p in program.abis
        if p.default.kind is ActionKind.ALLOW and p.unknown.kind is ActionKind.ALLOW
    ]
    if not abis:
        return []
    return [
        Finding(
            "allow-unbounded",
            "warning",
            "the default action is allow and syscalls newer than the table are allowed too; "
            "answer them with errno(ENOSYS) so that a future kernel's calls stay out",
            _loc(None, program),
            tuple(abis),
        )
    ]


def _wide_compare(program: Program) -> list[Finding]:
    found: dict[tuple[str, int, int, Origin | None], list[str]] = {}
    for p in program.abis:
        table = arg_widths(p.abi.name)
        for sp in p.syscalls.values():
            widths = table.get(sp.name, ())
            for rule in sp.rules:
                for c in rule.conditions:
                    read = widths[c.index] if c.index < len(widths) else p.abi.register_bits
                    seen = c.effective_width(p.abi)
                    if c.op is Op.MASKED_EQ:
                        seen = min(seen, c.mask.bit_length())
                    if seen > read:  # bits the kernel ignores: a caller sets them to slip past
                        key = (sp.name, c.index, read, rule.origin)
                        found.setdefault(key, []).append(p.abi.name)
    return [
        Finding(
            "wide-int-compare",
            "warning",
            f"{name}: the kernel reads {read} bits of argument {index}, but more are compared; "
            "it ignores the rest, so a caller can set them to slip past the comparison",
            _loc(origin, program),
            tuple(dict.fromkeys(abis)),
            name,
        )
        for (name, index, read, origin), abis in sorted(
            found.items(), key=lambda kv: (kv[0][0], kv[0][1], str(kv[0][3]))
        )
    ]


def _multiplexers(program: Program) -> list[Finding]:
    """Calls the policy refuses that still go through socketcall/ipc, whose call it allows.

    Refused outright: a warning (the refusal is void). Refused only for some arguments: a
    note, since the multiplexer hands the filter a pointer instead of those arguments, so no
    filter can make the same distinction there.
    """
    out = []
    for p in program.abis:
        t = table(p.abi)
        for mux, calls in MULTIPLEXED_CALLS.items():
            nr = t.by_name.get(mux)
            if nr is None:
                continue
            sp = p.syscalls.get(nr)
            numbers = MULTIPLEXED_NUMBERS[mux]
            void: list[str] = []
            unseen: list[str] = []
            unseen_origin: Origin | None = None
            for c in calls:
                csp = p.syscalls.get(t.by_name.get(c, -1))
                if csp is None or not any(a.blocks for a in csp.actions):
                    continue
                if p.decide(nr, (numbers[c], 0, 0, 0, 0, 0)).blocks:
                    continue
                (unseen if csp.rules else void).append(c)
                if csp.rules and unseen_origin is None:
                    unseen_origin = csp.rules[0].origin
            origin = sp.fallback_origin if sp else None
            if void:
                out.append(
                    Finding(
                        "multiplexer-open",
                        "warning",
                        f"{mux} is allowed on {p.abi.name} while {', '.join(void)} "
                        f"{'is' if len(void) == 1 else 'are'} blocked: the same calls "
                        f"go through {mux}",
                        _loc(origin, program),
                        (p.abi.name,),
                        mux,
                    )
                )
            if unseen:
                out.append(
                    Finding(
                        "multiplexer-args-unseen",
                        "note",
                        f"{', '.join(unseen)} {'is' if len(unseen) == 1 else 'are'} refused "
                        f"for some arguments on {p.abi.name}, but the same calls through "
                        f"{mux} are allowed and hide their arguments behind a pointer: "
                        "there the refusal does not hold",
                        _loc(unseen_origin, program),
                        (p.abi.name,),
                        mux,
                    )
                )
    return out


def _runtime_names(program: Program, version: str) -> list[Finding]:
    from seccompiler.prove import libseccomp_ref

    have = libseccomp_ref.version()
    if version != have:
        raise UsageError(
            f"--runtime-libseccomp {version}: only the libseccomp loaded here ({have}) can "
            "be asked which names it knows",
            hint=f"use --runtime-libseccomp {have}",
        )
    missing: dict[str, tuple[list[str], Origin | None, str]] = {}
    for p in program.abis:
        if not libseccomp_ref.supports(p.abi):
            continue
        for sp in p.syscalls.values():
            if sp.numbered or (sp.fallback == p.default and not sp.rules):
                continue  # a rule by number: the OCI backend refuses it where it would differ
            if not libseccomp_ref.knows(p.abi, sp.name):
                origin = sp.fallback_origin or next((r.origin for r in sp.rules), None)
                entry = missing.setdefault(sp.name, ([], origin, str(p.default)))
                entry[0].append(p.abi.name)
    return [
        Finding(
            "unknown-to-runtime",
            "warning",
            f"libseccomp {version} does not know {name}: runc skips it without a word, so it "
            f"gets the default action, {default}",
            _loc(origin, program),
            tuple(abis),
            name,
        )
        for name, (abis, origin, default) in sorted(missing.items())
    ]


def lint_profile(profile: Profile) -> list[Finding]:
    """Checks only a JSON profile needs: rules runc drops, fields containerd ignores."""
    out: list[Finding] = []
    for rule in profile.rules:
        if rule.action == profile.default:
            out.append(
                Finding(
                    "rule-is-default",
                    "warning",
                    f"this rule's action ({rule.action}) is the default action: runc drops "
                    "it (libseccomp refuses it), so its conditions have no effect",
                    rule.where,
                    syscall=",".join(rule.names[:3]),
                )
            )
        for key, cond in (("includes", rule.includes), ("excludes", rule.excludes)):
            if cond.caps or cond.arches or cond.min_kernel:
                out.append(
                    Finding(
                        "containerd-ignores",
                        "warning",
                        f"containerd reads a Localhost profile as plain OCI and ignores "
                        f"'{key}': there this rule applies to every container, whatever its "
                        "capabilities, arch and kernel",
                        rule.where,
                        syscall=",".join(rule.names[:3]),
                    )
                )
    if profile.docker_format and "architectures" not in profile.raw:
        out.append(
            Finding(
                "containerd-ignores",
                "warning",
                "containerd ignores 'archMap': with no 'architectures' the filter covers the "
                "native arch only, and every other ABI (x86, x32, arm) gets the bad-arch action",
                Location(profile.path, 1, 1),
            )
        )
    return out


def lint_filter(f: Filter, abis: Iterable[Abi]) -> list[Finding]:
    """Checks on raw BPF: an x32 guard, and what foreign arches get."""
    out = []
    chosen = list(abis)
    x86_64 = ABIS["x86_64"]
    if x86_64 in chosen and ABIS["x32"] not in chosen:
        t = table(ABIS["x32"])
        let_in = [
            name
            for name in ("execve", "open", "openat", "socket", "ptrace")
            if name in t.by_name
            and not f.run(SeccompData(t.by_name[name], x86_64.audit_arch)).action.blocks
        ]
        if let_in:
            out.append(
                Finding(
                    "no-x32-guard",
                    "warning",
                    "x32 numbers (0x40000000 + n) pass under the x86_64 arch token: "
                    f"{', '.join(let_in)} are allowed through the x32 ABI",
                    abis=("x32",),
                )
            )
    foreign = f.run(SeccompData(0, 0x0BADA5C8)).action
    if not foreign.blocks:
        out.append(
            Finding(
                "foreign-arch-allowed",
                "error",
                f"a syscall from an arch the filter does not check gets {foreign}",
            )
        )
    return out


def failing(findings: Iterable[Finding]) -> bool:
    return any(f.severity in ("error", "warning") for f in findings)
