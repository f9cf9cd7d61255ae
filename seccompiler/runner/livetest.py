"""``seccompiler test``: prove in the running kernel that a filter does what the policy says.

Method (docs/testing.md explains it at length):

1. Plan: every syscall of each ABI this machine can enter (x86_64; x86 through int 0x80;
   x32 numbers, which the filter must refuse when the policy has no x32), plus one number
   past the table, each with harmless arguments (zeros: bad fd, NULL, zero length) and,
   for syscalls whose rules look at arguments, one argument vector per distinct answer.
2. Twin: the same resolved program with every action other than ``allow`` replaced by
   ``errno(N)`` with a distinctive N >= 4000, one per action, which no kernel path returns.
   Both filters are compiled by the same backend; they are shown to be the same decision
   function (instruction for instruction equal except for return values that map through
   the code table, or else equal under the emulator on every planned input).
3. Kernel, twin filter: a call answered -N was refused by the filter with the action coded
   N; any other outcome means the filter let it through. No guessing from ordinary errnos.
4. Kernel, real filter: each refusal shows the observable the policy promises (the errno
   value; SIGSYS death for kill actions; a caught SIGSYS with the right si_errno for trap).
"""

from __future__ import annotations

import errno as _errno
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from seccompiler.arch import abi as abimod
from seccompiler.arch import tables
from seccompiler.backends import bpf as bpf_backend
from seccompiler.base.errors import UsageError
from seccompiler.bpf import emulate
from seccompiler.bpf.insn import decode
from seccompiler.program import (
    ALLOW,
    Action,
    ActionKind,
    Program,
    SyscallProgram,
)
from seccompiler.runner import host, probe
from seccompiler.runner.plan import Point, concrete, plan
from seccompiler.runner.twin import decode_twin, prove_twin, twin_codes, twin_program

SLOW_TIMEOUT_MS = 5000

Runner = Callable[[Sequence[probe.Call], bytes], list[probe.Observation]]


@dataclass(frozen=True)
class Row:
    """One call's verdict."""

    point: Point
    seen: Action | None  # the action the twin run decoded; None: the filter let it run
    twin: probe.Observation
    real: probe.Observation
    problem: str  # empty when the kernel did what the policy says

    @property
    def ok(self) -> bool:
        return not self.problem

    def to_json(self) -> dict[str, Any]:
        c = self.point.call
        return {
            "abi": c.abi,
            "name": self.point.name,
            "nr": c.nr,
            "args": list(c.args),
            "expected": str(self.point.expected),
            "seen": "allow" if self.seen is None else str(self.seen),
            "twin": self.twin.to_json(),
            "real": self.real.to_json(),
            "ok": self.ok,
            "problem": self.problem,
        }


@dataclass
class Report:
    """The whole matrix, with the proof that the twin filter equals the real one."""

    policy: str
    rows: list[Row]
    proof: str
    codes: dict[int, Action]
    unprobed: list[tuple[str, str, str]] = field(default_factory=list)  # abi, name, why
    seconds: float = 0.0

    @property
    def mismatches(self) -> list[Row]:
        return [r for r in self.rows if not r.ok]

    def summary(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.rows:
            s = out.setdefault(
                r.point.call.abi, {"probed": 0, "ok": 0, "mismatch": 0, "syscalls": 0, "refused": 0}
            )
            s["probed"] += 1
            s["ok" if r.ok else "mismatch"] += 1
            if r.point.expected.blocks:
                s["refused"] += 1
        for abi_name in out:  # table syscalls; the number past the table is not one
            out[abi_name]["syscalls"] = len(
                {
                    r.point.name
                    for r in self.rows
                    if r.point.call.abi == abi_name and not r.point.name.startswith("(")
                }
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "proof": self.proof,
            "codes": {str(k): str(v) for k, v in sorted(self.codes.items())},
            "summary": self.summary(),
            "mismatches": len(self.mismatches),
            "unprobed": [{"abi": a, "name": n, "why": w} for a, n, w in self.unprobed],
            "seconds": round(self.seconds, 3),
            "rows": [r.to_json() for r in self.rows],
        }


# --- the twin program ---------------------------------------------------------------------

# --- judging ------------------------------------------------------------------------------


def check_real(point: Point, obs: probe.Observation) -> str:
    """The problem with a real-filter observation, or ''."""
    exp, call = point.expected, point.call
    sigsys = obs.outcome == "signaled" and obs.signal == signal.SIGSYS
    if exp.kind in (ActionKind.KILL_PROCESS, ActionKind.KILL_THREAD):
        return "" if sigsys else "expected death by SIGSYS"
    if exp.kind is ActionKind.TRAP:
        t = obs.trap
        if obs.outcome != "trapped" or t is None:
            return "expected a SIGSYS from the filter (trap)"
        arch = abimod.ABIS[call.abi].audit_arch
        if (t.errno, t.syscall & 0xFFFFFFFF, t.arch) != (exp.data, call.nr, arch):
            return f"trap siginfo errno={t.errno} syscall={t.syscall} arch={t.arch:#x}"
        return ""
    if exp.kind is ActionKind.ERRNO:
        ok = obs.outcome == "returned" and obs.ret == -exp.data
        return "" if ok else f"expected return -{exp.data}"
    if exp.kind in (ActionKind.USER_NOTIF, ActionKind.TRACE):
        ok = obs.outcome == "returned" and obs.ret == -_errno.ENOSYS
        return "" if ok else "expected ENOSYS (no supervisor or tracer)"
    if sigsys or obs.outcome == "trapped":
        return "refused by the real filter"
    return ""


def judge(
    points: Sequence[Point],
    twin_obs: Sequence[probe.Observation],
    real_obs: Sequence[probe.Observation],
    codes: dict[Action, Action],
) -> list[Row]:
    by_code = {c.data: a for a, c in codes.items()}
    rows = []
    for p, t, r in zip(points, twin_obs, real_obs, strict=True):
        seen = decode_twin(t, by_code)
        if seen != (None if p.expected == ALLOW else p.expected):
            problem = f"filter answered {seen or 'allow'}"
        elif t.outcome in ("signaled", "trapped") and t.signal == signal.SIGSYS:
            problem = "twin filter raised SIGSYS"
        else:
            problem = check_real(p, r)
        rows.append(Row(p, seen, t, r, problem))
    return rows


def _retry_slow(
    runner: Callable[..., list[probe.Observation]],
    bpf: bytes,
    points: Sequence[Point],
    obs: list[probe.Observation],
) -> None:
    """Probe again, with a long timer, refused calls that seemed to block.

    A refused call returns at once, so "blocked" there most likely means the child was not
    scheduled before its timer fired on a loaded machine; ask again before calling it wrong.
    """
    slow = [
        i
        for i, (p, o) in enumerate(zip(points, obs, strict=True))
        if o.outcome == "blocked" and p.expected.blocks
    ]
    if slow:
        again = runner([points[i].call for i in slow], bpf, timeout_ms=SLOW_TIMEOUT_MS)
        for i, o in zip(slow, again, strict=True):
            obs[i] = o


def _enterable(abis: Sequence[str] | None) -> tuple[tuple[str, ...], list[tuple[str, str, str]]]:
    """The ABIs to probe (those asked for, else all this machine can enter), and the rest."""
    why = host.unenterable()
    enterable = tuple(a for a in host.probe_abis() if a not in why)
    chosen = tuple(abis) if abis else host.probe_abis()
    unprobed = [
        (a, "*", why.get(a, "this machine cannot enter it")) for a in chosen if a not in enterable
    ]
    return tuple(a for a in chosen if a in enterable), unprobed


def _probe_both(
    runner: Callable[..., list[probe.Observation]],
    points: Sequence[Point],
    twin_bpf: bytes,
    real_bpf: bytes,
    progress: Callable[[str, int, int], None] | None,
) -> tuple[list[probe.Observation], list[probe.Observation]]:
    """Every planned call under the twin filter and under the real one: two probes at once."""
    calls = [p.call for p in points]
    lock = threading.Lock()
    done = {"twin": 0, "real": 0}

    def stage(label: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        cb = progress

        def report(n: int, total: int) -> None:
            with lock:
                done[label] = n
                cb("twin and real filters", sum(done.values()), 2 * total)

        return report

    with ThreadPoolExecutor(max_workers=2) as pool:
        twin = pool.submit(runner, calls, twin_bpf, progress=stage("twin"))
        real = pool.submit(runner, calls, real_bpf, progress=stage("real"))
        twin_obs, real_obs = twin.result(), real.result()
    for bpf, obs in ((twin_bpf, twin_obs), (real_bpf, real_obs)):
        _retry_slow(runner, bpf, points, obs)
    return twin_obs, real_obs


def run_matrix(
    program: Program,
    *,
    abis: Sequence[str] | None = None,
    names: Iterable[str] | None = None,
    runner: Callable[..., list[probe.Observation]] = probe.run,
    progress: Callable[[str, int, int], None] | None = None,
    filter_program: Program | None = None,
) -> Report:
    """Plan, prove the twin, run both filters in the kernel, judge every call.

    ``filter_program`` (tests only) compiles the filters from another program than the one
    the expectations come from: how a wrong filter is shown to be caught.
    """
    start = time.monotonic()
    family = host.family()
    if family not in program.families():
        raise UsageError(f"the policy covers no {family} ABI; this machine runs {family}")
    chosen, unprobed = _enterable(abis)
    points = plan(program, chosen, names)
    if not points:
        raise UsageError("nothing to probe", hint="check --syscalls and --abi")
    source = filter_program or program
    codes = twin_codes(program)
    codes.update((a, c) for a, c in twin_codes(source).items() if a not in codes)
    twin = twin_program(source, codes)
    real_bpf = bpf_backend.compile_family(source, family)
    twin_bpf = bpf_backend.compile_family(twin, family)
    inputs = [
        (abimod.ABIS[p.call.abi].audit_arch, p.call.nr, concrete(p.call.args)) for p in points
    ]
    proof = prove_twin(real_bpf, twin_bpf, codes, inputs)
    rf = emulate.Filter(decode(real_bpf))
    emulated = [
        rf.run(emulate.SeccompData(nr, arch, 0, emulate.make_args(args))).action
        for arch, nr, args in inputs
    ]
    twin_obs, real_obs = _probe_both(runner, points, twin_bpf, real_bpf, progress)
    rows = judge(points, twin_obs, real_obs, codes)
    for i, (row, emu) in enumerate(zip(rows, emulated, strict=True)):
        if row.ok and emu != row.point.expected:  # the kernel and the emulator disagree
            rows[i] = replace(row, problem=f"the emulator answers {emu}")
    return Report(
        policy=program.name,
        rows=rows,
        proof=proof,
        codes={c.data: a for a, c in codes.items()},
        unprobed=unprobed,
        seconds=time.monotonic() - start,
    )


def flip(program: Program, abi_name: str, name: str) -> Program:
    """A deliberately wrong copy: ``name`` refused if the policy allows it, else allowed."""
    ap = program.abi(abi_name)
    nr = tables.table(abi_name).by_name[name]
    if ap is None:
        raise UsageError(f"the program has no ABI {abi_name}")
    sp = ap.syscalls.get(nr) or SyscallProgram(name, nr, (), ap.default)
    new = Action(ActionKind.ERRNO, _errno.EPERM) if not sp.fallback.blocks else ALLOW
    syscalls = dict(ap.syscalls)
    syscalls[nr] = replace(sp, rules=(), fallback=new)
    abis = tuple(replace(p, syscalls=syscalls) if p is ap else p for p in program.abis)
    return replace(program, abis=abis)


__all__ = [
    "Point",
    "Report",
    "Row",
    "decode_twin",
    "flip",
    "judge",
    "plan",
    "prove_twin",
    "run_matrix",
    "twin_codes",
    "twin_program",
]
