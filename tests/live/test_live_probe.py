"""The native parts in the kernel: the probe's outcomes, and the cffi module in a child."""

from __future__ import annotations

import errno
import os
import signal
import time
from collections.abc import Callable

import pytest

from seccompiler.arch import tables
from seccompiler.arch.abi import ABIS, X32_SYSCALL_BIT
from seccompiler.backends.bpf import compile_family
from seccompiler.program import Program
from seccompiler.runner import native, probe

pytestmark = pytest.mark.live

X64 = tables.table("x86_64").by_name
X86 = tables.table("x86").by_name
SIGSYS = int(signal.SIGSYS)


def _getppid(action: str) -> str:
    return f"- action: {action}\n  syscalls: [getppid]\n  reason: test\n"


# (action the policy gives getppid, abi, expected outcome, ret, signal, trap errno)
ACTIONS = [
    ("allow", "x86_64", "returned", 1, 0, None),
    ("allow", "x86", "returned", 1, 0, None),
    ("errno(EACCES)", "x86_64", "returned", -errno.EACCES, 0, None),
    ("errno(EACCES)", "x86", "returned", -errno.EACCES, 0, None),
    ("errno(4001)", "x86_64", "returned", -4001, 0, None),
    ("trap(7)", "x86_64", "trapped", 0, SIGSYS, 7),
    ("trap(9)", "x86", "trapped", 0, SIGSYS, 9),
    ("kill-process", "x86_64", "signaled", 0, SIGSYS, None),
    ("kill-thread", "x86", "signaled", 0, SIGSYS, None),
]


@pytest.mark.parametrize(("action", "abi", "outcome", "ret", "sig", "trap"), ACTIONS)
def test_probe_sees_each_action(
    make_program: Callable[[str], Program],
    action: str,
    abi: str,
    outcome: str,
    ret: int,
    sig: int,
    trap: int | None,
) -> None:
    bpf = compile_family(make_program(_getppid(action)), "x86_64")
    nr = tables.table(abi).by_name["getppid"]
    [obs] = probe.run([probe.Call(abi, nr)], bpf)
    assert (obs.outcome, obs.ret, obs.signal) == (outcome, ret, sig)
    if trap is None:
        assert obs.trap is None
    else:
        assert obs.trap == probe.Trap(trap, nr, ABIS[abi].audit_arch)


def test_x32_numbers_meet_the_bad_arch_action(make_program: Callable[[str], Program]) -> None:
    bpf = compile_family(make_program(_getppid("allow")), "x86_64")
    call = probe.Call("x32", X64["getppid"] | X32_SYSCALL_BIT)
    [unfiltered] = probe.run([call], None)
    [filtered] = probe.run([call], bpf)
    assert (unfiltered.outcome, unfiltered.errno) == ("returned", errno.ENOSYS)  # no x32 here
    assert (filtered.outcome, filtered.signal) == ("signaled", SIGSYS)


# Calls that end, replace or block the process: each in its own child, never the probe.
ENDINGS = [
    (probe.Call("x86_64", X64["exit"], (3, 0, 0, 0, 0, 0)), "exited", 0, 3),
    (probe.Call("x86", X86["exit_group"], (4, 0, 0, 0, 0, 0)), "exited", 0, 4),
    (probe.Call("x86_64", X64["rt_sigreturn"], kind="sigreturn"), "signaled", signal.SIGSEGV, 0),
    (probe.Call("x86", X86["sigreturn"], kind="sigreturn"), "signaled", signal.SIGSEGV, 0),
    (probe.Call("x86_64", X64["pause"]), "blocked", signal.SIGALRM, 0),
    (probe.Call("x86", X86["pause"]), "blocked", signal.SIGALRM, 0),
    (probe.Call("x86_64", X64["execve"]), "returned", 0, 0),  # NULL path: EFAULT
]


@pytest.mark.parametrize(("call", "outcome", "sig", "status"), ENDINGS)
def test_process_ending_calls(call: probe.Call, outcome: str, sig: int, status: int) -> None:
    [obs] = probe.run([call], None, timeout_ms=100)
    assert (obs.outcome, obs.signal, obs.status) == (outcome, sig, status)


@pytest.mark.parametrize(
    "call",
    [
        probe.Call("x86_64", X64["fork"], kind="fork"),
        probe.Call("x86_64", X64["vfork"], kind="fork"),
        probe.Call("x86_64", X64["clone"], kind="fork"),
        probe.Call("x86", X86["fork"], kind="fork"),
        probe.Call("x86", X86["vfork"], kind="fork"),
    ],
)
def test_fork_like_calls_return_a_pid_and_the_new_process_ends(call: probe.Call) -> None:
    [obs] = probe.run([call], None)
    assert obs.outcome == "returned" and obs.ret > 0


def test_the_probe_is_sandboxed() -> None:
    calls = [
        probe.Call("x86_64", X64["getuid"]),
        probe.Call("x86_64", X64["getppid"]),
        probe.Call("x86_64", X64["kill"], (2**64 - 1, 0, 0, 0, 0, 0)),  # kill(-1, 0)
        probe.Call("x86_64", X64["sethostname"]),
    ]
    uid, ppid, kill_all, sethost = probe.run(calls, None)
    assert uid.ret == 65534  # nobody (an unmapped id in the user namespace reads so too)
    assert ppid.ret == 1  # the runner is PID 1 of a PID namespace of its own
    assert kill_all.errno == errno.ESRCH  # nobody else in reach
    assert sethost.errno in (errno.EPERM, errno.EFAULT)


# --- the cffi module, in forked children only ---------------------------------------------


def _in_child(fn: Callable[[], int]) -> int:
    """Run ``fn`` in a forked child and return the integer it produced."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(r)
            os.write(w, str(fn()).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 64)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return int(data)


@pytest.mark.parametrize("abi", ["x86_64", "x86"])
def test_cffi_install_and_raw_syscall(make_program: Callable[[str], Program], abi: str) -> None:
    bpf = compile_family(make_program(_getppid("errno(EACCES)")), "x86_64")
    nr = tables.table(abi).by_name["getppid"]
    assert _in_child(lambda: native.syscall(abi, nr)) == os.getpid()

    def filtered() -> int:
        native.install_filter(bpf)
        return native.syscall(abi, nr)

    assert _in_child(filtered) == -errno.EACCES


def test_a_blocked_call_is_seen_without_waiting_for_the_timer() -> None:
    # With a 60 s timer, only the runner's watch on the sleeping child can end these soon.
    calls = [probe.Call("x86_64", X64["pause"]), probe.Call("x86", X86["sigsuspend"])]
    start = time.monotonic()
    obs = probe.run(calls, None, timeout_ms=60_000)
    assert [(o.outcome, o.signal) for o in obs] == [("blocked", signal.SIGALRM)] * 2
    assert time.monotonic() - start < 30


def test_a_call_that_returns_is_not_called_blocked() -> None:
    # poll(NULL, 0, 0) and sched_yield return at once, though the child may sleep briefly.
    calls = [probe.Call("x86_64", X64["poll"]), probe.Call("x86_64", X64["sched_yield"])]
    obs = probe.run(calls, None, timeout_ms=60_000)
    assert [(o.outcome, o.ret) for o in obs] == [("returned", 0)] * 2
