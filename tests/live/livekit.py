"""Helpers the live tests share (conftest puts this directory on sys.path)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seccompiler.runner import native, probe

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "profiles" / "keisson-default.yaml"

NO_MKDIR = """\
- action: errno(EPERM)
  syscalls: [mkdir, mkdirat]
  reason: the programs under test need it
"""


def policy_text(rules: str, *, default: str = "allow", abis: str = "[x86_64, x86]") -> str:
    """A whole policy around a YAML list of rules."""
    return textwrap.dedent(
        f"""\
        seccompiler: 1
        name: live-test
        abis: {abis}
        default: {default}
        unknown: errno(ENOSYS)
        rules:
        """
    ) + textwrap.indent(textwrap.dedent(rules), "  ")


def _rootfs(bundle: Path, calls: str) -> None:
    root = bundle / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "proc").mkdir()
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    (root / "bin" / "sh").symlink_to("busybox")
    shutil.copy(native.executable(native.PROBE), root / "probe")
    (root / "calls").write_text(calls)


def _config(seccomp: dict[str, Any]) -> dict[str, Any]:
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 65534, "gid": 65534},
            "args": ["/bin/sh", "-c", "exec /probe --timeout-ms 300 < /calls"],
            "env": ["PATH=/bin"],
            "cwd": "/",
            "noNewPrivileges": True,
            "capabilities": {k: [] for k in ("bounding", "effective", "permitted")},
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "seccompiler-probe",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "seccomp": seccomp,
        },
    }


def run_in_runc(tmp_path: Path, label: str, profile: bytes, calls: Sequence[probe.Call]) -> str:
    """runc runs the probe on ``calls`` in a container under the OCI ``profile``; its output.

    The container is unprivileged (nobody, no capabilities, its own namespaces) and its root
    filesystem holds busybox and the statically linked probe.
    """
    runc = shutil.which("runc")
    assert runc, "runc is installed by 'make test' (tools/ensure-system-deps)"
    bundle = tmp_path / label
    _rootfs(bundle, probe.call_list(calls))
    (bundle / "config.json").write_text(json.dumps(_config(json.loads(profile))))
    name = f"seccompiler-probe-{label}-{os.getpid()}"
    state = tmp_path / "state"
    try:
        proc = subprocess.run(
            [runc, "--root", str(state), "run", "--bundle", str(bundle), name],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        subprocess.run(
            [runc, "--root", str(state), "delete", "-f", name], capture_output=True, check=False
        )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
