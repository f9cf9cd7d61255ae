"""The default profile's filters in the real kernel: raw BPF through the probe, OCI JSON under runc.

Calls are chosen to be harmless whatever happens: uselib on a NULL path, unshare of a user
namespace (in the probe's throw-away child or a container), getpid, socket creation.
"""

from __future__ import annotations

import errno
import signal
from pathlib import Path

import pytest
from runckit import run

from seccompiler.arch import tables
from seccompiler.backends import bpf, oci
from seccompiler.program import Program
from seccompiler.runner import probe

NR = tables.table("x86_64").by_name
CLONE_NEWUSER = 0x10000000
AF_ALG, AF_INET, SOCK_DGRAM = 38, 2, 2

pytestmark = pytest.mark.live


def _call(nr: int, *args: int) -> probe.Call:
    return probe.Call("x86_64", nr, (*args, *(0,) * (6 - len(args))))


# (call, expected errno under the default profile; 0 means "the call succeeded")
CALLS = [
    (_call(NR["uselib"]), errno.EPERM),
    (_call(NR["unshare"], CLONE_NEWUSER), errno.EPERM),
    (_call(NR["socket"], AF_ALG, 5), errno.EPERM),
    (_call(NR["getpid"]), 0),
    (_call(NR["socket"], AF_INET, SOCK_DGRAM), 0),
    (_call(NR["clone3"]), errno.ENOSYS),
    (_call(NR["personality"], 0xFFFFFFFF), 0),  # the query gdb makes
    (_call(NR["personality"], 0x400000), errno.EPERM),  # READ_IMPLIES_EXEC
    (_call(NR["personality"], 0), 0),
    (_call(1000), errno.ENOSYS),
]


def errnos(observations: list[probe.Observation]) -> list[int | str]:
    """errno per call, 0 for success; the outcome instead when the call did not return."""
    return [o.errno if o.outcome == "returned" else o.outcome for o in observations]


def test_bpf_in_a_child_process(default_program: Program) -> None:
    filt = bpf.compile_family(default_program, "x86_64")
    observed = probe.run([c for c, _ in CALLS], filt)
    assert errnos(observed) == [e for _, e in CALLS]


def test_without_the_filter_the_same_calls_behave_differently() -> None:
    """Guards the test above: the errnos it sees come from the filter, not the kernel."""
    observed = probe.run([_call(NR["uselib"]), _call(1000)], None)
    assert errnos(observed) == [errno.ENOSYS, errno.ENOSYS]


def test_x32_numbers_kill_the_process(default_program: Program) -> None:
    filt = bpf.compile_family(default_program, "x86_64")
    x32_getpid = probe.Call("x32", 0x40000000 | NR["getpid"])
    native_getpid, x32 = probe.run([_call(NR["getpid"]), x32_getpid], filt)
    assert (native_getpid.outcome, native_getpid.errno) == ("returned", 0)
    assert (x32.outcome, x32.signal) == ("signaled", signal.SIGSYS)  # SECCOMP_RET_KILL_PROCESS


def test_runc_runs_a_container_under_the_oci_profile(
    tmp_path: Path, default_program: Program
) -> None:
    calls = [c for c, _ in CALLS]
    done = run(tmp_path, "default", oci.render_family(default_program, "x86_64"), calls)
    assert done.returncode == 0, done.stderr
    assert errnos(probe.parse_output(done.stdout, calls)) == [e for _, e in CALLS]
