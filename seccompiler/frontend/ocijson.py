"""Read seccomp profiles in JSON: the OCI runtime-spec form, Docker's and Podman's.

Docker and Podman add ``archMap`` (native arch → sub-arches) and, per rule, ``includes`` and
``excludes`` on ``caps``, ``arches`` and ``minKernel``; they resolve them for one container
(moby profiles/seccomp: a rule stays when every included cap is held, none of the excluded
caps is, the runtime's arch is listed, and the kernel is new enough). runc then hands each
rule to libseccomp by name; its rules with the default action are dropped (libseccomp
refuses them), and several conditions on the same argument become separate rules (an OR).
libseccomp lets an unconditional rule for a syscall override its conditional ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from seccompiler.arch import catalog
from seccompiler.arch.abi import ABIS, Abi, family_members, lookup
from seccompiler.arch.tables import table
from seccompiler.base.errors import InputError, Location, UsageError
from seccompiler.frontend.ocijson_parse import (
    Cond,
    JsonRule,
    Profile,
    load,
    parse,
    parse_json,
    parse_kernel,
)
from seccompiler.frontend.scmp import ACTION_NAMES, OP_NAMES
from seccompiler.program import (
    AbiProgram,
    Action,
    ActionKind,
    ArgCond,
    Origin,
    Program,
    Rule,
    SyscallProgram,
)

# Docker's default bounding set (moby oci/caps/defaults.go): the runtimes' default set.
DOCKER_DEFAULT_CAPS: frozenset[str] = catalog.DEFAULT_CAPS


def normalise_caps(caps: Iterable[str]) -> frozenset[str]:
    """``sys_admin``, ``SYS_ADMIN`` and ``CAP_SYS_ADMIN`` are the same capability."""
    out = set()
    for c in caps:
        c = c.strip().upper()
        if c:
            out.add(c if c.startswith("CAP_") else f"CAP_{c}")
    return frozenset(out)


def rule_applies(
    rule: JsonRule, family: str, caps: frozenset[str], kernel: tuple[int, ...] | None
) -> bool:
    """Docker's resolution of ``includes``/``excludes`` for a container (moby seccomp)."""
    arch = ABIS[family].goarch if family in ABIS else family
    ex, inc = rule.excludes, rule.includes
    if ex.arches and arch in ex.arches:
        return False
    if ex.caps and any(c in caps for c in normalise_caps(ex.caps)):
        return False
    if ex.min_kernel is not None and kernel is not None and kernel >= ex.min_kernel:
        return False
    if inc.arches and arch not in inc.arches:
        return False
    if inc.caps and not all(c in caps for c in normalise_caps(inc.caps)):
        return False
    return not (inc.min_kernel is not None and kernel is not None and kernel < inc.min_kernel)


@dataclass(frozen=True)
class Resolved:
    """A profile resolved for one container: the program, and what was left out and why."""

    program: Program
    skipped: tuple[tuple[str, str], ...]  # (abi, name) a ``knows`` predicate refused
    unknown_names: tuple[str, ...]  # names no syscall table here knows
    rules: dict[str, tuple[JsonRule, ...]]  # family → rules that apply


def select_abis(profile: Profile, abis: Sequence[str] | None) -> tuple[Abi, ...]:
    """The ABIs to build: those asked for (which the profile must list), else all listed."""
    listed = [ABIS[a] for a in profile.arches]
    if not listed and profile.unknown_arches:
        raise InputError(
            f"the profile lists only arches without an ABI here: "
            f"{', '.join(profile.unknown_arches)}",
            hint=f"list one seccompiler has an ABI for: {', '.join(a.oci for a in ABIS.values())}",
            location=profile.unknown_at or Location(profile.path),
        )
    if not listed:
        listed = [ABIS["x86_64"]]  # no arches: libseccomp's native arch alone, on this machine
    if not abis:
        return tuple(listed)
    out = []
    for name in abis:
        abi = lookup(name)
        if abi is None:
            raise UsageError(f"unknown ABI '{name}'", hint=f"known: {', '.join(ABIS)}")
        if abi not in listed:
            raise UsageError(
                f"{profile.path} does not cover ABI '{abi.name}'",
                hint=f"it lists: {', '.join(a.name for a in listed)}",
            )
        out.append(abi)
    return tuple(out)


def resolve(
    profile: Profile,
    *,
    caps: Iterable[str] | None = None,
    abis: Sequence[str] | None = None,
    kernel: str | None = None,
    knows: Callable[[Abi, str], bool] | None = None,
    name: str = "",
) -> Resolved:
    """Build the Program a runtime would enforce for this profile.

    ``caps`` defaults to Docker's default set; ``kernel`` (e.g. ``5.15``) defaults to "new
    enough for every minKernel"; ``knows(abi, name)`` can drop names a given libseccomp does
    not know, as runc silently does.
    """
    capset = normalise_caps(DOCKER_DEFAULT_CAPS if caps is None else caps)
    kver = None
    if kernel is not None:
        kver = parse_kernel(kernel)
        if kver is None:
            raise UsageError(f"--kernel '{kernel}' is not a version like 5.15")
    chosen = select_abis(profile, abis)
    skipped: list[tuple[str, str]] = []
    fam_rules: dict[str, tuple[JsonRule, ...]] = {}
    progs = []
    for abi in chosen:
        if abi.family not in fam_rules:
            fam_rules[abi.family] = tuple(
                r for r in profile.rules if rule_applies(r, abi.family, capset, kver)
            )
        progs.append(_abi_program(abi, fam_rules[abi.family], profile, knows, skipped))
    all_known = {n for a in ABIS.values() for n in table(a).by_name}
    unknown_names = sorted({n for r in profile.rules for n in r.names} - all_known)
    program = Program(
        name or profile.path,
        tuple(progs),
        bad_arch=Action(ActionKind.KILL_THREAD),  # libseccomp's default SCMP_FLTATR_ACT_BADARCH
        sources=(profile.path,),
    )
    return Resolved(program, tuple(skipped), tuple(unknown_names), fam_rules)


def _abi_program(
    abi: Abi,
    rules: tuple[JsonRule, ...],
    profile: Profile,
    knows: Callable[[Abi, str], bool] | None,
    skipped: list[tuple[str, str]],
) -> AbiProgram:
    """One ABI's program from the rules that apply to its family, as runc hands them over."""
    t = table(abi)
    per_nr: dict[int, list[tuple[tuple[ArgCond, ...], Action, Origin]]] = {}
    for rule in rules:
        if rule.action == profile.default:
            continue  # runc drops it: libseccomp refuses a rule with the default action
        for sc in rule.names:
            nr = t.by_name.get(sc)
            if nr is None:
                continue
            if knows is not None and not knows(abi, sc):
                skipped.append((abi.name, sc))
                continue
            for conds in _split_same_index(rule.args):
                if abi.register_bits != abi.bits:  # x32, MIPS n32: libseccomp's low word
                    conds = tuple(c.low_word() for c in conds)
                per_nr.setdefault(nr, []).append((conds, rule.action, rule.origin))
    syscalls = {}
    for nr, sc in t.by_nr.items():
        entries = per_nr.get(nr, [])
        uncond = next(((a, o) for c, a, o in entries if not c), None)
        if uncond is not None:
            syscalls[nr] = SyscallProgram(sc, nr, (), uncond[0], uncond[1])
        else:
            syscalls[nr] = SyscallProgram(
                sc, nr, tuple(Rule(c, a, o) for c, a, o in entries), profile.default
            )
    return AbiProgram(abi, syscalls, profile.default, profile.default, t.max_nr)


def _split_same_index(args: tuple[ArgCond, ...]) -> list[tuple[ArgCond, ...]]:
    """runc: when two conditions test the same argument, each becomes a rule of its own."""
    indices = [a.index for a in args]
    if len(set(indices)) == len(indices):
        return [args]
    return [(a,) for a in args]


def family_abis(program: Program, family: str) -> tuple[Abi, ...]:
    """The program's ABIs of one family, native first."""
    return tuple(a for a in family_members(family) if program.abi(a.name) is not None)


__all__ = [
    "ACTION_NAMES",
    "DOCKER_DEFAULT_CAPS",
    "OP_NAMES",
    "Cond",
    "JsonRule",
    "Profile",
    "Resolved",
    "family_abis",
    "load",
    "normalise_caps",
    "parse",
    "parse_json",
    "parse_kernel",
    "resolve",
    "rule_applies",
    "select_abis",
]
