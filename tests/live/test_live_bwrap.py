"""bubblewrap loads our raw BPF (``bwrap --seccomp FD``) and the program inside is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit import NO_MKDIR

from seccompiler.arch import tables
from seccompiler.backends.bpf import compile_family
from seccompiler.program import Program

pytestmark = pytest.mark.live

PY = shutil.which("python3") or sys.executable
USELIB = tables.table("x86_64").by_name["uselib"]
# Inside the sandbox: mkdir in a private tmpfs, and uselib(NULL) through libc's syscall().
SCRIPT = f"""
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
try:
    os.mkdir('/tmp/inside')
    print('mkdir ok')
except OSError as e:
    print('mkdir', errno.errorcode[e.errno])
libc.syscall({USELIB}, None)
print('uselib', errno.errorcode[ctypes.get_errno()])
"""


def _bwrap(bpf: bytes | None, tmp_path: Path) -> list[str]:
    bwrap = shutil.which("bwrap")
    assert bwrap, "bubblewrap is installed by 'make test' (tools/ensure-system-deps)"
    cmd = [
        bwrap,
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        "--unshare-all",
        "--die-with-parent",
    ]
    fds: list[int] = []
    if bpf is not None:
        path = tmp_path / "filter.bpf"
        path.write_bytes(bpf)
        fd = os.open(path, os.O_RDONLY)
        fds.append(fd)
        cmd += ["--seccomp", str(fd)]
    try:
        proc = subprocess.run(
            [*cmd, PY, "-c", SCRIPT],
            capture_output=True,
            text=True,
            timeout=60,
            pass_fds=fds,
            check=False,
        )
    finally:
        for fd in fds:
            os.close(fd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("\n")[:2]


def test_without_a_filter_bwrap_lets_both_run(tmp_path: Path) -> None:
    """Guards the tests below: the errors they see come from our filter."""
    assert _bwrap(None, tmp_path) == ["mkdir ok", "uselib ENOSYS"]


def test_bwrap_enforces_the_default_profile(tmp_path: Path, default_program: Program) -> None:
    bpf = compile_family(default_program, "x86_64")
    assert _bwrap(bpf, tmp_path) == ["mkdir ok", "uselib EPERM"]


def test_bwrap_enforces_a_policy_refusing_mkdir(
    tmp_path: Path, make_program: Callable[[str], Program]
) -> None:
    bpf = compile_family(make_program(NO_MKDIR), "x86_64")
    assert _bwrap(bpf, tmp_path) == ["mkdir EPERM", "uselib ENOSYS"]
