"""What the launcher reports of the notifications it answered: refused calls and counts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

TYPE_CHECKING = False  # ``run`` imports this module: typing, the program model and the
if TYPE_CHECKING:  # tables are loaded for the first report, not at start-up
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
    abi, name = _described(arch, nr)
    return Seen(abi, nr, name, tuple(args), count)


@dataclass(frozen=True)
class RefusedCount:
    """Refusals the launcher counted, past those it reported one by one (native/record.h)."""

    exe: str
    abi: str
    nr: int
    name: str
    action: Action
    count: int
    pids: tuple[int, ...]  # some of the threads that made them
    more_pids: bool  # there were more than ``pids``


def refused_count_of(fields: Sequence[str]) -> RefusedCount:
    """Counted refusals as the launcher reports them: ARCH NR RESULT COUNT PIDS EXE (hex)."""
    arch, nr, ret, count = (int(f) for f in fields[:4])
    pids = fields[4] if len(fields) > 4 else ""
    exe = os.fsdecode(bytes.fromhex(fields[5])) if len(fields) > 5 else "?"
    abi, name = _described(arch, nr)
    listed = tuple(int(p) for p in pids.rstrip("+").split(",") if p)
    return RefusedCount(exe, abi, nr, name, _action(ret), count, listed, pids.endswith("+"))


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
    pid, arch, nr, *args, ret = (int(f) for f in fields[:10])
    exe = os.fsdecode(bytes.fromhex(fields[10])) if len(fields) > 10 else "?"
    abi, name = _described(arch, nr)
    return SyscallEvent(pid, exe, abi, nr, name, tuple(args), _action(ret))


# A report may hold many calls of few kinds: each (arch, nr) and result is described once.
_DESCRIBED: dict[tuple[int, int], tuple[str, str]] = {}
_ACTIONS: dict[int, Action] = {}


def _action(ret: int) -> Action:
    """The action a filter result stands for."""
    from seccompiler.program import Action

    action = _ACTIONS.get(ret)
    if action is None:
        action = _ACTIONS[ret] = Action.from_ret(ret)
    return action


def _described(arch: int, nr: int) -> tuple[str, str]:
    """(ABI name, syscall name) of a reported call."""
    found = _DESCRIBED.get((arch, nr))
    if found is None:
        a = abi_of(arch, nr)
        found = _DESCRIBED[arch, nr] = (a.name if a else f"{arch:#x}", _name(a, nr))
    return found
