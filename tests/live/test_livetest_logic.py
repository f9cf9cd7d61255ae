"""The pure parts of ``test`` and the supervisor, as tables: no kernel involved.

These run everywhere (no ``live`` mark); they pin the twin-filter method's rules.
"""

from __future__ import annotations

import errno
import signal
from dataclasses import replace

import pytest

from seccompiler.arch import tables
from seccompiler.arch.abi import ABIS, X32_SYSCALL_BIT
from seccompiler.backends.bpf import compile_family
from seccompiler.base.errors import InputError, UsageError
from seccompiler.bpf.insn import RET, decode, encode
from seccompiler.program import ALLOW, KILL_PROCESS, Action, ActionKind, Program
from seccompiler.runner import livetest, probe, supervise

EPERM = Action(ActionKind.ERRNO, errno.EPERM)
ENOSYS = Action(ActionKind.ERRNO, errno.ENOSYS)
X64 = tables.table("x86_64").by_name


def test_twin_codes_are_distinct_large_errnos(default_program: Program) -> None:
    codes = livetest.twin_codes(default_program)
    assert ALLOW not in codes
    assert {EPERM, ENOSYS, KILL_PROCESS} <= set(codes)
    values = [c.data for c in codes.values()]
    assert len(set(values)) == len(values)
    assert all(c.kind is ActionKind.ERRNO and 4000 <= c.data <= 4095 for c in codes.values())


def test_twin_program_keeps_allow_and_maps_everything_else(default_program: Program) -> None:
    codes = livetest.twin_codes(default_program)
    twin = livetest.twin_program(default_program, codes)
    assert twin.bad_arch == codes[KILL_PROCESS]
    for arch, nr in [
        (ABIS["x86_64"].audit_arch, X64["uselib"]),
        (ABIS["x86_64"].audit_arch, X64["getpid"]),
        (ABIS["x86_64"].audit_arch, X64["getpid"] | X32_SYSCALL_BIT),
        (ABIS["x86"].audit_arch, 9999),
    ]:
        real = default_program.decide(arch, nr)
        assert twin.decide(arch, nr) == codes.get(real, real)


def test_structural_proof_holds_and_a_tampered_twin_is_refused(default_program: Program) -> None:
    codes = livetest.twin_codes(default_program)
    real = compile_family(default_program, "x86_64")
    twin = compile_family(livetest.twin_program(default_program, codes), "x86_64")
    assert livetest.prove_twin(real, twin, codes, []) == "structural"
    insns = list(decode(twin))
    coded = codes[EPERM].ret
    insns = [replace(i, k=ALLOW.ret) if (i.code, i.k) == (RET, coded) else i for i in insns]
    inputs = [(ABIS["x86_64"].audit_arch, nr, (0,) * 6) for nr in range(0, 480)]
    inputs += [(ABIS["x86"].audit_arch, nr, (0,) * 6) for nr in range(0, 480)]
    inputs += [(ABIS["x86_64"].audit_arch, X32_SYSCALL_BIT | nr, (0,) * 6) for nr in range(9)]
    with pytest.raises(UsageError):
        livetest.prove_twin(real, encode(insns), codes, inputs)


def _obs(
    outcome: str, ret: int = 0, sig: int = 0, trap: probe.Trap | None = None
) -> probe.Observation:
    err = -ret if -4095 <= ret < 0 else 0
    return probe.Observation(probe.Call("x86_64", 110), outcome, ret, err, sig, 0, trap)


CODES = {
    EPERM: Action(ActionKind.ERRNO, 4001),
    KILL_PROCESS: Action(ActionKind.ERRNO, 4000),
    Action(ActionKind.TRAP, 5): Action(ActionKind.ERRNO, 4002),
}
SYS = int(signal.SIGSYS)
TRAP5 = probe.Trap(5, 110, ABIS["x86_64"].audit_arch)

# (expected action, twin observation, real observation, ok?)
JUDGE = [
    (ALLOW, _obs("returned", 7), _obs("returned", 7), True),
    (ALLOW, _obs("returned", -1), _obs("returned", -1), True),  # EPERM from the kernel itself
    (ALLOW, _obs("returned", -4001), _obs("returned", -1), False),  # the filter refused
    (EPERM, _obs("returned", -4001), _obs("returned", -1), True),
    (EPERM, _obs("returned", -1), _obs("returned", -1), False),  # kernel EPERM, filter allowed
    (EPERM, _obs("returned", -4001), _obs("returned", -13), False),  # wrong errno in real
    (KILL_PROCESS, _obs("returned", -4000), _obs("signaled", sig=SYS), True),
    (KILL_PROCESS, _obs("returned", -4001), _obs("signaled", sig=SYS), False),
    (KILL_PROCESS, _obs("returned", -4000), _obs("signaled", sig=11), False),
    (
        Action(ActionKind.TRAP, 5),
        _obs("returned", -4002),
        _obs("trapped", sig=SYS, trap=TRAP5),
        True,
    ),
    (
        Action(ActionKind.TRAP, 5),
        _obs("returned", -4002),
        _obs("trapped", sig=SYS, trap=replace(TRAP5, errno=6)),
        False,
    ),
    (ALLOW, _obs("returned", 0), _obs("signaled", sig=SYS), False),
    (ALLOW, _obs("signaled", sig=SYS), _obs("returned", 0), False),
    (ALLOW, _obs("blocked", sig=14), _obs("blocked", sig=14), True),
    (ALLOW, _obs("exited"), _obs("exited"), True),
]


@pytest.mark.parametrize(("expected", "twin", "real", "ok"), JUDGE)
def test_judge(
    expected: Action, twin: probe.Observation, real: probe.Observation, ok: bool
) -> None:
    point = livetest.Point(twin.call, "getppid", expected)
    [row] = livetest.judge([point], [twin], [real], CODES)
    assert row.ok is ok, row.problem


@pytest.mark.parametrize(
    "line",
    [
        "",
        "{",
        '{"abi":"x86","nr":110,"outcome":"returned"}',
        '{"abi":"x86_64","nr":1}',
        '{"abi":"x86_64","nr":110,"args":[],"outcome":"weird","ret":0,"errno":0,"signal":0,'
        '"status":0,"trap":null}',
    ],
)
def test_unreadable_probe_output_is_a_located_error(line: str) -> None:
    with pytest.raises(InputError) as exc:
        probe.parse_line(line, probe.Call("x86_64", 110), "probe.out")
    assert exc.value.location is not None and exc.value.location.path == "probe.out"


def test_call_lines() -> None:
    call = probe.Call("x86", 142, (0, 0, 0, 0, probe.ZERO_PAGE, 0), "plain")
    assert call.line() == "x86 142 plain 0 0 0 0 Z 0"
    assert probe.call_list([probe.Call("x86_64", 57, kind="fork")]) == (
        "x86_64 57 fork 0 0 0 0 0 0\n"
    )


def test_plan_covers_tables_and_solves_argument_rules(default_program: Program) -> None:
    points = livetest.plan(default_program, ("x86_64",), ["personality", "clone", "vfork"])
    by_name: dict[str, list[livetest.Point]] = {}
    for p in points:
        by_name.setdefault(p.name, []).append(p)
    assert {str(p.expected) for p in by_name["personality"]} == {"allow", "errno(EPERM)"}
    assert {str(p.expected) for p in by_name["clone"]} == {"allow", "errno(EPERM)"}
    assert all(p.call.kind == "fork" for p in by_name["clone"] + by_name["vfork"])
    full = livetest.plan(default_program, ("x86",))
    assert {p.name for p in full} >= set(tables.table("x86").by_name)


@pytest.mark.parametrize(
    ("arch", "nr", "abi"),
    [
        (0xC000003E, 39, "x86_64"),
        (0x40000003, 20, "x86"),
        (0xC000003E, X32_SYSCALL_BIT | 39, "x32"),
        (0xC000003E, 0xFFFFFFFF, "x86_64"),  # -1: a tracer skipping a call
        (0x12345678, 1, None),
    ],
)
def test_abi_of(arch: int, nr: int, abi: str | None) -> None:
    a = supervise.abi_of(arch, nr)
    assert (a.name if a else None) == abi


def test_audit_program_notifies_refusals_only(default_program: Program) -> None:
    audit = supervise.audit_program(default_program)
    arch = ABIS["x86_64"].audit_arch
    notify = Action(ActionKind.USER_NOTIF)
    assert audit.decide(arch, X64["getpid"]) == ALLOW
    assert audit.decide(arch, X64["uselib"]) == notify
    assert audit.decide(arch, X64["getpid"] | X32_SYSCALL_BIT) == notify
    record = supervise.record_program(default_program)
    assert record.decide(arch, X64["getpid"]) == notify


def test_flip_changes_exactly_one_answer(default_program: Program) -> None:
    wrong = livetest.flip(default_program, "x86_64", "getpid")
    arch = ABIS["x86_64"].audit_arch
    assert wrong.decide(arch, X64["getpid"]).blocks
    assert wrong.decide(arch, X64["getppid"]) == default_program.decide(arch, X64["getppid"])


def test_refused_calls_that_seem_to_block_are_asked_again() -> None:
    points = [
        livetest.Point(probe.Call("x86_64", 110), "getppid", EPERM),
        livetest.Point(probe.Call("x86_64", 34), "pause", ALLOW),
    ]
    obs = [_obs("blocked", sig=14), _obs("blocked", sig=14)]
    asked: list[tuple[list[probe.Call], int]] = []

    def runner(calls: list[probe.Call], bpf: bytes, *, timeout_ms: int) -> list[probe.Observation]:
        asked.append((calls, timeout_ms))
        return [_obs("returned", -4001)]

    livetest._retry_slow(runner, b"", points, obs)
    assert asked == [([points[0].call], livetest.SLOW_TIMEOUT_MS)]
    assert [o.outcome for o in obs] == ["returned", "blocked"]
