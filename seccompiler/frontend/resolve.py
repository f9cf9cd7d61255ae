"""Resolve a ``Policy`` into a ``Program``: per ABI, every syscall number's decision list.

Semantics: rules apply in order and the last matching rule wins, so later rules (and files
that extend others) override earlier ones. A rule whose capabilities are not all granted, or
whose ``abis`` exclude the ABI, does not apply. Syscalls no rule names get ``default``;
numbers the table does not know get ``unknown``, unless an applying rule names them with
``nr:`` (a syscall newer than the table): then they are the policy's syscalls like named
ones, shown as ``#480``, and get ``default`` where no rule decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from seccompiler.arch import abi as abimod
from seccompiler.arch import catalog, tables
from seccompiler.base.errors import InputError, UsageError
from seccompiler.frontend.policy import Policy, RuleSpec, expand_names
from seccompiler.program import (
    AbiProgram,
    Action,
    ArgCond,
    Origin,
    Program,
    Rule,
    SyscallProgram,
    number_label,
)


def normalise_caps(caps: Iterable[str] | None) -> frozenset[str]:
    """Parse ``--caps`` values: names, ``default``, ``none``, ``all``; None means default.

    The default is the container runtimes' default capability set.
    """
    if caps is None:
        return catalog.DEFAULT_CAPS
    out: set[str] = set()
    for raw in caps:
        for part in raw.split(","):
            word = part.strip().upper()
            if word in ("", "NONE"):
                continue
            if word == "ALL":
                out.update(catalog.CAPABILITIES)
            elif word == "DEFAULT":
                out.update(catalog.DEFAULT_CAPS)
            else:
                cap = word if word.startswith("CAP_") else "CAP_" + word
                if cap not in catalog.CAPABILITIES:
                    raise UsageError(
                        f"unknown capability '{part.strip()}'",
                        hint="use names such as CAP_SYS_ADMIN, or 'default', 'none', 'all'",
                    )
                out.add(cap)
    return frozenset(out)


def select_abis(policy: Policy, abis: Sequence[str] | None) -> tuple[str, ...]:
    """The policy's ABIs, or the subset ``--abi`` asks for (an ABI it lacks is a usage error)."""
    if not abis:
        return policy.abis
    out = []
    for raw in abis:
        for part in raw.split(","):
            if not part.strip():
                continue
            a = abimod.lookup(part)
            if a is None:
                raise UsageError(f"unknown ABI '{part}'", hint=f"known: {', '.join(abimod.ABIS)}")
            if a.name not in policy.abis:
                raise UsageError(
                    f"the policy does not cover ABI '{a.name}'",
                    hint=f"it covers: {', '.join(policy.abis)}",
                )
            if a.name not in out:
                out.append(a.name)
    if not out:
        raise UsageError("--abi names no ABI", hint=f"give one of: {', '.join(policy.abis)}")
    return tuple(out)


# A seccomp filter holds at most 4096 instructions (BPF_MAXINSNS), and every conditional
# rule costs at least one, in our BPF and in libseccomp's build of the OCI JSON alike: an
# ABI with more rules than that can never be loaded, so it is refused before any work.
MAX_SYSCALL_RULES = 4096


def _too_many(spec: RuleSpec, what: str, abi: str, count: int) -> InputError:
    return InputError(
        f"{what} needs {count} conditional rules on {abi} with this rule (value lists "
        f"multiply out); each costs at least one instruction, and a seccomp filter holds "
        f"{MAX_SYSCALL_RULES} instructions",
        hint="shorten the value lists, or decide these syscalls with fewer rules",
        location=spec.action_mark.location(),
    )


def _conds(spec: RuleSpec, syscall: str, abi: str, room: int) -> list[tuple[ArgCond, ...]]:
    """Argument specs → alternative condition tuples (a value list multiplies out)."""
    int_args = catalog.int_args().get(syscall, frozenset())
    count = 1
    for arg in spec.args:
        count *= len(arg.values)
    if spec.args and count > room:
        raise _too_many(spec, f"'{syscall}'", abi, MAX_SYSCALL_RULES - room + count)
    alts: list[tuple[ArgCond, ...]] = [()]
    for arg in spec.args:
        width = arg.width or (32 if arg.index in int_args else 64)
        limit = (1 << width) - 1
        options = [
            ArgCond(arg.index, arg.op, v & limit, arg.mask & limit, width) for v in arg.values
        ]
        alts = [(*a, c) for a in alts for c in options]
    return alts


def _origin(policy_rule: RuleSpec, reason: str) -> Origin:
    m = policy_rule.action_mark
    return Origin(m.path, m.line, m.column, reason)


def resolve_abi(policy: Policy, abi_name: str, caps: frozenset[str]) -> AbiProgram:
    abi = abimod.ABIS[abi_name]
    table = tables.table(abi)
    names = dict(table.by_nr)  # the table's, and the numbers the applying rules name
    per_nr: dict[int, list[Rule]] = {}
    conditional: dict[int, int] = {}  # conditional rules so far, per number
    total = 0
    for spec in policy.rules:
        if spec.abis is not None and abi_name not in spec.abis:
            continue
        if not spec.caps <= caps:
            continue
        covered: list[tuple[int | None, str, str]] = [
            (table.by_name.get(n), n, why) for n, why in expand_names(spec).items()
        ]
        for a, number, _ in spec.numbers:  # nr: numbers the table has no name for
            if a == abi_name:
                names[number] = number_label(abi, number)
                covered.append((number, names[number], spec.reason))
        for found, name, reason in covered:
            if found is None:
                continue
            nr = found
            origin = _origin(spec, reason)
            alts = _conds(spec, name, abi_name, MAX_SYSCALL_RULES - conditional.get(nr, 0))
            if spec.args:
                conditional[nr] = conditional.get(nr, 0) + len(alts)
                total += len(alts)
                if total > MAX_SYSCALL_RULES:
                    raise _too_many(spec, "the policy", abi_name, total)
            per_nr.setdefault(nr, []).extend(Rule(conds, spec.action, origin) for conds in alts)
    syscalls: dict[int, SyscallProgram] = {}
    for nr, name in sorted(names.items()):
        fallback: Action = policy.default
        fallback_origin: Origin | None = None
        ordered: list[Rule] = []
        for rule in reversed(per_nr.get(nr, [])):  # last rule first: it wins
            if not rule.conditions:
                fallback, fallback_origin = rule.action, rule.origin
                break
            ordered.append(rule)
        # rules that cannot change the answer are dropped: same action as what follows them
        while ordered and ordered[-1].action == fallback:
            ordered.pop()
        syscalls[nr] = SyscallProgram(name, nr, tuple(ordered), fallback, fallback_origin)
    return AbiProgram(abi, syscalls, policy.default, policy.unknown, table.max_nr)


def resolve(
    policy: Policy, *, caps: Iterable[str] | None = None, abis: Sequence[str] | None = None
) -> Program:
    """Resolve ``policy`` for the granted capabilities and the selected ABIs."""
    granted = normalise_caps(caps)
    chosen = select_abis(policy, abis)
    return Program(
        name=policy.name,
        abis=tuple(resolve_abi(policy, a, granted) for a in chosen),
        sources=policy.sources,
        notes=policy.notes,
        **({"bad_arch": policy.bad_arch} if policy.bad_arch is not None else {}),
    )
