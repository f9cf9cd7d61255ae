"""Run a program under a compiled filter, its refusals answered by the native launcher.

The native launcher (native/launch.c) installs the filter in the workload with
SECCOMP_FILTER_FLAG_NEW_LISTENER and answers the listener itself, by the policy's real
filter (native/answer.h); the filter, and so the listener, covers every thread and child
the workload makes. It reports each refused call and each kill on its status pipe.

- audit (``run_supervised``): the filter is the policy's with every refusing action turned
  into USER_NOTIF. Each notification is answered with the policy's own result, so the
  program sees what it would in production: errno(N) → -N; kill-process/kill-thread → the
  process is killed (SIGKILL: a notification cannot make the kernel raise SIGSYS, so the
  workload's status is reported as 128+SIGSYS, as the real filter would give); trap →
  SIGSYS sent to the thread, syscall skipped. Each is reported as a ``SyscallEvent``.
- record (``run_recorded``): every syscall is notified; the launcher answers each as the
  policy's real filter would (CONTINUE for what it allows) and counts it by ABI, number and
  the arguments asked for (``Seen``); refusals are reported as in audit.
- neither: the real filter, no listener; only the exit status is returned.

The BPF the compiler emits is proven to agree with ``Program.decide``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from seccompiler.runner import native
from seccompiler.runner.launcher import terminal_sent_it
from seccompiler.runner.notify import (
    RefusedCount,
    Seen,
    SyscallEvent,
    abi_of,
    event_of,
    notify_action,
    refused_count_of,
    seen_of,
)

TYPE_CHECKING = False  # typing itself is not imported on this path
if TYPE_CHECKING:
    from typing import Any

    from seccompiler.program import Program

# ``run`` loads this module for every launch: the compiler is imported by ``run_supervised``
# and ``run_recorded`` only, the program model and the tables where a report needs them.

LAUNCH_ERRORS = {"notfound": 127, "exec": 126}  # other stages: 125


@dataclass
class RunResult:
    """How the workload ended, and every refusal (and, recording, every call) reported."""

    status: int  # exit code, 128+N when killed by signal N, 125/126/127 launch failures
    events: list[SyscallEvent] = field(default_factory=list)
    error: str = ""  # why the program could not be started, when it could not
    error_stage: str = ""  # launcher stage: notfound, exec, install, root, user, ...
    killed_by_policy: bool = False
    pid: int = 0
    seen: list[Seen] = field(default_factory=list)  # run_recorded: every call, counted
    tasks: int = 0  # run_recorded: the threads that made a call
    unkept: int = 0  # run_recorded: calls counted past the launcher's table of keys
    counted: list[RefusedCount] = field(default_factory=list)  # refusals past ``events``
    uncounted: int = 0  # refusals past the launcher's table of counted ones

    def counts(self) -> Counter[tuple[str, str, str, str]]:
        """(exe, abi, syscall, action) → number of times."""
        out = Counter((e.exe, e.abi, e.name, str(e.action)) for e in self.events)
        for c in self.counted:
            out[(c.exe, c.abi, c.name, str(c.action))] += c.count
        return out

    def pids(self) -> dict[tuple[str, str], tuple[list[int], bool]]:
        """(exe, syscall) → the pids that were refused it, sorted, and whether there were
        more than those (the launcher keeps a few per kind past its first refusals)."""
        seen: dict[tuple[str, str], set[int]] = {}
        partial: set[tuple[str, str]] = set()
        for e in self.events:
            seen.setdefault((e.exe, e.name), set()).add(e.pid)
        for c in self.counted:
            seen.setdefault((c.exe, c.name), set()).update(c.pids)
            if c.more_pids:
                partial.add((c.exe, c.name))
        return {k: (sorted(v), k in partial) for k, v in seen.items()}

    def to_json(self) -> dict[str, Any]:
        pids = self.pids()
        rows = [
            {
                "exe": exe,
                "abi": a,
                "syscall": name,
                "action": act,
                "count": n,
                "pids": pids[exe, name][0],
            }
            for (exe, a, name, act), n in sorted(self.counts().items())
        ]
        return {
            "status": self.status,
            "error": self.error,
            "killed_by_policy": self.killed_by_policy,
            "refused": rows,
            "events": [e.to_json() for e in self.events],
            "events_omitted": sum(c.count for c in self.counted) + self.uncounted,
            "refusals_uncounted": self.uncounted,
        }


def audit_program(program: Program) -> Program:
    """The program with every refusal turned into a user notification."""
    notify = notify_action()
    return program.map_actions(lambda a: notify if a.blocks else a)


def record_program(program: Program) -> Program:
    """The program with every answer turned into a user notification."""
    notify = notify_action()
    return program.map_actions(lambda a: notify)


_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)


@contextlib.contextmanager
def _signals_forwarded() -> Iterator[Callable[[subprocess.Popen[bytes]], None]]:
    """Pass SIGTERM, SIGHUP, SIGINT and SIGQUIT on to the workload, through the launcher.

    Entered before the launcher starts, and told of it by the function it yields: a signal that
    comes before (the workload may already run when Popen returns) is passed on then, where it
    would have ended this process with the workload left running. The run then ends as the
    workload decides, and its status and report are written as for any other end. The
    launcher passes them to the workload, and once it is gone to the descendants it left
    behind. A terminal's Ctrl-C already reaches the workload (same process group), so it is
    not sent twice. On an exception the workload is asked to stop; leaving ``run_filter``
    then kills the launcher, and the workload with it.
    """
    target: list[subprocess.Popen[bytes]] = []  # the launcher, once it runs
    pending: list[int] = []  # signals that came before

    def forward(sig: int, _frame: object) -> None:
        if sig in (signal.SIGINT, signal.SIGQUIT) and terminal_sent_it():
            return
        if target:
            target[0].send_signal(sig)
        else:
            pending.append(sig)

    def started(proc: subprocess.Popen[bytes]) -> None:
        target.append(proc)
        for sig in pending:
            proc.send_signal(sig)

    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in _FORWARDED:
            previous[sig] = signal.signal(sig, forward)
    except ValueError:  # not the main thread: signals stay with whoever handles them there
        pass
    try:
        yield started
    except BaseException:
        if target and target[0].poll() is None:
            target[0].send_signal(signal.SIGTERM)
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
    _parse_status(text, result)
    return result


def _parse_status(text: str, result: RunResult) -> None:
    killed: set[int] = set()
    for line in text.splitlines():
        word, _, rest = line.partition(" ")
        if word == "refused":  # answered by the launcher itself (--answer-fd)
            result.events.append(event_of(rest.split(" ")))
        elif word == "refused-more":  # counted past the first refusals
            result.counted.append(refused_count_of(rest.split(" ")))
        elif word == "refused-unkept":
            result.uncounted = int(rest)
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


def _read_to_end(fd: int) -> bytes:
    """The launcher's status text, read until it closes the pipe (SIGALRM still interrupts)."""
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def run_filter(
    argv: Sequence[str],
    bpf: bytes,
    *,
    answer: bytes | None = None,
    keep: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    where: Launch = Launch(),
) -> RunResult:
    """Run ``argv`` under raw ``bpf``; with ``answer`` (a filter), the launcher answers its
    notifications by it, and with ``keep`` (its --record list) counts every call."""
    if not argv:
        raise ValueError("nothing to run")
    memfds = [_memfd("seccompiler-filter", bpf)]
    if answer is not None:
        memfds.append(_memfd("seccompiler-answer", answer))
    status_r, status_w = os.pipe()
    fds = {"--filter-fd": memfds[0], "--status-fd": status_w}
    if answer is not None:
        fds["--answer-fd"] = memfds[1]
    cmd = _launch_cmd(argv, fds, keep, where)
    result = RunResult(status=125)
    proc: subprocess.Popen[bytes] | None = None
    try:
        with _signals_forwarded() as started:
            try:
                environ = None if env is None else dict(env)
                proc = subprocess.Popen(cmd, pass_fds=list(fds.values()), env=environ, cwd=cwd)
            except OSError as exc:
                result.error, result.error_stage = str(exc), "launch"
                return result
            finally:
                for fd in (*memfds, status_w):
                    os.close(fd)
            started(proc)
            status_text = _read_to_end(status_r)
        proc.wait()
    finally:
        os.close(status_r)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
    text = status_text.decode(errors="replace")
    _parse_status(text, result)
    if proc.returncode < 0 and not any(
        line.startswith(("exit ", "signal ", "error ")) for line in text.splitlines()
    ):
        # a signal passed on before the launcher could pass it to the workload ended the
        # launcher: the run ends by it too (128 + N), not as a failure of its own
        result.status = 128 - proc.returncode
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
    bpf, answer = _filters(program, audit)
    return run_filter(argv, bpf, answer=answer, env=env, cwd=cwd, where=where)


# The filters of the programs run last: ``image test`` runs one program for every command
# of its tests file. Found by the program object itself, which the entry keeps alive.
_COMPILED: list[tuple[Program, bool, tuple[bytes, bytes | None]]] = []
_KEEP_COMPILED = 4


def _filters(program: Program, audit: bool) -> tuple[bytes, bytes | None]:
    """The filter to load and, under audit, the one to answer by: the policy's own."""
    from seccompiler.backends import bpf as bpf_backend
    from seccompiler.runner import host

    for known, audited, filters in _COMPILED:
        if known is program and audited == audit:
            return filters
    family = host.family()
    own = host.own_family(program)
    real = bpf_backend.compile_family(own, family)
    filters = (
        (bpf_backend.compile_family(audit_program(own), family), real) if audit else (real, None)
    )
    _COMPILED.insert(0, (program, audit, filters))
    del _COMPILED[_KEEP_COMPILED:]
    return filters


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
    return run_filter(argv, bpf, answer=answer, keep=keep, env=env, cwd=cwd, where=where)


__all__ = [
    "Launch",
    "RunResult",
    "SyscallEvent",
    "abi_of",
    "audit_program",
    "parse_status",
    "record_program",
    "run_filter",
    "run_recorded",
    "run_supervised",
]
