"""The twin filter: every refusing action recoded as a distinctive errno, proven equal.

A call the twin filter answers with -N (N >= ``TWIN_BASE``) was refused by the filter with
the action coded N; nothing else in the kernel returns such a number.
"""

from __future__ import annotations

from collections.abc import Iterable

from seccompiler.base.errors import UsageError
from seccompiler.bpf import emulate
from seccompiler.bpf.insn import RET, decode
from seccompiler.program import (
    ALLOW,
    Action,
    ActionKind,
    Program,
)
from seccompiler.runner import probe

TWIN_BASE = 4000


def _actions(program: Program) -> set[Action]:
    out = {program.bad_arch}
    for p in program.abis:
        out |= {p.default, p.unknown}
        for sp in p.syscalls.values():
            out |= sp.actions
    return out


def twin_codes(program: Program) -> dict[Action, Action]:
    """Map every action but allow to a distinctive ``errno(N)``, N >= TWIN_BASE."""
    actions = sorted((a for a in _actions(program) if a != ALLOW), key=lambda a: a.sort_key())
    taken = {a.data for a in _actions(program) if a.kind is ActionKind.ERRNO}
    out: dict[Action, Action] = {}
    n = TWIN_BASE
    for a in actions:
        while n in taken:
            n += 1
        if n > 4095:
            raise UsageError("the policy uses too many distinct actions to code them as errnos")
        out[a] = Action(ActionKind.ERRNO, n)
        n += 1
    return out


def twin_program(program: Program, codes: dict[Action, Action]) -> Program:
    """The same program with every action passed through ``codes``."""
    return program.map_actions(lambda a: codes.get(a, a))


def prove_twin(
    real: bytes,
    twin: bytes,
    codes: dict[Action, Action],
    inputs: Iterable[tuple[int, int, tuple[int, ...]]],
) -> str:
    """Show that ``twin`` decides as ``real`` with actions mapped through ``codes``.

    First structurally: same instructions except return constants, each of which maps.
    That holds for every input. Failing that, by the emulator on every planned input.
    Raises UsageError when neither holds.
    """
    ri, ti = decode(real), decode(twin)
    if len(ri) == len(ti) and all(
        (a.code, a.jt, a.jf) == (b.code, b.jt, b.jf)
        and (
            a.k == b.k
            if a.code != RET
            else codes.get(Action.from_ret(a.k), Action.from_ret(a.k)).ret == b.k
        )
        for a, b in zip(ri, ti, strict=True)
    ):
        return "structural"
    rf, tf = emulate.Filter(ri), emulate.Filter(ti)
    for arch, nr, args in inputs:
        d = emulate.SeccompData(nr, arch, 0, emulate.make_args(args))
        ra, ta = rf.run(d).action, tf.run(d).action
        if codes.get(ra, ra) != ta:
            raise UsageError(
                f"the twin filter differs from the real one at nr {nr} "
                f"(arch {arch:#x}): {ra} vs {ta}"
            )
    return "emulator"


def decode_twin(obs: probe.Observation, by_code: dict[int, Action]) -> Action | None:
    """The action a twin-filter observation proves, or None when the call ran."""
    if obs.outcome == "returned" and obs.errno in by_code and obs.ret == -obs.errno:
        return by_code[obs.errno]
    return None
