"""Writing a recording as the smallest allow-list policy, in our policy language (docs/policy.md).

The policy allows exactly what was seen, per ABI: names grouped by what they are for, sorted,
each commented with its call count. For the syscalls whose arguments select a behaviour a
filter can tell apart (``recorder.ARG_CONDITIONS``), only the values seen are allowed. With a
base policy, what the base already allows is left out and the output ``extends`` the base.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence

from seccompiler.backends.policy_yaml import STAMP as IMPORT_STAMP
from seccompiler.base.fsio import OutputKind, first_line
from seccompiler.base.quote import one_line, quoted
from seccompiler.program import Program
from seccompiler.runner.recorder import ARG_CONDITIONS, MAX_VALUES, Recording, Use

# The first line of every recorded policy: how a later `record -o` knows the file is ours.
STAMP = re.compile(r"# Recorded by 'seccompiler record'(?: on .+)?\.")  # older ones say when
# A policy file `record` or `import` wrote, which either may replace.
POLICY_FILE = OutputKind("policy", first_line(STAMP, IMPORT_STAMP))

# Groups for reading the policy, first match wins; the rest falls in "other".
_CATEGORIES: tuple[tuple[str, str], ...] = (
    (
        "network",
        r"socket.*|bind|connect|listen|accept4?|send.*|recv.*|shutdown|get(sock|peer)"
        r"name|[gs]etsockopt",
    ),
    ("signals", r"rt_sig.*|sig.*|signalfd4?|kill|tkill|tgkill|pause|pidfd_send_signal"),
    (
        "time",
        r"clock_.*|gettimeofday|settimeofday|time|nanosleep|timer_.*|timerfd_.*|"
        r"[gs]etitimer|alarm|adjtimex",
    ),
    (
        "memory",
        r"brk|mmap2?|munmap|mprotect|mremap|madvise|m(un)?lock.*|msync|mincore|"
        r"membarrier|pkey_.*|process_madvise|mseal",
    ),
    ("ipc", r"msg.*|sem.*|shm.*|mq_.*|ipc"),
    (
        "processes and threads",
        r"clone3?|v?fork|execve(at)?|exit(_group)?|wait.*|set_tid_address|"
        r"[gs]et_robust_list|futex.*|get[pt]?pid|getppid|gettid|[gs]et(e|re|res|fs)?[ug]id(32)?|"
        r"[gs]etgroups(32)?|prctl|arch_prctl|rseq|sched_.*|prlimit64|[gs]etrlimit|ugetrlimit|"
        r"getrusage|[gs]etpgid|getpgrp|setsid|getsid|cap[gs]et|personality|uname|getrandom|"
        r"times|[gs]etpriority|unshare|setns|pidfd_.*|set_thread_area|get_thread_area",
    ),
    ("files and descriptors", r".*"),
)
_FILE_LIKE = re.compile(
    r"(open.*|close.*|read.*|write.*|pread.*|pwrite.*|lseek|_llseek|.*stat.*|access|faccessat2?|getdents.*|"
    r"readlink.*|mkdir.*|rmdir|unlink.*|rename.*|link.*|symlink.*|.*chmod.*|.*chown.*|"
    r"truncate.*|ftruncate.*|f?sync.*|fdatasync|dup.*|fcntl.*|getcwd|f?chdir|umask|utime.*|"
    r"futimesat|sendfile.*|copy_file_range|splice|tee|flock|fallocate|pipe2?|p?poll|"
    r"p?select.*|_newselect|epoll_.*|eventfd2?|inotify_.*|fanotify_.*|ioctl|close_range|"
    r".*xattr|memfd_create|mknod.*|name_to_handle_at|open_by_handle_at|readahead|"
    r"vmsplice|openat2|fadvise64.*|statx|chroot|mount.*|umount2?|io_.*)"
)


def category(name: str) -> str:
    """The group a syscall is listed under in a recorded policy."""
    for cat, pattern in _CATEGORIES[:-1]:
        if re.fullmatch(pattern, name):
            return cat
    return "files and descriptors" if _FILE_LIKE.fullmatch(name) else "other"


def plural(n: int, word: str) -> str:
    """``1 call``, ``2 calls``, ``1 process``, ``2 processes``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}{'es' if word.endswith('s') else 's'}"


def render_policy(
    rec: Recording,
    *,
    name: str,
    command: Sequence[str] = (),
    base_ref: str | None = None,
    base: Program | None = None,
    default: str = "errno(EPERM)",
    unknown: str = "errno(ENOSYS)",
) -> str:
    """The policy text: header comments, then rules grouped by (ABIs, category).

    Nothing in it depends on when it was written: the same recording gives the same bytes.
    """
    abis = rec.abis
    names = len({n for _, n in rec.uses})
    lines = [
        "# Recorded by 'seccompiler record'.",
        f"# Workload: {one_line(' '.join(command)) or '(not given)'}",
        f"# {plural(rec.total, 'syscall')} observed in {plural(rec.tasks, 'process')}"
        f" ({', '.join(abis) or 'no ABI'}); {plural(names, 'syscall name')} listed.",
    ]
    if base_ref is not None:
        lines.append(f"# {plural(rec.covered, 'call')} already allowed by the base policy.")
    if rec.unkept:
        lines.append(
            f"# {plural(rec.unkept, 'call')} not covered: the run made more different calls"
            " (syscall and selecting arguments) than the recorder keeps; record a shorter run."
        )
    lines.append("# An allow-list of what one run did: review it before relying on it.")
    for (abi_name, nr), count in sorted(rec.unknown.items()):
        lines.append(
            f"# number {nr} on {abi_name} is not in the syscall table "
            f"({plural(count, 'call')}); 'unknown:' answers it. To allow it, add a rule"
            f" with 'nr: {{{abi_name}: {nr}}}'."
        )
    lines += ["seccompiler: 1", f"name: {quoted(name)}"]
    if base_ref is not None:
        lines.append(f"extends: {quoted(base_ref)}")
        base_abis = {p.abi.name for p in base.abis} if base is not None else set()
        if abis and not set(abis) <= base_abis:
            lines.append(f"abis: [{', '.join(sorted(base_abis | set(abis)))}]")
    else:
        lines += [
            f"abis: [{', '.join(abis or ('x86_64',))}]",
            f"default: {default}",
            f"unknown: {unknown}",
        ]
    policy_abis = abis
    if base_ref is not None and base is not None:
        policy_abis = tuple(sorted({p.abi.name for p in base.abis} | set(abis)))
    rules = _rules(rec, abis, policy_abis)
    lines.append("rules:" if rules else "rules: []")
    lines += rules
    return "\n".join(lines) + "\n"


def _rules(
    rec: Recording, abis: tuple[str, ...], policy_abis: tuple[str, ...] | None = None
) -> list[str]:
    """Rule lines: plain allows grouped by (ABI set, category), then argument-bound allows.

    A rule names its ABIs unless it holds on every ABI of the resulting policy (with a base,
    that includes the base's ABIs the workload never used).
    """
    every = set(policy_abis if policy_abis is not None else abis)
    per_name: dict[str, dict[str, Use]] = {}
    guarded: list[str] = []
    for (abi_name, sc), use in sorted(rec.uses.items()):
        if use.guarded:
            guarded += _guarded_rules(sc, abi_name, use)
        else:
            per_name.setdefault(sc, {})[abi_name] = use
    plain: dict[tuple[tuple[str, ...], str], list[str]] = {}
    bound: list[str] = []
    for sc in sorted(per_name):
        by_abi = per_name[sc]
        key_abis = tuple(a for a in abis if a in by_abi)
        if set(key_abis) == every:
            key_abis = ()  # every ABI of the policy: no 'abis:' needed
        count = sum(u.count for u in by_abi.values())
        values: Counter[int] = Counter()
        for u in by_abi.values():
            values.update(u.values)
        if sc in ARG_CONDITIONS and 0 < len(values) <= MAX_VALUES:
            bound += _bound_rule(sc, key_abis, abis, count, values)
            continue
        note = f"  # {plural(count, 'call')}"
        if sc in ARG_CONDITIONS and len(values) > MAX_VALUES:
            note += f", {len(values)} different argument values"
        plain.setdefault((key_abis, category(sc)), []).append(f"      - {sc:<20}{note}")
    out: list[str] = []
    order = [c for c, _ in _CATEGORIES] + ["other"]
    for (key_abis, cat), items in sorted(
        plain.items(), key=lambda kv: (kv[0][0] != (), kv[0][0], order.index(kv[0][1]))
    ):
        out.append("  - action: allow")
        out.append(f"    reason: {quoted(cat + ' (recorded)')}")
        if key_abis:
            out.append(f"    abis: [{', '.join(key_abis)}]")
        out.append("    syscalls:")
        out += [line.rstrip() for line in items]
    return out + bound + guarded


def _guarded_rules(sc: str, abi_name: str, use: Use) -> list[str]:
    """Allows for a syscall the base decides by arguments: only the values seen there.

    The base's conditions stay in force for every other value (the rule is later, so it
    wins only where it matches); what is opened is said in a comment.
    """
    indexes = sorted({i for g in use.guarded for i, _, _ in g})
    seen = "; ".join(
        ", ".join(f"arg{i}={v:#x}" for i, _, v in g) + f": {plural(c, 'call')}"
        for g, c in sorted(use.guarded.items())
    )
    out = [
        f"  # {sc} on {abi_name}: the base decides it by argument"
        f"{'s' if len(indexes) > 1 else ''} {', '.join(map(str, indexes))} and refused "
        f"what the workload did ({seen}); allowed for exactly those values",
    ]
    if len(indexes) == 1:
        (i, w, _) = next(iter(use.guarded))[0]
        values = ", ".join(f"{g[0][2]:#x}" for g in sorted(use.guarded))
        conds = [[f"{{index: {i}, op: eq, value: [{values}], width: {w}}}"]]
    else:
        conds = [
            [f"{{index: {i}, op: eq, value: {v:#x}, width: {w}}}" for i, w, v in g]
            for g in sorted(use.guarded)
        ]
    for args in conds:
        out += [
            "  - action: allow",
            f"    reason: {quoted(f'{category(sc)} (recorded; the base decides by arguments)')}",
            f"    abis: [{abi_name}]",
            f"    syscalls: [{sc}]",
            "    args:",
            *(f"      - {a}" for a in args),
        ]
    return out


def _bound_rule(
    sc: str, key_abis: tuple[str, ...], abis: tuple[str, ...], count: int, values: Counter[int]
) -> list[str]:
    index = ARG_CONDITIONS[sc]
    shown = ", ".join(f"{v:#x}" for v in sorted(values))
    counts = "; ".join(f"{v:#x}: {plural(c, 'call')}" for v, c in sorted(values.items()))
    out = [
        f"  # {sc}: {plural(count, 'call')}; argument {index} seen as {counts}",
        "  - action: allow",
        f"    reason: {quoted(f'{category(sc)} (recorded argument values)')}",
    ]
    if key_abis:
        out.append(f"    abis: [{', '.join(key_abis)}]")
    out += [
        f"    syscalls: [{sc}]",
        "    args:",
        f"      - {{index: {index}, op: eq, value: [{shown}]}}",
    ]
    return out


def default_name(command: Sequence[str]) -> str:
    """A policy name from the program's name: ``recorded-busybox``."""
    prog = os.path.basename(command[0]) if command else "workload"
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", prog).strip("-") or "workload"
    return f"recorded-{slug}"
