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
from seccompiler.frontend.policy_spec import ArgSpec
from seccompiler.program import (
    AbiProgram,
    Action,
    ArgCond,
    Op,
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
    own = abimod.ABIS[abi]
    widths = catalog.arg_widths(abi).get(syscall, ())
    # the width a condition is written at follows the C type, as the 64-bit ABI of the
    # kernel family has it, so that one rule means one condition on every ABI of the family
    native = catalog.arg_widths(own.family).get(syscall) if own.family in abimod.ABIS else None
    count = 1
    for arg in spec.args:
        count *= len(arg.values)
    if spec.args and count > room:
        raise _too_many(spec, f"'{syscall}'", abi, MAX_SYSCALL_RULES - room + count)
    alts: list[tuple[ArgCond, ...]] = [()]
    for arg in spec.args:
        options = _arg_conds(arg, syscall, own, widths, widths if native is None else native)
        alts = [(*a, c) if c is not ALWAYS else a for a in alts for c in options]
    return alts


ALWAYS = ArgCond(0, Op.EQ, 0)  # stands for a condition every call meets: it is left out


def _arg_conds(
    arg: ArgSpec,
    syscall: str,
    abi: abimod.Abi,
    widths: tuple[int, ...],
    native: tuple[int, ...],
) -> list[ArgCond]:
    """One argument spec as the conditions (any of which may hold) on what the filter sees,
    exactly: none can be sidestepped through bits the kernel does not read, and none
    changes meaning where a value has more bits than the argument can hold.

    The kernel reads an argument as its C type: an ``int`` is the low 32 bits of the
    register, a ``umode_t`` the low 16 (``arg-widths.tsv``), and a 32-bit ABI's registers
    hold 32 bits (x32's and MIPS n32's are 64 bits wide). Without ``width:`` a condition
    compares what the kernel reads: 32 bits, or 64 for an argument read whole (on a 32-bit
    ABI: that its family's 64-bit ABI reads whole); a 16-bit one becomes a masked
    comparison of its low 16 bits, which only ``eq`` and ``masked_eq`` can say. A value the
    argument cannot hold is decided here: ``eq 0x100000000`` on an int never holds (left
    out), ``lt 0x100000000`` always does (``ALWAYS``); cut to ``lt 0`` it would turn around.
    """
    read = widths[arg.index] if arg.index < len(widths) else abi.register_bits
    if abi.register_bits == 64:
        typed = read  # x32's compat entries read an int where x86_64's read a long
    else:  # as the family's 64-bit ABI reads it, so one rule is one condition across it
        typed = native[arg.index] if arg.index < len(native) else 64
        typed = min(typed, read if read < 32 else 64)
    width = arg.width or (32 if typed <= 32 else 64)
    seen = min(width, abi.register_bits)  # a 32-bit ABI's registers hold 32 bits
    holds = min(seen, read) if arg.width is None else seen  # the values an argument can have
    top = (1 << holds) - 1
    out: list[ArgCond] = []
    for v in arg.values:
        if v <= top:
            out.append(ArgCond(arg.index, arg.op, v, arg.mask & top, width))
        elif arg.op in (Op.NE, Op.LT, Op.LE):
            return [ALWAYS]  # every value the argument can have is below v: the rule applies
        # eq, gt, ge, and masked_eq with a value bit the argument cannot have: never
    if holds >= 32 or not out:
        return out
    # a 16-bit argument: its low 16 bits, whatever the caller puts above them
    if arg.op is Op.EQ:
        return [ArgCond(c.index, Op.MASKED_EQ, c.value, top, 32) for c in out]
    if arg.op is Op.MASKED_EQ:
        return [ArgCond(c.index, Op.MASKED_EQ, c.value, c.mask, 32) for c in out]
    raise InputError(
        f"{syscall}: argument {arg.index} is a {holds}-bit value to the kernel, which ignores "
        f"the rest of the register; '{arg.op.value}' cannot compare only its low {holds} bits",
        hint="compare it with 'eq' (a list for several values) or 'masked_eq', or say "
        "'width: 32' to compare the low 32 bits as written",
        location=arg.mark.location(),
    )


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
