"""The emitted filters in the real kernel: raw BPF in a child process, OCI JSON under runc.

Calls are chosen to be harmless whatever happens: uselib on a NULL path, unshare of a user
namespace (in a throw-away child or container), getpid, socket creation.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from seccompiler.arch import tables
from seccompiler.backends import bpf, oci
from seccompiler.compile import load_program

REPO = Path(__file__).resolve().parents[3]
DEFAULT = REPO / "profiles" / "keisson-default.yaml"
NR = tables.table("x86_64").by_name
CLONE_NEWUSER = 0x10000000
AF_ALG, AF_INET, SOCK_DGRAM = 38, 2, 2

pytestmark = pytest.mark.live

# (call, expected errno under the default profile; 0 means "the call succeeded")
CALLS = [
    (f"{NR['uselib']}", errno.EPERM),
    (f"{NR['unshare']}:{CLONE_NEWUSER:#x}", errno.EPERM),
    (f"{NR['socket']}:{AF_ALG}:5", errno.EAFNOSUPPORT),
    (f"{NR['getpid']}", 0),
    (f"{NR['socket']}:{AF_INET}:{SOCK_DGRAM}", 0),
    (f"{NR['clone3']}", errno.ENOSYS),
    (f"{NR['personality']}:0xffffffff", errno.EPERM),
    (f"{NR['personality']}:0", 0),
    ("1000", errno.ENOSYS),
]


def parse(output: str) -> list[int]:
    """errno per line of sc's output, 0 for success."""
    return [int(line.split()[2]) for line in output.splitlines()]


def test_bpf_in_a_child_process(tmp_path: Path, sc_binary: Path) -> None:
    program = load_program(str(DEFAULT))
    filt = tmp_path / "x86_64.bpf"
    filt.write_bytes(bpf.compile_family(program, "x86_64"))
    proc = subprocess.run(
        [str(sc_binary), "--bpf", str(filt), *(c for c, _ in CALLS)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert parse(proc.stdout) == [e for _, e in CALLS]


def test_without_the_filter_the_same_calls_behave_differently(sc_binary: Path) -> None:
    """Guards the test above: the errnos it sees come from the filter, not the kernel."""
    calls = [f"{NR['uselib']}", "1000"]
    proc = subprocess.run([str(sc_binary), *calls], capture_output=True, text=True, check=True)
    assert parse(proc.stdout) == [errno.ENOSYS, errno.ENOSYS]


def test_x32_numbers_kill_the_process(tmp_path: Path, sc_binary: Path) -> None:
    program = load_program(str(DEFAULT))
    filt = tmp_path / "x86_64.bpf"
    filt.write_bytes(bpf.compile_family(program, "x86_64"))
    proc = subprocess.run(
        [str(sc_binary), "--bpf", str(filt), f"{NR['getpid']}", f"{0x40000000 | NR['getpid']:#x}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == -31  # SIGSYS: SECCOMP_RET_KILL_PROCESS
    assert parse(proc.stdout) == [0]


def _rootfs(tmp_path: Path, sc_binary: Path) -> Path:
    root = tmp_path / "bundle" / "rootfs"
    root.mkdir(parents=True)
    shutil.copy(sc_binary, root / "sc")
    return root.parent


def _config(args: list[str], seccomp: dict[str, object]) -> dict[str, object]:
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/"],
            "cwd": "/",
            "noNewPrivileges": True,
            "capabilities": {
                k: ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
                for k in ("bounding", "effective", "permitted")
            },
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "seccompiler-test",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "seccomp": seccomp,
        },
    }


@pytest.mark.skipif(os.geteuid() != 0, reason="runc needs root")
def test_runc_runs_a_container_under_the_oci_profile(tmp_path: Path, sc_binary: Path) -> None:
    runc = shutil.which("runc")
    assert runc, "runc is installed by 'make test' (tools/ensure-system-deps)"
    program = load_program(str(DEFAULT))
    profile = json.loads(oci.render_family(program, "x86_64"))
    bundle = _rootfs(tmp_path, sc_binary)
    (bundle / "config.json").write_text(
        json.dumps(_config(["/sc", *(c for c, _ in CALLS)], profile))
    )
    name = f"seccompiler-test-{os.getpid()}"
    state = tmp_path / "state"
    try:
        proc = subprocess.run(
            [runc, "--root", str(state), "run", "--bundle", str(bundle), name],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        subprocess.run(
            [runc, "--root", str(state), "delete", "-f", name], capture_output=True, check=False
        )
    assert proc.returncode == 0, proc.stderr
    assert parse(proc.stdout) == [e for _, e in CALLS]
