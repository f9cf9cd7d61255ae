"""Arguments are compared as wide as the kernel reads them, in the real kernel.

The kernel reads an ``int`` argument's low 32 bits and a ``umode_t``'s low 16, whatever the
caller puts above them: a filter comparing more could be sidestepped. Calls here are
harmless whatever happens (getpgid of a pid that cannot exist, chmod of a NULL path,
socket creation, readv of a descriptor that is not open), made in the probe's throw-away
child on x86_64 and on x86 (int 0x80).
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from livekit import policy_text

from seccompiler.arch import tables
from seccompiler.backends import bpf
from seccompiler.compile import load_program
from seccompiler.runner import probe

pytestmark = pytest.mark.live

HI = 1 << 32
NO_PID = 0x7FFFFF00  # above any pid_max: getpgid says ESRCH when the call reaches the kernel
AF_INET, SOCK_DGRAM = 2, 2

RULES = f"""\
- action: errno(EPERM)
  syscalls: [getpgid]
  args: [{{index: 0, value: {NO_PID}}}]
- action: errno(EACCES)
  syscalls: [socket]
  args: [{{index: 0, op: lt, value: 0x100000000}}]  # every int is below it
- action: errno(EPERM)
  syscalls: [chmod]
  args: [{{index: 1, value: 0o4755}}]
- action: errno(EXDEV)
  syscalls: [readv]
  args: [{{index: 0, value: {NO_PID}}}]  # an unsigned long fd, which fdget() cuts to 32 bits
"""


def _call(abi: str, name: str, *args: int) -> probe.Call:
    nr = tables.table(abi).by_name[name]
    return probe.Call(abi, nr, (*args, *(0,) * (6 - len(args))))


# (call, errno with the filter, errno without it)
CALLS = [
    (_call("x86_64", "getpgid", NO_PID), errno.EPERM, errno.ESRCH),
    (_call("x86_64", "getpgid", HI | NO_PID), errno.EPERM, errno.ESRCH),  # the kernel: NO_PID
    (_call("x86_64", "socket", AF_INET, SOCK_DGRAM), errno.EACCES, 0),
    (_call("x86_64", "chmod", 0, 0o4755), errno.EPERM, errno.EFAULT),
    (_call("x86_64", "chmod", 0, 0x10000 | 0o4755), errno.EPERM, errno.EFAULT),  # umode_t
    (_call("x86_64", "chmod", 0, 0o755), errno.EFAULT, errno.EFAULT),
    (_call("x86_64", "readv", NO_PID, 0, 0), errno.EXDEV, errno.EBADF),  # no such fd
    (_call("x86_64", "readv", HI | NO_PID, 0, 0), errno.EXDEV, errno.EBADF),
    (_call("x86", "getpgid", NO_PID), errno.EPERM, errno.ESRCH),
    (_call("x86", "socket", AF_INET, SOCK_DGRAM), errno.EACCES, 0),
    (_call("x86", "chmod", 0, 0x10000 | 0o4755), errno.EPERM, errno.EFAULT),
]


def _errnos(observed: list[probe.Observation]) -> list[int | str]:
    return [o.errno if o.outcome == "returned" else o.outcome for o in observed]


def test_no_call_slips_past_through_bits_the_kernel_does_not_read(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(policy_text(RULES))
    filt = bpf.compile_family(load_program(str(path)), "x86_64")
    assert _errnos(probe.run([c for c, _, _ in CALLS], filt)) == [e for _, e, _ in CALLS]


def test_without_the_filter_the_calls_reach_the_kernel() -> None:
    """Guards the test above: the kernel reads only the low bits, so without the filter the
    widened calls do what the narrow ones do."""
    assert _errnos(probe.run([c for c, _, _ in CALLS], None)) == [e for _, _, e in CALLS]
