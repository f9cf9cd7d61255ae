"""Run a program under a compiled filter and watch it through seccomp user notification.

The native launcher (native/launch.c) installs the filter in the workload with
SECCOMP_FILTER_FLAG_NEW_LISTENER and either hands the listener to this process over a unix
socket (SCM_RIGHTS) before the workload's execve, or answers it itself; the filter, and so
the listener, covers every thread and child the workload makes.

- audit: the filter is the policy's with every refusing action turned into USER_NOTIF.
  Each notification is answered with the policy's own result, so the program sees what it
  would in production: errno(N) → -N; kill-process/kill-thread → the process is killed
  (SIGKILL: a notification cannot make the kernel raise SIGSYS, so the workload's status is
  reported as 128+SIGSYS, as the real filter would give); trap → SIGSYS sent to the thread,
  syscall skipped. Each is recorded as a ``SyscallEvent``.
- record (``run_recorded``): every syscall is notified; the launcher answers each as the
  policy's real filter would (CONTINUE for what it allows) and counts it by ABI, number and
  the arguments asked for (``Seen``); refusals are reported as in audit.
- neither: the real filter, no listener; only the exit status is returned.

``Program.decide`` gives the answers: the BPF the compiler emits is proven to agree with it.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from seccompiler.runner import native
from seccompiler.runner.launcher import terminal_sent_it
from seccompiler.runner.notify import (
    Seen,
    Supervisor,
    SyscallEvent,
    abi_of,
    event_of,
    notify_action,
    seen_of,
)

TYPE_CHECKING = False  # typing itself is not imported on this path
if TYPE_CHECKING:
    from typing import Any

    from seccompiler.program import Action, Program

# ``run`` loads this module for every launch: the compiler is imported by ``run_supervised``
# only, the program model and the tables where a notification needs them (notify.py).
Decide = Callable[[int, int, Sequence[int]], "Action"]

LAUNCH_ERRORS = {"notfound": 127, "exec": 126}  # other stages: 125


@dataclass
class RunResult:
    """How the workload ended, and every event the supervisor saw."""

    status: int  # exit code, 128+N when killed by signal N, 125/126/127 launch failures
    events: list[SyscallEvent] = field(default_factory=list)
    error: str = ""  # why the program could not be started, when it could not
    error_stage: str = ""  # launcher stage: notfound, exec, install, root, user, ...
    killed_by_policy: bool = False
    pid: int = 0
    seen: list[Seen] = field(default_factory=list)  # run_recorded: every call, counted
    tasks: int = 0  # run_recorded: the threads that made a call
    unkept: int = 0  # run_recorded: calls counted past the launcher's table of keys

    def counts(self) -> Counter[tuple[str, str, str, str]]:
        """(exe, abi, syscall, action) → number of times."""
        return Counter((e.exe, e.abi, e.name, str(e.action)) for e in self.events)

    def to_json(self) -> dict[str, Any]:
        rows = [
            {
                "exe": exe,
                "abi": a,
                "syscall": name,
                "action": act,
                "count": n,
                "pids": sorted({e.pid for e in self.events if (e.exe, e.name) == (exe, name)}),
            }
            for (exe, a, name, act), n in sorted(self.counts().items())
        ]
        return {
            "status": self.status,
            "error": self.error,
            "killed_by_policy": self.killed_by_policy,
            "refused": rows,
            "events": [e.to_json() for e in self.events],
        }


def audit_program(program: Program) -> Program:
    """The program with every refusal turned into a user notification."""
    notify = notify_action()
    return program.map_actions(lambda a: notify if a.blocks else a)


def record_program(program: Program) -> Program:
    """The program with every answer turned into a user notification."""
    notify = notify_action()
    return program.map_actions(lambda a: notify)


def filter_decide(bpf: bytes) -> Decide:
    """Answer notifications as ``bpf`` would: ``run`` keeps no program, only the filters.

    The compiler's filters are proven equal to ``Program.decide``; the emulator runs them
    exactly as the kernel does. The decoded filter is built on the first notification.
    """
    built: list[Decide] = []

    def decide(arch: int, nr: int, args: Sequence[int]) -> Action:
        if not built:
            from seccompiler.bpf import emulate
            from seccompiler.bpf.insn import decode

            f = emulate.Filter(decode(bpf))
            built.append(
                lambda a, n, x: f.run(emulate.SeccompData(n, a, 0, emulate.make_args(x))).action
            )
        return built[0](arch, nr, args)

    return decide


_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)


@contextlib.contextmanager
def _signals_forwarded(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """Pass SIGTERM, SIGHUP, SIGINT and SIGQUIT on to the workload, through the launcher.

    The run then ends as the workload decides, and its status and report are written as
    for any other end. The launcher passes them to the workload, and once it is gone to the
    descendants it left behind. A terminal's Ctrl-C already reaches the workload (same
    process group), so it is not sent twice. On an exception the workload is asked to stop;
    leaving ``run_filter`` then kills the launcher, and the workload with it.
    """

    def forward(sig: int, _frame: object) -> None:
        if sig in (signal.SIGINT, signal.SIGQUIT) and terminal_sent_it():
            return
        proc.send_signal(sig)

    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in _FORWARDED:
            previous[sig] = signal.signal(sig, forward)
    except ValueError:  # not the main thread: signals stay with whoever handles them there
        pass
    try:
        yield
    except BaseException:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass(frozen=True)
class Launch:
    """Where the workload runs, as the launcher is told (native/launch.c)."""

    root: str | None = None
    namespaces: bool = False
    user: tuple[int, int] | None = None
    workdir: str | None = None


def _launch_cmd(
    argv: Sequence[str], fds: dict[str, int], keep: str | None, where: Launch
) -> list[str]:
    cmd = [str(native.executable(native.LAUNCHER))]
    for flag, fd in fds.items():
        cmd += [flag, str(fd)]
    if keep is not None:
        cmd += ["--record", keep]
    root, namespaces, user, workdir = where.root, where.namespaces, where.user, where.workdir
    if namespaces:
        cmd.append("--namespaces")
    if root is not None:
        cmd += ["--root", os.path.abspath(root)]
    if workdir is not None:
        cmd += ["--workdir", workdir]
    if user is not None:
        cmd += ["--user", f"{user[0]}:{user[1]}"]
    return [*cmd, "--", *argv]


def parse_status(text: str) -> RunResult:
    """The launcher's status text (native/launch.c), refused calls and kills included."""
    result = RunResult(status=125)
    _parse_status(text, result, set())
    return result


def _parse_status(text: str, result: RunResult, killed: set[int]) -> None:
    for line in text.splitlines():
        word, _, rest = line.partition(" ")
        if word == "refused":  # answered by the launcher itself (--answer-fd)
            result.events.append(event_of(rest.split(" ")))
        elif word == "seen":  # counted by the launcher (--record)
            result.seen.append(seen_of(rest.split(" ")))
        elif word == "tasks":
            result.tasks = int(rest)
        elif word == "more":
            result.unkept = int(rest)
        elif word == "killed":
            killed.add(int(rest))
        elif word == "pid":
            result.pid = int(rest)
        elif word == "exit":
            result.status = int(rest)
        elif word == "signal":
            sig = int(rest)
            if result.pid in killed and sig == signal.SIGKILL:
                sig = signal.SIGSYS
                result.killed_by_policy = True
            result.status = 128 + sig
        elif word == "error":
            stage, _, err = rest.partition(" ")
            result.error_stage = stage
            result.error = os.strerror(int(err)) if err.isdigit() else err
            result.status = LAUNCH_ERRORS.get(stage, 125)


def _watch(status_r: int, ours: socket.socket, sup: Supervisor | None, held: list[int]) -> bytes:
    """Read the launcher's status pipe to its end, answering notifications meanwhile.

    The listener the launcher hands over is put in ``held``; the caller closes it.
    """
    status_text = b""
    listener = -1
    poller = select.poll()
    poller.register(status_r, select.POLLIN)
    if sup is not None:
        poller.register(ours.fileno(), select.POLLIN)
    open_status = True
    while open_status:
        for fd, ev in poller.poll():
            if fd == status_r:
                chunk = os.read(status_r, 4096)
                status_text += chunk
                if not chunk:
                    open_status = False
            elif fd == ours.fileno():
                _, fds, _, _ = socket.recv_fds(ours, 1, 1)
                poller.unregister(ours.fileno())
                if fds:
                    listener = fds[0]
                    held.append(listener)
                    poller.register(listener, select.POLLIN)
            elif fd == listener and sup is not None:
                if ev & select.POLLIN:
                    sup.handle(listener)
                elif ev & (select.POLLHUP | select.POLLERR):
                    poller.unregister(listener)
    # The workload is gone; answer what its leftovers still wait for.
    if sup is not None and listener >= 0:
        drain = select.poll()
        drain.register(listener, select.POLLIN)
        while any(ev & select.POLLIN and not ev & select.POLLHUP for _, ev in drain.poll(0)):
            sup.handle(listener)
    return status_text


def run_filter(
    argv: Sequence[str],
    bpf: bytes,
    decide: Decide | None,
    *,
    audit: bool = True,
    answer: bytes | None = None,
    keep: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    where: Launch = Launch(),
) -> RunResult:
    """Run ``argv`` under raw ``bpf``; with ``decide``, answer its notifications here; with
    ``answer`` (a filter), the launcher answers them by it, and with ``keep`` (its --record
    list) counts every call."""
    if not argv:
        raise ValueError("nothing to run")
    if decide is not None and answer is not None:
        raise ValueError("notifications are answered here or by the launcher, not both")
    sup = Supervisor(decide, audit=audit) if decide is not None else None
    memfds = [_memfd("seccompiler-filter", bpf)]
    if answer is not None:
        memfds.append(_memfd("seccompiler-answer", answer))
    status_r, status_w = os.pipe()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fds = {"--filter-fd": memfds[0], "--status-fd": status_w}
    if answer is not None:
        fds["--answer-fd"] = memfds[1]
    elif sup is not None:
        fds["--listener-sock"] = theirs.fileno()
    cmd = _launch_cmd(argv, fds, keep, where)
    result = RunResult(status=125)
    held: list[int] = []  # the listener, once the launcher has handed it over
    try:
        proc = subprocess.Popen(
            cmd, pass_fds=list(fds.values()), env=None if env is None else dict(env), cwd=cwd
        )
    except OSError as exc:
        for fd in (*memfds, status_r, status_w):
            os.close(fd)
        ours.close()
        theirs.close()
        result.error, result.error_stage = str(exc), "launch"
        return result
    for fd in (*memfds, status_w):
        os.close(fd)
    theirs.close()
    try:
        with _signals_forwarded(proc):
            status_text = _watch(status_r, ours, sup, held)
        proc.wait()
    finally:
        for fd in held:
            os.close(fd)
        os.close(status_r)
        ours.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _parse_status(
        status_text.decode(errors="replace"), result, sup.killed if sup is not None else set()
    )
    if sup is not None:
        result.events = sup.events
    return result


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def run_supervised(
    argv: Sequence[str],
    program: Program,
    *,
    audit: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    where: Launch = Launch(),
) -> RunResult:
    """Run ``argv`` under ``program``'s filter; see the module docstring for the modes."""
    from seccompiler.backends import bpf as bpf_backend
    from seccompiler.runner import host

    family = host.family()
    program = host.own_family(program)
    if audit:
        bpf = bpf_backend.compile_family(audit_program(program), family)
    else:
        bpf = bpf_backend.compile_family(program, family)
    decide = program.decide if audit else None
    return run_filter(argv, bpf, decide, audit=audit, env=env, cwd=cwd, where=where)


def run_recorded(
    argv: Sequence[str],
    program: Program,
    keep: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    where: Launch = Launch(),
) -> RunResult:
    """Run ``argv`` with every syscall notified to the launcher, which answers it as
    ``program``'s filter would and counts it (``RunResult.seen``): by ABI, number and the
    arguments ``keep`` ("ARCH:NR:MASK,...", ``recorder.keep_list``) names for it."""
    from seccompiler.backends import bpf as bpf_backend
    from seccompiler.runner import host

    family = host.family()
    program = host.own_family(program)
    bpf = bpf_backend.compile_family(record_program(program), family)
    answer = bpf_backend.compile_family(program, family)
    return run_filter(argv, bpf, None, answer=answer, keep=keep, env=env, cwd=cwd, where=where)


__all__ = [
    "Launch",
    "RunResult",
    "SyscallEvent",
    "abi_of",
    "audit_program",
    "filter_decide",
    "parse_status",
    "record_program",
    "run_filter",
    "run_recorded",
    "run_supervised",
]
