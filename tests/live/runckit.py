"""Run the probe in a container under an OCI seccomp profile with the real runc."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from seccompiler.platform import runtimes
from seccompiler.runner import native, probe


def local_runc() -> runtimes.Runtime | None:
    """The runc on this machine as a runtime target, or None without one."""
    runc = shutil.which("runc")
    if runc is None:
        return None
    out = subprocess.run([runc, "--version"], capture_output=True, text=True, check=False)
    m = re.search(r"runc version (\d+\.\d+\.\d+)", out.stdout)
    return runtimes.parse(f"runc-{m[1]}") if m else None


def _config(seccomp: dict[str, Any], calls: list[probe.Call]) -> dict[str, Any]:
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 65534, "gid": 65534},
            "args": ["/probe", "--timeout-ms", "300", *(c.line() for c in calls)],
            "env": ["PATH=/"],
            "cwd": "/",
            "noNewPrivileges": True,
            "capabilities": {k: [] for k in ("bounding", "effective", "permitted")},
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "seccompiler-target",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "seccomp": seccomp,
        },
    }


def run(
    tmp: Path, label: str, profile: bytes, calls: list[probe.Call], *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``calls`` under ``profile`` (OCI JSON bytes) in a runc container.

    The tests' one runc harness: an unprivileged container (nobody, no capabilities, its own
    namespaces) whose root filesystem holds only the statically linked probe.
    """
    runc = shutil.which("runc")
    assert runc, "runc is installed by 'make test' (tools/ensure-system-deps)"
    bundle = tmp / label
    root = bundle / "rootfs"
    (root / "proc").mkdir(parents=True)
    shutil.copy(native.executable(native.PROBE), root / "probe")
    config = _config(json.loads(profile), calls)
    bundle.joinpath("config.json").write_text(json.dumps(config))
    name = f"seccompiler-target-{label}-{os.getpid()}"
    state = tmp / "state"
    try:
        return subprocess.run(
            [runc, "--root", str(state), "run", "--bundle", str(bundle), name],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    finally:
        subprocess.run(
            [runc, "--root", str(state), "delete", "-f", name], capture_output=True, check=False
        )
