"""Reference filters built by the system's libseccomp, the way runc builds them.

These are the independent side of differential tests and the baseline of benchmarks. runc
(libcontainer/seccomp) creates a filter with the default action, adds the profile's arches,
and adds each rule by syscall name: names this libseccomp does not know are skipped without a
word, rules whose action is the default are skipped (libseccomp refuses them), and several
conditions on one argument become separate rules. We do the same and report what was skipped.
libseccomp translates a name to each arch's number through its own tables, so the rules are
added by name, never by our numbers. (runc also prepends a stub answering ENOSYS for numbers
newer than it knows; that stub is not reproduced here.)
"""

from __future__ import annotations

import errno
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from seccompiler.arch.abi import ABIS, Abi, family_members
from seccompiler.base.errors import InputError, Location
from seccompiler.frontend.ocijson import (
    DOCKER_DEFAULT_CAPS,
    Profile,
    normalise_caps,
    parse_kernel,
    rule_applies,
)
from seccompiler.program import U32, AbiProgram, Action, ActionKind, ArgCond, Op, Program

SCMP_FLTATR_ACT_BADARCH = 2  # libseccomp's attribute for what foreign arches get
SCMP_FLTATR_CTL_OPTIMIZE = 8  # libseccomp: 1 = default layout, 2 = binary tree
_NR_SCMP_ERROR = -1
ACT_KILL_THREAD = Action(ActionKind.KILL_THREAD)  # libseccomp's bad-arch action unless set
_OPS = {Op.NE: 1, Op.LT: 2, Op.LE: 3, Op.EQ: 4, Op.GE: 5, Op.GT: 6, Op.MASKED_EQ: 7}


@dataclass(frozen=True)
class RefFilter:
    """libseccomp's BPF for one kernel family, and what could not be put into it."""

    family: str
    abis: tuple[str, ...]
    bpf: bytes
    skipped: tuple[tuple[str, str], ...]  # (abi, syscall) this libseccomp does not know
    approximated: tuple[tuple[str, str], ...]  # (abi, syscall) libseccomp cannot express


def _lib() -> object:
    import pyseccomp  # a system library: import only when a reference is asked for

    return pyseccomp


@cache
def version() -> str:
    """The libseccomp version loaded, e.g. ``2.5.4``."""
    import ctypes

    sc = _lib()
    lib = sc._libseccomp  # type: ignore[attr-defined]
    lib.seccomp_version.restype = ctypes.c_void_p
    ptr = lib.seccomp_version()
    v = ctypes.cast(ptr, ctypes.POINTER(ctypes.c_uint * 3)).contents
    return f"{v[0]}.{v[1]}.{v[2]}"


def _token(abi: Abi) -> int:
    """libseccomp's arch token (its x32 token lacks the 64-bit flag, unlike the audit arch)."""
    return 0x4000003E if abi.is_x32 else abi.audit_arch


def knows(abi: Abi, name: str) -> bool:
    """Whether this libseccomp puts a rule for ``name`` into an ``abi`` filter.

    Asked of libseccomp itself, by building a one-rule filter: its name lookup alone is not
    enough, since on x86 it gives the socket and IPC calls pseudo numbers yet emits their
    direct numbers, and for some x32 names it gives pseudo numbers and emits nothing.
    """
    return _emits(_token(abi), name)


@cache
def _emits(token: int, name: str) -> bool:
    if _native_nr(name) == _NR_SCMP_ERROR or _resolve(token, name) == _NR_SCMP_ERROR:
        return False
    abi = next(a for a in ABIS.values() if _token(a) == token)
    empty = _export(_new_filter(Action(ActionKind.ALLOW), [abi], 1))
    f = _new_filter(Action(ActionKind.ALLOW), [abi], 1)
    try:
        f.add_rule(Action(ActionKind.ERRNO, 1).ret, _native_nr(name))  # type: ignore[attr-defined]
    except OSError:
        return False
    return len(_export(f)) > len(empty)


@cache
def _resolve(token: int, name: str) -> int:
    sc = _lib()
    lib = sc._libseccomp  # type: ignore[attr-defined]
    return int(lib.seccomp_syscall_resolve_name_arch(token, name.encode()))


def _native_nr(name: str) -> int:
    """The number libseccomp's rule functions take for ``name`` (negative: a pseudo number)."""
    sc = _lib()
    return int(sc.resolve_syscall(sc.Arch.NATIVE, name))  # type: ignore[attr-defined]


def _new_filter(default: Action, abis: Sequence[Abi], optimize: int) -> object:
    """A filter for exactly ``abis``; the native arch goes first, since libseccomp refuses
    to mix byte orders within a filter."""
    sc = _lib()
    f = sc.SyscallFilter(default.ret)  # type: ignore[attr-defined]
    native = sc.system_arch()  # type: ignore[attr-defined]
    tokens = [_token(a) for a in abis]
    if native not in tokens:
        f.remove_arch(native)
    for token in tokens:
        if token != native:
            f.add_arch(token)
    if optimize != 1:
        f.set_attr(SCMP_FLTATR_CTL_OPTIMIZE, optimize)
    return f


@cache
def supports(abi: Abi) -> bool:
    """Whether this libseccomp can build a faithful filter for ``abi`` on this machine.

    2.5 has no loongarch64. Filters for the other byte order (ppc64, s390x here) are exported
    in that order and are references once ``_unswap_returns`` has repaired them.
    """
    try:
        _new_filter(Action(ActionKind.ALLOW), [abi], 1)
    except OSError:
        return False
    return True


def _unsupported(abis: Iterable[Abi]) -> InputError | None:
    missing = [a.name for a in abis if not supports(a)]
    if not missing:
        return None
    return InputError(
        f"libseccomp {version()} cannot build faithful filters for {', '.join(missing)} here",
        hint="leave those ABIs out with --abi",
    )


def _export(f: object) -> bytes:
    with tempfile.TemporaryFile() as fh:
        f.export_bpf(fh)  # type: ignore[attr-defined]
        fh.seek(0)
        return fh.read()


def _bswap32(value: int) -> int:
    return int.from_bytes(value.to_bytes(4, "little"), "big")


def _unswap_returns(bpf: bytes, abis: Sequence[Abi], actions: Iterable[Action]) -> bytes:
    """Repair what libseccomp (2.5.4 and later) gets wrong for the other byte order.

    Its export is in the target's byte order, but where a jump to a return would exceed 255
    instructions it inserts a nearer copy of the return, built from the already converted
    value and so converted twice (gen_bpf.c: ``_gen_bpf_action(state, NULL,
    blk_ret->blks[0].k.tgt.imm_k)``): those copies return the action byte-swapped (``ret
    #0xff7f`` for ALLOW). A return value that is none of the filter's actions while its
    byte swap is one is such a copy.
    """
    endian = abis[0].endian
    if endian == sys.byteorder:
        return bpf
    from seccompiler.bpf import insn as b

    valid = {a.ret for a in actions}
    out = []
    for i in b.decode(bpf, endian):
        if i.code == b.RET | b.K and i.k not in valid and _bswap32(i.k) in valid:
            i = b.Insn(i.code, i.jt, i.jf, _bswap32(i.k))
        out.append(i)
    return b.encode(out, endian)


def _arg(c: ArgCond, abi: Abi) -> tuple[object, bool]:
    """libseccomp's comparison for a condition; True when it is only an approximation."""
    sc = _lib()
    if c.width == 32 and abi.bits == 64:
        if c.op is Op.EQ:
            return sc.Arg(c.index, _OPS[Op.MASKED_EQ], U32, c.value), False  # type: ignore[attr-defined]
        if c.op is Op.MASKED_EQ:
            return sc.Arg(c.index, _OPS[Op.MASKED_EQ], c.mask & U32, c.value), False  # type: ignore[attr-defined]
        return sc.Arg(c.index, _OPS[c.op], c.value), True  # type: ignore[attr-defined]
    if c.op is Op.MASKED_EQ:
        return sc.Arg(c.index, _OPS[c.op], c.mask, c.value), False  # type: ignore[attr-defined]
    return sc.Arg(c.index, _OPS[c.op], c.value), False  # type: ignore[attr-defined]


def takes_number(abi: Abi) -> bool:
    """Whether libseccomp adds a rule by a raw number (``nr:``) to an ``abi`` filter.

    seccomp_rule_add takes numbers in the native arch's numbering and translates them to
    every other arch through the name (arch.c, arch_syscall_translate): a number no name
    has is taken as it is on the native arch only.
    """
    sc = _lib()
    return bool(_token(abi) == sc.system_arch())  # type: ignore[attr-defined]


def _add(
    f: object,
    action: Action,
    name: str,
    conds: Sequence[object],
    where: Location,
    tolerate_conflict: bool = False,
    nr: int | None = None,
) -> bool:
    """Add one rule; False when libseccomp reports a conflicting rule and that is tolerated.

    A conflict (EEXIST) happens on x86, where libseccomp also files a socket call's rule
    under socketcall(SYS_*) and so may collide with a rule for socketcall itself. ``nr``
    adds the rule by that raw number instead of by name.
    """
    try:
        number = _native_nr(name) if nr is None else nr
        f.add_rule(action.ret, number, *conds)  # type: ignore[attr-defined]
    except OSError as exc:
        if tolerate_conflict and exc.errno == errno.EEXIST:
            return False
        raise InputError(
            f"libseccomp {version()} refused the rule for {name}: {exc.strerror}",
            location=where,
        ) from None
    return True


def build_profile(
    profile: Profile,
    family: str,
    *,
    caps: Iterable[str] | None = None,
    kernel: str | None = None,
    abis: Sequence[str] | None = None,
    optimize: int = 1,
) -> RefFilter:
    """Compile a JSON profile for one family exactly as runc would (one filter, by name)."""
    capset = normalise_caps(DOCKER_DEFAULT_CAPS if caps is None else caps)
    kver = parse_kernel(kernel) if kernel else None
    members = [a for a in family_members(family) if a.name in profile.arches]
    if abis:
        members = [a for a in members if a.name in abis]
    if not members:
        members = [ABIS[family]]
    if (err := _unsupported(members)) is not None:
        raise err
    f = _new_filter(profile.default, members, optimize)
    skipped: list[tuple[str, str]] = []
    # libseccomp files a rule it already holds as a no-op, but finds it by a walk of the
    # syscall's rules: a profile naming one syscall n times would cost n² there.
    added: set[tuple[Action, str, tuple[ArgCond, ...]]] = set()
    for rule in profile.rules:
        if not rule_applies(rule, family, capset, kver) or rule.action == profile.default:
            continue
        groups = _split(rule.args)
        for name in rule.names:
            if _native_nr(name) == _NR_SCMP_ERROR:
                skipped.append((family, name))
                continue
            for group in groups:
                if (rule.action, name, group) in added:
                    continue
                added.add((rule.action, name, group))
                conds = [_arg(c, members[0])[0] for c in group]
                _add(f, rule.action, name, conds, rule.where)
    actions = {profile.default, ACT_KILL_THREAD, *(r.action for r in profile.rules)}
    bpf = _unswap_returns(_export(f), members, actions)
    return RefFilter(family, tuple(a.name for a in members), bpf, tuple(sorted(set(skipped))), ())


def _split(args: tuple[ArgCond, ...]) -> list[tuple[ArgCond, ...]]:
    indices = [a.index for a in args]
    return [args] if len(set(indices)) == len(indices) else [(a,) for a in args]


def build_program(program: Program, family: str, *, optimize: int = 1) -> RefFilter:
    """Compile a Program for one family with libseccomp: one filter per ABI, merged.

    Syscalls the policy names by number go in by that number on the native arch, and are
    ``skipped`` elsewhere (see ``takes_number``).

    libseccomp has one default action for a filter, the native ABI's, which also answers
    numbers newer than its tables (so ``unknown`` is not expressed). A syscall
    whose fallback differs from the default while it also has conditional rules cannot be
    said to libseccomp (its unconditional rule would override the conditions) and is listed
    in ``approximated``, as are 32-bit ordered comparisons on 64-bit ABIs.
    """
    progs = [p for p in program.abis if p.abi.family == family]
    if not progs:
        raise InputError(f"{program.name} has no ABI of family {family}")
    progs.sort(key=lambda p: (p.abi.name != family, p.abi.name))
    default = progs[0].default
    if (err := _unsupported(p.abi for p in progs)) is not None:
        raise err
    skipped: list[tuple[str, str]] = []
    approx: list[tuple[str, str]] = []
    merged: object | None = None
    where = Location(program.sources[0] if program.sources else program.name)
    for p in progs:
        f = _new_filter(default, [p.abi], optimize)
        f.set_attr(SCMP_FLTATR_ACT_BADARCH, program.bad_arch.ret)  # type: ignore[attr-defined]
        _add_abi(f, p, default, where, skipped, approx)
        if merged is None:
            merged = f
        else:
            merged.merge(f)  # type: ignore[attr-defined]
    assert merged is not None
    actions = {default, program.bad_arch}
    for p in progs:
        for sp in p.syscalls.values():
            actions |= sp.actions
    return RefFilter(
        family,
        tuple(p.abi.name for p in progs),
        _unswap_returns(_export(merged), [p.abi for p in progs], actions),
        tuple(skipped),
        tuple(sorted(set(approx))),
    )


def _add_abi(
    f: object,
    p: AbiProgram,
    default: Action,
    where: Location,
    skipped: list[tuple[str, str]],
    approx: list[tuple[str, str]],
) -> None:
    """Add to ``f`` the rules of one ABI's syscalls whose answer is not always ``default``.

    Names this libseccomp does not know (or numbers it cannot take) go to ``skipped``; what
    it can only approximate (see ``build_program``) goes to ``approx``.
    """
    for nr_, sp in sorted(p.syscalls.items()):
        if sp.fallback == default and not sp.rules:
            continue
        if not (takes_number(p.abi) if sp.numbered else knows(p.abi, sp.name)):
            skipped.append((p.abi.name, sp.name))
            continue
        raw = nr_ if sp.numbered else None
        if sp.rules and sp.fallback != default:
            approx.append((p.abi.name, sp.name))
        for rule in sp.rules:
            if rule.action == default:
                continue
            conds = []
            for c in rule.conditions:
                arg, rough = _arg(c, p.abi)
                conds.append(arg)
                if rough:
                    approx.append((p.abi.name, sp.name))
            if not _add(f, rule.action, sp.name, conds, where, True, raw):
                approx.append((p.abi.name, sp.name))
        if sp.fallback != default and not _add(f, sp.fallback, sp.name, [], where, True, raw):
            approx.append((p.abi.name, sp.name))
