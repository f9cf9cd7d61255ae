"""runc runs the probe in a container under our OCI JSON, checked syscall by syscall.

The same method as ``seccompiler test``: the twin program rendered as OCI JSON tells, by its
distinctive errnos, which action libseccomp's filter took for every call; the real profile
shows the promised errno values (tests/live/runckit.py runs the probe in the container).
"""

from __future__ import annotations

from pathlib import Path

import pyseccomp
import pytest
from runckit import run

from seccompiler.backends import oci
from seccompiler.program import Program
from seccompiler.runner import livetest, probe

pytestmark = pytest.mark.live

ABIS = ("x86_64", "x86")
ARCH = {"x86_64": pyseccomp.Arch.X86_64, "x86": pyseccomp.Arch.X86}


def _libseccomp_knows(abi: str, name: str) -> bool:
    """Names libseccomp 2.5 does not know are dropped by runc: the profile cannot reach them.

    -1 is __NR_SCMP_ERROR; x86 socket and IPC calls resolve to negative pseudo-numbers,
    which libseccomp expands to the direct syscall and the socketcall/ipc multiplexer.
    """
    try:
        return int(pyseccomp.resolve_syscall(ARCH[abi], name)) != -1
    except (ValueError, RuntimeError):
        return False


def test_runc_enforces_the_oci_profile_syscall_by_syscall(
    tmp_path: Path, default_program: Program
) -> None:
    program = default_program
    points = [
        p
        for p in livetest.plan(program, ABIS)
        if not p.name.startswith("(") and _libseccomp_knows(p.call.abi, p.name)
    ]
    calls = [p.call for p in points]
    codes = livetest.twin_codes(program)
    twin = livetest.twin_program(program, codes)
    twin_run = run(tmp_path, "twin", oci.render(twin, ABIS), calls, timeout=300)
    real_run = run(tmp_path, "real", oci.render(program, ABIS), calls, timeout=300)
    assert (twin_run.returncode, real_run.returncode) == (0, 0), twin_run.stderr + real_run.stderr
    twin_out, real_out = twin_run.stdout, real_run.stdout
    rows = livetest.judge(
        points, probe.parse_output(twin_out, calls), probe.parse_output(real_out, calls), codes
    )
    assert [r.to_json() for r in rows if not r.ok] == []
    refused = {r.point.name for r in rows if r.seen is not None and r.point.call.abi == "x86_64"}
    assert {"uselib", "kexec_load", "mount", "unshare", "clone3"} <= refused
    assert len({(r.point.call.abi, r.point.name) for r in rows}) > 700
