"""Run a plan inside an image root through the launcher, capturing output, with a deadline.

``supervise.run_supervised`` runs the workload with this process's standard output and
error and has no timeout; tests need the output, and a hung workload must not hang the
run. So the output goes to a temporary file for the duration of the call (the workload
inherits descriptors 1 and 2), and a SIGALRM deadline interrupts the wait for the launcher,
which is then killed (the workload dies with it: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from seccompiler.arch import abi as abimod
from seccompiler.arch import tables
from seccompiler.image.plan import ExecPlan
from seccompiler.image.runner import OUTPUT_TAIL, Outcome, Refusal
from seccompiler.image.sandbox import run_view
from seccompiler.program import ALLOW, AbiProgram, Program
from seccompiler.runner import host, supervise

TIMEOUT_STATUS = 124  # as timeout(1)


def allow_all(abis: tuple[str, ...] | None = None) -> Program:
    """A program that allows everything on ``abis`` (default: the ABIs programs here use)."""
    abis = abis if abis is not None else host.program_abis()
    progs = tuple(
        AbiProgram(abimod.ABIS[a], {}, ALLOW, ALLOW, tables.table(a).max_nr) for a in abis
    )
    return Program("allow-all", progs, ALLOW)


class _Deadline(KeyboardInterrupt):
    """Raised by SIGALRM; a KeyboardInterrupt so that the run stops the workload."""


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Interrupt the body after ``seconds`` (main thread only; elsewhere no deadline)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum: int, frame: FrameType | None) -> None:
        raise _Deadline()

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def captured_stdio(max_bytes: int = OUTPUT_TAIL) -> Iterator[list[bytes]]:
    """Send descriptors 1 and 2 to a temporary file; the list receives the output's tail."""
    box: list[bytes] = []
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as tmp:
        try:
            os.dup2(tmp.fileno(), 1)
            os.dup2(tmp.fileno(), 2)
            yield box
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            size = tmp.seek(0, os.SEEK_END)
            tmp.seek(max(0, size - max_bytes))
            box.append(tmp.read())


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send descriptor 1 to descriptor 2, so that stdout stays free for our own output."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def refusals(result: supervise.RunResult) -> tuple[Refusal, ...]:
    """Refused syscalls of a run, one row per (pid, exe, ABI, syscall, args, action)."""
    counts: Counter[tuple[int, str, str, str, tuple[int, ...], str]] = Counter(
        (e.pid, e.exe, e.abi, e.name, tuple(e.args), str(e.action))
        for e in result.events
        if e.action.blocks
    )
    for c in result.counted:  # past the first refusals: counted without their arguments
        counts[(c.pids[0] if c.pids else 0, c.exe, c.abi, c.name, (), str(c.action))] += c.count
    return tuple(Refusal(*key, count=n) for key, n in sorted(counts.items()))


@dataclass
class LiveRun:
    """One run: the outcome for reports, and the launcher's own result (events, counts)."""

    outcome: Outcome
    result: supervise.RunResult | None


def execute(
    root: Path | None,
    plan: ExecPlan,
    program: Program | None,
    *,
    record: str | None = None,
    timeout: float | None = None,
    capture: bool = True,
    stdout_free: bool = False,
) -> LiveRun:
    """Run ``plan`` (chrooted into a fresh view of ``root`` in new namespaces when given).

    ``program`` None runs without the profile (an allow-all filter, no audit); otherwise the
    profile's filter with audit. ``record`` (the launcher's list of arguments to keep,
    ``recorder.keep_list``) counts every syscall instead (``RunResult.seen``). Output is
    captured (``capture``), or passed through, to stderr when ``stdout_free``.
    """
    prog = program if program is not None else allow_all()
    user = (plan.uid, plan.gid) if root is not None else None
    start = time.monotonic()
    box: list[bytes] = []
    result: supervise.RunResult | None = None
    with contextlib.ExitStack() as stack:
        if capture:
            box = stack.enter_context(captured_stdio())
        elif stdout_free:  # the caller writes its result to stdout: the workload's goes to 2
            stack.enter_context(stdout_to_stderr())
        view = None if root is None else stack.enter_context(run_view(root))
        where = supervise.Launch(
            root=None if view is None else str(view),
            namespaces=view is not None,
            user=user,
            workdir=None if view is None else plan.cwd,
        )
        argv = list(plan.argv)
        try:
            with deadline(timeout):
                if record is not None:
                    result = supervise.run_recorded(argv, prog, record, env=plan.env, where=where)
                else:
                    audit = program is not None
                    result = supervise.run_supervised(
                        argv, prog, audit=audit, env=plan.env, where=where
                    )
        except _Deadline:
            result = None
        if result is not None and view is not None:  # show executables as the image names them
            prefix = str(view).rstrip("/")
            for e in result.events:
                if e.exe.startswith(prefix + "/"):
                    e.exe = e.exe[len(prefix) :]
    seconds = time.monotonic() - start
    output = box[0] if box else b""
    if result is None:
        note = f"\n[seccompiler: killed after {timeout:g} s]\n".encode()
        return LiveRun(Outcome(TIMEOUT_STATUS, output + note, (), seconds), None)
    if result.error:
        output += f"\n[seccompiler: {result.error_stage}: {result.error}]\n".encode()
    return LiveRun(Outcome(result.status, output, refusals(result), seconds), result)
