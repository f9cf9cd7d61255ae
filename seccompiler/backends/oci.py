"""OCI backend: a resolved ``Program`` → the flat runtime-spec ``linux.seccomp`` object.

The runtimes hand this JSON to libseccomp, whose rules differ from ours in three ways that
shape the output (facts from seccomp_rule_add(3) and the runtime-spec):
- one comparison per argument per rule, and no negation: we negate conditions ourselves
  (``x != v`` is one rule; ``(x & m) != v`` is one rule per mask bit) and multiply the
  decision list out into disjoint regions, one rule per region term;
- overlapping rules with different actions have no defined winner: the regions we emit for
  different actions never overlap;
- a rule whose action equals ``defaultAction`` is dropped by runc: we never emit one.
There is no per-architecture filtering in the flat format, so a profile covers one set of
ABIs whose decisions agree per syscall name (in practice: one kernel family).
``defaultAction`` is the program's ``unknown`` action where possible, so numbers newer than
the table (and names the runtime's libseccomp does not know, which runtimes skip) get it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from seccompiler.base.errors import InputError
from seccompiler.program import U32, AbiProgram, Action, ActionKind, ArgCond, Op, Program

MAX_TERMS = 256

_ACTION_NAMES = {
    ActionKind.KILL_PROCESS: "SCMP_ACT_KILL_PROCESS",
    ActionKind.KILL_THREAD: "SCMP_ACT_KILL_THREAD",
    ActionKind.TRAP: "SCMP_ACT_TRAP",
    ActionKind.ERRNO: "SCMP_ACT_ERRNO",
    ActionKind.USER_NOTIF: "SCMP_ACT_NOTIFY",
    ActionKind.TRACE: "SCMP_ACT_TRACE",
    ActionKind.LOG: "SCMP_ACT_LOG",
    ActionKind.ALLOW: "SCMP_ACT_ALLOW",
}
_OPS = {
    "eq": "SCMP_CMP_EQ",
    "ne": "SCMP_CMP_NE",
    "lt": "SCMP_CMP_LT",
    "le": "SCMP_CMP_LE",
    "gt": "SCMP_CMP_GT",
    "ge": "SCMP_CMP_GE",
    "masked_eq": "SCMP_CMP_MASKED_EQ",
}


class NotExpressible(InputError):
    """The program says something flat OCI JSON (libseccomp rules) cannot say exactly."""


@dataclass(frozen=True, order=True)
class Lit:
    """One libseccomp comparison: ``(arg & mask) == value`` for masked_eq, else ``arg op value``."""

    index: int
    op: str
    value: int
    mask: int = 0

    def holds(self, x: int) -> bool:
        if self.op == "masked_eq":
            return (x & self.mask) == self.value
        return {
            "eq": x == self.value,
            "ne": x != self.value,
            "lt": x < self.value,
            "le": x <= self.value,
            "gt": x > self.value,
            "ge": x >= self.value,
        }[self.op]


Term = frozenset[Lit]
Dnf = list[Term]  # [] is false; [frozenset()] is true
TRUE: Dnf = [frozenset()]
_NEG = {"eq": "ne", "ne": "eq", "lt": "ge", "ge": "lt", "le": "gt", "gt": "le"}


def _bits(mask: int) -> list[int]:
    return [1 << i for i in range(64) if mask >> i & 1]


def _neg_lit(lit: Lit) -> Dnf:
    if lit.op != "masked_eq":
        return [frozenset({Lit(lit.index, _NEG[lit.op], lit.value)})]
    if lit.value & ~lit.mask:
        return TRUE  # the literal can never hold
    return [
        frozenset({Lit(lit.index, "masked_eq", bit & ~lit.value, bit)}) for bit in _bits(lit.mask)
    ]


def _cond_dnf(c: ArgCond, negate: bool) -> Dnf:
    if c.width == 32 and c.op in (Op.LT, Op.LE, Op.GT, Op.GE):
        raise NotExpressible(
            f"a 32-bit ordered comparison ({c}) has no libseccomp form",
            hint="use width: 64, or load the BPF output directly",
        )
    if c.width == 32 and c.op in (Op.EQ, Op.NE):
        lit = Lit(c.index, "masked_eq", c.value, U32)
        positive = c.op is Op.EQ
    elif c.op is Op.MASKED_EQ:
        lit, positive = Lit(c.index, "masked_eq", c.value, c.mask), True
    else:
        lit, positive = Lit(c.index, c.op.value, c.value), True
    if positive != negate:
        return [frozenset({lit})]
    return _neg_lit(lit)


def _interval(lit: Lit) -> tuple[int, int] | None:
    """The values an ordered comparison admits, as [low, high]; None for other ops."""
    top = (1 << 64) - 1
    return {
        "gt": (lit.value + 1, top),
        "ge": (lit.value, top),
        "lt": (0, lit.value - 1),
        "le": (0, lit.value),
    }.get(lit.op)


def _merge_same_arg(a: Lit, b: Lit) -> Lit | bool | None:
    """Conjunction of two literals on one argument: a literal, False (never), or None."""
    if a == b:
        return a
    if a.op == "masked_eq" and b.op == "masked_eq":
        if (a.value ^ b.value) & a.mask & b.mask:
            return False
        return Lit(a.index, "masked_eq", a.value | b.value, a.mask | b.mask)
    for x, y in ((a, b), (b, a)):
        if x.op == "eq":
            return x if y.holds(x.value) else False
    ia, ib = _interval(a), _interval(b)
    if ia is not None and ib is not None:
        low, high = max(ia[0], ib[0]), min(ia[1], ib[1])
        if low > high:
            return False
        for x, ix in ((a, ia), (b, ib)):
            if (low, high) == ix:
                return x  # one bound implies the other
        return None  # a range needs two comparisons on one argument
    for x, y, iy in ((a, b, ib), (b, a, ia)):
        if x.op == "ne" and iy is not None and not iy[0] <= x.value <= iy[1]:
            return y  # the excluded value lies outside the range anyway
    return None


def _simplify(term: Term) -> Term | None:
    by_arg: dict[int, Lit] = {}
    for lit in sorted(term):
        prev = by_arg.get(lit.index)
        if prev is None:
            by_arg[lit.index] = lit
            continue
        merged = _merge_same_arg(prev, lit)
        if merged is False:
            return None
        if merged is None or merged is True:
            raise NotExpressible(
                f"conditions {prev} and {lit} on one argument cannot share a libseccomp rule",
                hint="rewrite the rules, or load the BPF output directly",
            )
        assert isinstance(merged, Lit)
        by_arg[lit.index] = merged
    return frozenset(by_arg.values())


def _lit_implies(b: Lit, a: Lit) -> bool:
    """Whether ``b`` holding forces ``a`` to hold (both on one argument)."""
    if a == b:
        return True
    if b.op == "eq":
        return a.holds(b.value)
    if a.op == "masked_eq" and b.op == "masked_eq":
        return (a.mask & ~b.mask) == 0 and (b.value & a.mask) == a.value
    return False


def _term_implies(t: Term, k: Term) -> bool:
    return all(any(x.index == y.index and _lit_implies(x, y) for x in t) for y in k)


def _and(a: Dnf, b: Dnf) -> Dnf:
    out: set[Term] = set()
    for x in a:
        for y in b:
            t = _simplify(x | y)
            if t is not None:
                out.add(t)
    terms = sorted(out, key=lambda t: (len(t), sum(bin(x.mask).count("1") for x in t), sorted(t)))
    kept: list[Term] = []
    for t in terms:  # absorption: a term that implies a kept one adds nothing to the union
        if not any(_term_implies(t, k) for k in kept):
            kept.append(t)
    if len(kept) > MAX_TERMS:
        raise NotExpressible(
            f"the conditions need more than {MAX_TERMS} libseccomp rules for one syscall",
            hint="simplify the argument conditions, or load the BPF output directly",
        )
    return kept


def _regions(
    rules: Iterable[tuple[tuple[ArgCond, ...], Action]], fallback: Action, default: Action
) -> dict[Action, Dnf]:
    """Disjoint regions of the decision list, per action; ``default``'s is not computed.

    A rule's region is its conditions and the negation of every earlier rule; the positive
    conditions go first so that e.g. ``x == 0`` absorbs ``x != 8`` before anything multiplies.
    """
    out: dict[Action, Dnf] = {}
    misses: list[Dnf] = []  # one "this earlier rule did not match" per earlier rule
    for conds, action in rules:
        if action != default:
            here: Dnf = TRUE
            for c in conds:
                here = _and(here, _cond_dnf(c, negate=False))
            for miss in misses:
                here = _and(here, miss)
            out.setdefault(action, []).extend(here)
        negated: Dnf = []
        for c in conds:
            negated.extend(_cond_dnf(c, negate=True))
        misses.append(negated)
    if fallback != default:
        here = TRUE
        for miss in misses:
            here = _and(here, miss)
        out.setdefault(fallback, []).extend(here)
    return out


def _by_action(item: tuple[Action, Any]) -> tuple[int, int]:
    return item[0].sort_key()


def _action_json(action: Action) -> dict[str, Any]:
    out: dict[str, Any] = {"action": _ACTION_NAMES[action.kind]}
    if action.kind in (ActionKind.ERRNO, ActionKind.TRACE):
        out["errnoRet"] = action.data
    return out


def _lit_json(lit: Lit) -> dict[str, Any]:
    if lit.op == "masked_eq":
        return {
            "index": lit.index,
            "value": lit.mask,
            "valueTwo": lit.value,
            "op": _OPS["masked_eq"],
        }
    return {"index": lit.index, "value": lit.value, "valueTwo": 0, "op": _OPS[lit.op]}


def _decisions(progs: tuple[AbiProgram, ...]) -> dict[str, tuple[tuple[Any, ...], Action]]:
    out: dict[str, tuple[tuple[Any, ...], Action]] = {}
    seen_in: dict[str, str] = {}
    for p in progs:
        for sp in p.syscalls.values():
            key = (tuple((r.conditions, r.action) for r in sp.rules), sp.fallback)
            if sp.name in out and out[sp.name] != key:
                raise NotExpressible(
                    f"syscall '{sp.name}' is decided differently on {seen_in[sp.name]} and "
                    f"{p.abi.name}; flat OCI JSON cannot tell ABIs apart",
                    hint="emit one profile per kernel family (compile does), or per ABI",
                )
            out[sp.name] = key
            seen_in.setdefault(sp.name, p.abi.name)
    return out


def _syscalls(
    decisions: dict[str, tuple[tuple[Any, ...], Action]], default: Action
) -> list[dict[str, Any]]:
    plain: dict[Action, list[str]] = {}
    conditional: list[dict[str, Any]] = []
    for name, (rules, fallback) in sorted(decisions.items()):
        for action, dnf in sorted(_regions(rules, fallback, default).items(), key=_by_action):
            if action == default or not dnf:
                continue
            if dnf == TRUE:
                plain.setdefault(action, []).append(name)
                continue
            for term in sorted(dnf, key=lambda t: sorted(t)):
                conditional.append(
                    {
                        "names": [name],
                        **_action_json(action),
                        "args": [_lit_json(lit) for lit in sorted(term)],
                    }
                )
    return [
        {"names": sorted(names), **_action_json(a)}
        for a, names in sorted(plain.items(), key=_by_action)
    ] + conditional


def to_oci(program: Program, abis: Iterable[str] | None = None) -> dict[str, Any]:
    """The ``linux.seccomp`` object for the given ABIs of the program (default: all).

    ``defaultAction`` is the program's ``unknown`` action when every decision can be written
    against it; otherwise the first of the program's other actions that allows an exact
    rendering (a default-deny policy needs its deny action there). Numbers the table does not
    know then get that action; ``default_is_unknown`` tells callers whether that happened.
    """
    wanted = set(abis) if abis is not None else None
    progs = tuple(p for p in program.abis if wanted is None or p.abi.name in wanted)
    if not progs:
        raise NotExpressible("no ABI selected for the OCI profile")
    unknown = progs[0].unknown
    if any(p.unknown != unknown for p in progs):
        raise NotExpressible("the ABIs disagree on the action for unknown syscalls")
    decisions = _decisions(progs)
    counts: dict[Action, int] = {}
    for _, fallback in decisions.values():
        counts[fallback] = counts.get(fallback, 0) + 1
    candidates = [unknown, *sorted(counts, key=lambda a: (-counts[a], a.sort_key()))]
    failure: NotExpressible | None = None
    for default in dict.fromkeys(candidates):
        try:
            syscalls = _syscalls(decisions, default)
            _check_multiplexed(syscalls, progs)
        except NotExpressible as exc:
            failure = failure or exc
            continue
        out: dict[str, Any] = {"defaultAction": _ACTION_NAMES[default.kind]}
        if default.kind in (ActionKind.ERRNO, ActionKind.TRACE):
            out["defaultErrnoRet"] = default.data
        out["architectures"] = [p.abi.oci for p in progs]
        out["syscalls"] = syscalls
        return out
    assert failure is not None
    raise failure


# On ABIs with the socketcall/ipc multiplexers, libseccomp also adds every rule for these
# syscalls to the multiplexer, without the argument checks (they sit behind a pointer there);
# two such rules with different actions collide and the runtime refuses the profile (EEXIST).
_MULTIPLEXED = frozenset(
    {
        "socket",
        "socketpair",
        "bind",
        "connect",
        "listen",
        "accept",
        "accept4",
        "getsockname",
        "getpeername",
        "send",
        "recv",
        "sendto",
        "recvfrom",
        "shutdown",
        "setsockopt",
        "getsockopt",
        "sendmsg",
        "recvmsg",
        "recvmmsg",
        "sendmmsg",
        "semop",
        "semget",
        "semctl",
        "semtimedop",
        "msgsnd",
        "msgrcv",
        "msgget",
        "msgctl",
        "shmat",
        "shmdt",
        "shmget",
        "shmctl",
    }
)
_HAS_MULTIPLEXER = frozenset({"x86", "ppc", "ppc64", "ppc64le", "s390", "s390x"})


def _check_multiplexed(syscalls: list[dict[str, Any]], progs: tuple[AbiProgram, ...]) -> None:
    if not any(p.abi.name in _HAS_MULTIPLEXER for p in progs):
        return
    actions: dict[str, set[tuple[str, int]]] = {}
    for entry in syscalls:
        for name in entry["names"]:
            if name in _MULTIPLEXED:
                actions.setdefault(name, set()).add((entry["action"], entry.get("errnoRet", 0)))
    for name, seen in sorted(actions.items()):
        if len(seen) > 1:
            raise NotExpressible(
                f"'{name}' needs rules with different actions, which libseccomp's socketcall "
                "and ipc handling turns into colliding rules",
                hint="give all of its rules one action, or load the BPF output directly",
            )


def default_is_unknown(program: Program, doc: dict[str, Any]) -> bool:
    """Whether the OCI default answers unknown numbers the way the program does."""
    unknown = program.abis[0].unknown
    return bool(
        doc["defaultAction"] == _ACTION_NAMES[unknown.kind]
        and doc.get("defaultErrnoRet", 0) == (unknown.data if "defaultErrnoRet" in doc else 0)
    )


def render(program: Program, abis: Iterable[str] | None = None) -> bytes:
    """Deterministic JSON text of ``to_oci``."""
    return (json.dumps(to_oci(program, abis), indent=2) + "\n").encode()


def render_family(program: Program, family: str) -> bytes:
    """The OCI profile for one kernel family of the program."""
    progs = program.families()[family]
    return render(program, [p.abi.name for p in progs])
