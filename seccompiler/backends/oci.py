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
ABIs whose decisions agree per syscall name (in practice: one kernel family). Syscalls a
policy names by number (``nr:``) have no name to write: they are left to ``defaultAction``,
and refused at their rule where it would answer them otherwise.
``defaultAction`` is the program's ``unknown`` action where possible, so numbers newer than
the table (and names the runtime's libseccomp does not know, which runtimes skip) get it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from seccompiler.arch.abi import MULTIPLEXED_NUMBERS
from seccompiler.backends.dnf import (
    TRUE,
    Dnf,
    Lit,
    NotExpressible,
    TooMuchWork,
    Work,
    lits_in_order,
    regions,
    term_order,
)
from seccompiler.base.errors import Location
from seccompiler.frontend.scmp import ACTION_NAMES, OP_NAMES
from seccompiler.program import AbiProgram, Action, ActionKind, Op, Program


def _check_ordered32(progs: tuple[AbiProgram, ...]) -> None:
    """Refuse, at the rule, an ordered comparison on the low word: libseccomp has no such form.

    Widening it to 64 bits is no way out on an int argument (a caller sets the upper half to
    slip past); the BPF output says it exactly.
    """
    for p in progs:
        if p.abi.bits == 32:
            continue  # libseccomp compares a 32-bit ABI's low word: the comparison it is
        for sp in p.syscalls.values():
            for rule in sp.rules:
                for c in rule.conditions:
                    if c.width == 32 and c.op in (Op.LT, Op.LE, Op.GT, Op.GE):
                        o = rule.origin
                        raise NotExpressible(
                            f"{sp.name}: a 32-bit ordered comparison ({c}) has no libseccomp "
                            "form, so OCI JSON cannot say it",
                            hint="emit only BPF and PFC (--format bpf,pfc), or spell the "
                            "values out with op: eq and a list; width: 64 would let a caller "
                            "slip past through the upper half",
                            location=Location(o.path, o.line, o.column) if o else None,
                        )


def _check_low_word(progs: tuple[AbiProgram, ...]) -> None:
    """Refuse, at the rule, a comparison of a whole 64-bit register on x32 or MIPS n32:
    libseccomp compares their low word only, so the runtime's filter would answer otherwise
    (a masked comparison whose mask leaves the upper half out means the same)."""
    for p in progs:
        if p.abi.register_bits == p.abi.bits:
            continue
        for sp in p.syscalls.values():
            for rule in sp.rules:
                for c in rule.conditions:
                    if c.effective_width(p.abi) == 32 or (
                        c.op is Op.MASKED_EQ and not c.mask >> 32 and not c.value >> 32
                    ):
                        continue  # (a value past the mask's low word: never, not libseccomp's)
                    o = rule.origin
                    raise NotExpressible(
                        f"{sp.name} on {p.abi.name}: {c} compares the whole register, which "
                        f"the kernel reads, but libseccomp compares {p.abi.name}'s low word, "
                        "so a runtime loading OCI JSON would answer otherwise",
                        hint=f"leave {p.abi.name} out of this rule (abis:) for the JSON you "
                        "ship, or emit only BPF and PFC (--format bpf,pfc)",
                        location=Location(o.path, o.line, o.column) if o else None,
                    )


def _check_numbered(progs: tuple[AbiProgram, ...], default: Action) -> None:
    """Refuse, at its rule, a syscall named by number that the runtime would answer otherwise.

    The format names syscalls, and runtimes skip names their libseccomp does not know, so a
    number the table has no name for is left to ``defaultAction``: exact only when the policy
    answers it with that very action, whatever the arguments.
    """
    for p in progs:
        for _nr, sp in sorted(p.syscalls.items()):
            if not sp.numbered or (not sp.rules and sp.fallback == default):
                continue
            o = sp.rules[0].origin if sp.rules else sp.fallback_origin
            says = f"{sp.fallback}" if not sp.rules else "by its arguments"
            raise NotExpressible(
                f"syscall {sp.name} on {p.abi.name} is ruled by number, and OCI JSON names "
                f"syscalls: the runtime would answer it {default} (the profile's default) "
                f"where the policy decides {says}",
                hint=f"leave {p.abi.name} out of this rule's 'nr:' (or 'abis:') for the JSON "
                "you ship, or emit only BPF and PFC (--format bpf,pfc), which say it exactly",
                location=Location(o.path, o.line, o.column) if o else None,
            )


def _by_action(item: tuple[Action, Any]) -> tuple[int, int]:
    return item[0].sort_key()


def _key(action: Action) -> tuple[int, int]:
    return action.sort_key()


def _action_json(action: Action) -> dict[str, Any]:
    out: dict[str, Any] = {"action": ACTION_NAMES[action.kind]}
    if action.kind in (ActionKind.ERRNO, ActionKind.TRACE):
        out["errnoRet"] = action.data
    return out


def _lit_json(lit: Lit) -> dict[str, Any]:
    if lit.op == "masked_eq":
        return {
            "index": lit.index,
            "value": lit.mask,
            "valueTwo": lit.value,
            "op": OP_NAMES[Op.MASKED_EQ],
        }
    return {"index": lit.index, "value": lit.value, "valueTwo": 0, "op": OP_NAMES[Op(lit.op)]}


def _decisions(progs: tuple[AbiProgram, ...]) -> dict[str, tuple[tuple[Any, ...], Action]]:
    out: dict[str, tuple[tuple[Any, ...], Action]] = {}
    seen_in: dict[str, str] = {}
    for p in progs:
        for sp in p.syscalls.values():
            if sp.numbered:
                continue  # no name to write: _check_numbered
            key = (tuple((r.conditions, r.action) for r in sp.rules), sp.fallback)
            if sp.name in out and out[sp.name] != key:
                if p.abi.register_bits != p.abi.bits and _low(out[sp.name]) == _low(key):
                    continue  # libseccomp makes these low-word rules of the rendered ones
                raise NotExpressible(
                    f"syscall '{sp.name}' is decided differently on {seen_in[sp.name]} and "
                    f"{p.abi.name}; flat OCI JSON cannot tell ABIs apart",
                    hint="emit one profile per kernel family (compile does), or per ABI",
                )
            out[sp.name] = key
            seen_in.setdefault(sp.name, p.abi.name)
    return out


def _low(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """A syscall's decision as libseccomp builds it for x32 or MIPS n32 (the low word)."""
    rules, fallback = key
    return tuple((tuple(c.low_word() for c in conds), a) for conds, a in rules), fallback


# Regions already written out, by (rules, fallback, default), for renderings of one program:
# its families share most rules, and a default that cannot render a syscall fails on it the
# same way each time (the default profile's personality query was most of a compile's time,
# once per family). Running out of work is not kept: it depends on what was spent before.
Memo = dict[tuple[Any, ...], dict[Action, Dnf] | NotExpressible]


def _regions(
    rules: tuple[Any, ...], fallback: Action, default: Action, work: Work, memo: Memo
) -> dict[Action, Dnf]:
    key = (rules, fallback, default)
    found = memo.get(key)
    if found is None:
        try:
            found = regions(rules, fallback, default, work)
        except TooMuchWork:
            raise
        except NotExpressible as exc:
            found = exc
        memo[key] = found
    if isinstance(found, NotExpressible):
        raise found.with_traceback(None)
    return found


def _syscalls(
    decisions: dict[str, tuple[tuple[Any, ...], Action]],
    default: Action,
    work: Work,
    memo: Memo,
) -> list[dict[str, Any]]:
    plain: dict[Action, list[str]] = {}
    conditional: list[dict[str, Any]] = []
    for name, (rules, fallback) in sorted(decisions.items()):
        work.syscall = name
        found = _regions(rules, fallback, default, work, memo)
        for action, dnf in sorted(found.items(), key=_by_action):
            if action == default or not dnf:
                continue
            if dnf == TRUE:
                plain.setdefault(action, []).append(name)
                continue
            for term in sorted(dnf, key=term_order):
                conditional.append(
                    {
                        "names": [name],
                        **_action_json(action),
                        "args": [_lit_json(lit) for lit in lits_in_order(term)],
                    }
                )
    return [
        {"names": sorted(names), **_action_json(a)}
        for a, names in sorted(plain.items(), key=_by_action)
    ] + conditional


def to_oci(
    program: Program, abis: Iterable[str] | None = None, memo: Memo | None = None
) -> dict[str, Any]:
    """The ``linux.seccomp`` object for the given ABIs of the program (default: all).

    ``defaultAction`` is the program's ``unknown`` action when every decision can be written
    against it; otherwise the first of the program's other actions that allows an exact
    rendering (a default-deny policy needs its deny action there). Numbers the table does not
    know then get that action; ``default_is_unknown`` tells callers whether that happened.
    ``memo``: shared by the renderings of one program (``render_outputs`` passes one).
    """
    wanted = set(abis) if abis is not None else None
    progs = tuple(p for p in program.abis if wanted is None or p.abi.name in wanted)
    if not progs:
        raise NotExpressible("no ABI selected for the OCI profile")
    _check_ordered32(progs)
    _check_low_word(progs)
    unknown = progs[0].unknown
    if any(p.unknown != unknown for p in progs):
        raise NotExpressible("the ABIs disagree on the action for unknown syscalls")
    decisions = _decisions(progs)
    counts: dict[Action, int] = {}
    for _, fallback in decisions.values():
        counts[fallback] = counts.get(fallback, 0) + 1
    # a rule's action may have to be the default: on x86, socket may carry only one action
    # besides the default (see _check_multiplexed), so its refusal must be the default there
    rule_actions = sorted({r[1] for rules, _ in decisions.values() for r in rules}, key=_key)
    candidates = [
        unknown,
        *sorted(counts, key=lambda a: (-counts[a], a.sort_key())),
        *rule_actions,
    ]
    failure: NotExpressible | None = None
    tried: list[str] = []
    work = Work()  # one budget for every default tried
    for default in dict.fromkeys(candidates):
        try:
            syscalls = _syscalls(decisions, default, work, {} if memo is None else memo)
            _check_multiplexed(syscalls, progs)
            _check_numbered(progs, default)
        except TooMuchWork as exc:
            if failure is None:
                raise
            # the budget ran out on a later default: say why the earlier ones could not serve
            raise TooMuchWork(
                f"{exc.message} (trying defaultAction {default}; before it, "
                f"{', '.join(tried)} could not write the profile exactly, the first because "
                f"{failure.message})",
                hint=exc.hint,
            ) from None
        except NotExpressible as exc:
            failure = failure or exc
            tried.append(str(default))
            continue
        out: dict[str, Any] = {"defaultAction": ACTION_NAMES[default.kind]}
        if default.kind in (ActionKind.ERRNO, ActionKind.TRACE):
            out["defaultErrnoRet"] = default.data
        out["architectures"] = [p.abi.oci for p in progs]
        out["syscalls"] = syscalls
        return out
    assert failure is not None
    raise failure


# On ABIs with the socketcall/ipc multiplexers, libseccomp copies every rule for these calls
# onto the multiplexer (syscalls.c, abi_rule_add): argument 0 becomes the call number (an
# equality on all 64 bits), the other conditions stay, now applied to the multiplexer's own
# arguments. Two such copies with different actions collide (the runtime refuses the profile
# with EEXIST); a copy whose action is not what the program decides for the multiplexer
# would make the runtime's filter disagree with the program.
_MULTIPLEXERS = tuple(MULTIPLEXED_NUMBERS.items())


def _check_multiplexed(syscalls: list[dict[str, Any]], progs: tuple[AbiProgram, ...]) -> None:
    """Refuse a rendering whose copies onto socketcall/ipc would collide or disagree."""
    muxed = [p for p in progs if p.abi.multiplexed]
    if not muxed:
        return
    copies: dict[str, set[str]] = {}
    for entry in syscalls:
        for name in entry["names"]:
            if any(name in calls for _, calls in _MULTIPLEXERS):
                if any(a["index"] != 0 for a in entry.get("args", ())):
                    raise NotExpressible(
                        f"libseccomp would copy the conditions on '{name}' beyond argument 0 "
                        "onto its multiplexer, where those arguments are other values",
                        hint="condition only argument 0, or load the BPF output directly",
                    )
                action = {k: v for k, v in entry.items() if k in ("action", "errnoRet")}
                copies.setdefault(name, set()).add(json.dumps(action, sort_keys=True))
    for name, seen in sorted(copies.items()):
        if len(seen) > 1:
            raise NotExpressible(
                f"'{name}' needs rules with different actions, which libseccomp's socketcall "
                "and ipc handling turns into colliding rules",
                hint="give all of its rules one action, or load the BPF output directly",
            )
    for p in muxed:
        for mux, calls in _MULTIPLEXERS:
            sp = next((s for s in p.syscalls.values() if s.name == mux), None)
            if sp is None:
                continue
            if any(c.index != 0 for r in sp.rules for c in r.conditions):
                raise NotExpressible(
                    f"'{mux}' is decided on arguments behind its pointer on {p.abi.name}",
                    hint="condition only its argument 0 (the call number)",
                )
            for name, number in calls.items():
                if name not in copies:
                    continue  # no rule to copy: the multiplexer's own rules decide
                want = _action_json(sp.decide((number, 0, 0, 0, 0, 0), p.abi))
                if any(json.loads(g) != want for g in copies[name]):
                    raise NotExpressible(
                        f"libseccomp would give {mux}({number}) on {p.abi.name} the action of "
                        f"'{name}''s rules, not what the policy decides for {mux}",
                        hint=f"decide {mux} for call {number} as '{name}' is decided, "
                        "or load the BPF output directly",
                    )


def default_is_unknown(program: Program, doc: dict[str, Any]) -> bool:
    """Whether the OCI default answers unknown numbers the way the program does."""
    unknown = program.abis[0].unknown
    return bool(
        doc["defaultAction"] == ACTION_NAMES[unknown.kind]
        and doc.get("defaultErrnoRet", 0) == (unknown.data if "defaultErrnoRet" in doc else 0)
    )


def render(program: Program, abis: Iterable[str] | None = None, memo: Memo | None = None) -> bytes:
    """Deterministic JSON text of ``to_oci``."""
    return (json.dumps(to_oci(program, abis, memo), indent=2) + "\n").encode()


def render_family(program: Program, family: str, memo: Memo | None = None) -> bytes:
    """The OCI profile for one kernel family of the program."""
    progs = program.families()[family]
    return render(program, [p.abi.name for p in progs], memo)


__all__ = ["Memo", "NotExpressible", "default_is_unknown", "render", "render_family", "to_oci"]
