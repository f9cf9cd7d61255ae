"""Start the native launcher on a filter and wait for it, importing nothing but ``os``.

``run`` pays its start-up on every launch of the program it wraps, so this path loads no
module the interpreter has not loaded already: under ``--audit`` the launcher answers the
workload's notifications itself (``--answer-fd``, native/launch.c and native/answer.h),
with the policy's real filter, and writes each refused call to its status pipe; the caller
parses that text (``supervise.parse_status``) only when there is more to say than an exit
status. ``record`` has the launcher answer and count every call (``supervise.run_recorded``);
``image test`` answers in Python (``supervise.run_filter``).
"""

from __future__ import annotations

import os

import seccompiler

# The C module behind ``signal``, loaded with the interpreter: ``signal`` itself imports
# ``enum``, which costs more than the rest of this path.
_signal = __import__("_signal")
_FORWARDED = (_signal.SIGTERM, _signal.SIGHUP, _signal.SIGINT, _signal.SIGQUIT)
LAUNCHER = os.path.join(os.path.dirname(seccompiler.__file__), "_bin", "seccompiler-launch")


def terminal_sent_it() -> bool:
    """Whether we are in the foreground of our terminal, whose SIGINT reaches the workload too."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


def _memfd(data: bytes) -> int:
    fd = os.memfd_create("seccompiler-filter", 0)  # inheritable: the launcher reads it
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _spawn(argv: list[str], bpf: bytes, answer: bytes | None) -> tuple[int, int]:
    """Start the launcher; its pid and the read end of its status pipe."""
    fds = [_memfd(bpf)]
    if answer is not None:
        fds.append(_memfd(answer))
    status_r, status_w = os.pipe()
    os.set_inheritable(status_w, True)
    cmd = [LAUNCHER, "--filter-fd", str(fds[0]), "--status-fd", str(status_w)]
    if answer is not None:
        cmd += ["--answer-fd", str(fds[1])]
    try:
        pid = os.posix_spawn(LAUNCHER, [*cmd, "--", *argv], os.environ)
    except BaseException:
        os.close(status_r)
        raise
    finally:
        for fd in (*fds, status_w):
            os.close(fd)
    return pid, status_r


def launch(argv: list[str], bpf: bytes, answer: bytes | None) -> tuple[str, int]:
    """Run ``argv`` under ``bpf``; with ``answer``, the launcher answers notifications by it.

    Returns the launcher's status text and its exit status. SIGTERM, SIGHUP, SIGINT and
    SIGQUIT are passed on to the launcher, which passes them to the workload (a terminal's
    Ctrl-C already reaches the workload, so it is not sent twice). Raises OSError when the
    launcher cannot be started.
    """
    target: list[int] = []  # the launcher's pid, once it runs
    pending: list[int] = []  # signals that came before

    def forward(sig: int, _frame: object) -> None:
        if sig in (_signal.SIGINT, _signal.SIGQUIT) and terminal_sent_it():
            return
        if target:
            os.kill(target[0], sig)
        else:
            pending.append(sig)

    previous: dict[int, object] = {}
    chunks: list[bytes] = []
    try:
        try:  # before the launcher starts: a signal that comes early is passed on all the same
            for sig in _FORWARDED:
                previous[sig] = _signal.signal(sig, forward)
        except ValueError:  # not the main thread: signals stay with whoever handles them
            pass
        pid, status_r = _spawn(argv, bpf, answer)
        target.append(pid)
        for sig in pending:
            os.kill(pid, sig)
        reaped = False
        try:
            while chunk := os.read(status_r, 65536):
                chunks.append(chunk)
            _, status = os.waitpid(pid, 0)
            reaped = True
        finally:
            os.close(status_r)
            if not reaped:  # stop the launcher, and the workload with it (PDEATHSIG)
                os.kill(pid, _signal.SIGKILL)
                os.waitpid(pid, 0)
    finally:
        for sig, handler in previous.items():
            _signal.signal(sig, handler)
    return b"".join(chunks).decode(errors="replace"), os.waitstatus_to_exitcode(status)


def available() -> bool:
    """Whether the launcher is built into this install (else ``native`` says how to fix it)."""
    return os.access(LAUNCHER, os.X_OK) and not os.path.isdir(LAUNCHER)


__all__ = ["LAUNCHER", "available", "launch", "terminal_sent_it"]
