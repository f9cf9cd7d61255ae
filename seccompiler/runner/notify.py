"""Answering seccomp user notifications with the policy's own results, and what they tell."""

from __future__ import annotations

import contextlib
import errno as _errno
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from seccompiler.runner import native

TYPE_CHECKING = False  # ``run`` imports this module: typing, the program model and the
if TYPE_CHECKING:  # tables are loaded on the first notification, not at start-up
    from typing import Any

    from seccompiler.arch.abi import Abi
    from seccompiler.program import Action


def notify_action() -> Action:
    """SECCOMP_RET_USER_NOTIF as an action."""
    from seccompiler.program import Action, ActionKind

    return Action(ActionKind.USER_NOTIF)


@dataclass
class SyscallEvent:
    """One notified syscall: who made it, and what the policy answered."""

    pid: int
    exe: str
    abi: str
    nr: int
    name: str
    args: tuple[int, ...]
    action: Action

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "exe": self.exe,
            "abi": self.abi,
            "nr": self.nr,
            "name": self.name,
            "args": list(self.args),
            "action": str(self.action),
        }


@dataclass(frozen=True)
class Seen:
    """Calls the launcher counted under ``record``: one ABI, number and kept arguments."""

    abi: str
    nr: int
    name: str
    args: tuple[int, ...]
    count: int


def seen_of(fields: Sequence[str]) -> Seen:
    """A count as the launcher reports it: ARCH NR ARG0..ARG5 COUNT (native/record.h)."""
    arch, nr, *args, count = (int(f) for f in fields[:9])
    a = abi_of(arch, nr)
    return Seen(a.name if a else f"{arch:#x}", nr, _name(a, nr), tuple(args), count)


def abi_of(arch: int, nr: int) -> Abi | None:
    """The ABI a (seccomp_data.arch, nr) pair was made through."""
    from seccompiler.arch import abi as abimod

    x32 = bool(nr & abimod.X32_SYSCALL_BIT) and nr != 0xFFFFFFFF  # -1: a tracer's skip
    return next((a for a in abimod.ABIS.values() if a.audit_arch == arch and a.is_x32 == x32), None)


def _name(a: Abi | None, nr: int) -> str:
    from seccompiler.arch import abi as abimod
    from seccompiler.arch import tables

    if a is None:
        return f"(nr {nr})"
    # a number the table does not name: as a policy rules it by number (`nr:`) and shows it
    return tables.table(a).name_of(nr) or f"#{nr & ~abimod.X32_SYSCALL_BIT}"


def event_of(fields: Sequence[str]) -> SyscallEvent:
    """A refused call as the launcher reports it: PID ARCH NR ARG0..ARG5 RESULT EXE (hex)."""
    from seccompiler.program import Action

    pid, arch, nr, *args, ret = (int(f) for f in fields[:10])
    exe = os.fsdecode(bytes.fromhex(fields[10])) if len(fields) > 10 else "?"
    a = abi_of(arch, nr)
    name = a.name if a else f"{arch:#x}"
    return SyscallEvent(pid, exe, name, nr, _name(a, nr), tuple(args), Action.from_ret(ret))


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return "?"


def _tgid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return pid


class Supervisor:
    """Answers each notification as ``decide`` says; keeps the events and the pids it killed."""

    def __init__(self, decide: Callable[[int, int, Sequence[int]], Action], *, audit: bool) -> None:
        self.decide = decide
        self.audit = audit
        self.events: list[SyscallEvent] = []
        self.killed: set[int] = set()

    def handle(self, fd: int) -> None:
        try:
            n = native.notif_recv(fd)
        except OSError as exc:  # the task died between poll and receive
            if exc.errno in (_errno.ENOENT, _errno.EINTR):
                return
            raise
        from seccompiler.program import ActionKind

        action = self.decide(n.arch, n.nr, n.args)
        a = abi_of(n.arch, n.nr)
        exe = _exe(n.pid)
        if not native.notif_id_valid(fd, n.id):  # the pid may already be someone else's
            return
        passes = not action.blocks and action.kind not in (ActionKind.USER_NOTIF, ActionKind.TRACE)
        if not passes:
            self.events.append(
                SyscallEvent(
                    n.pid,
                    exe,
                    a.name if a else f"{n.arch:#x}",
                    n.nr,
                    _name(a, n.nr),
                    n.args,
                    action,
                )
            )
        try:
            self._answer(fd, n, action, passes or not self.audit)
        except OSError as exc:
            if exc.errno != _errno.ENOENT:  # ENOENT: the task is gone, nothing to answer
                raise

    def _answer(self, fd: int, n: native.Notification, action: Action, cont: bool) -> None:
        from seccompiler.program import ActionKind

        if cont:
            native.notif_send(fd, n.id, cont=True)
        elif action.kind is ActionKind.ERRNO:
            native.notif_send(fd, n.id, error=-action.data if action.data else 0)
        elif action.kind in (ActionKind.KILL_PROCESS, ActionKind.KILL_THREAD):
            tgid = _tgid(n.pid)
            self.killed.add(tgid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(tgid, signal.SIGKILL)
        elif action.kind is ActionKind.TRAP:
            from seccompiler.runner import host

            tgkill = host.syscall_nr("tgkill")
            native.syscall(host.native_abi().name, tgkill, _tgid(n.pid), n.pid, signal.SIGSYS)
            native.notif_send(fd, n.id, val=n.nr)
        else:  # notify or trace with nobody else to answer: the kernel says ENOSYS
            native.notif_send(fd, n.id, error=-_errno.ENOSYS)
