"""Real software under the bundled profiles: 32-bit programs' sockets, gdb's ASLR switch.

Every program runs in a child under ``seccompiler run`` (or runc); none of this loads a
filter into the test process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from livekit import DEFAULT, REPO

from seccompiler.backends import oci
from seccompiler.compile import load_program

pytestmark = pytest.mark.live

STRICT = REPO / "profiles" / "keisson-strict.yaml"
SECCOMPILER = str(Path(sys.executable).with_name("seccompiler"))
EPERM, SIGSYS_STATUS = 1, 128 + 31


@pytest.fixture(scope="module")
def sockets32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 32-bit program, linked statically so that runc's rootfs needs nothing else."""
    out = tmp_path_factory.mktemp("prog") / "sockets32"
    src = Path(__file__).parent / "programs" / "sockets32.c"
    subprocess.run(
        ["gcc", "-m32", "-static", "-O2", "-o", str(out), str(src)], check=True, timeout=120
    )
    return out


def _answers(stdout: str) -> dict[str, int]:
    return {how: int(err) for how, err in (line.split() for line in stdout.splitlines())}


def _run(profile: Path | None, argv: list[str]) -> subprocess.CompletedProcess[str]:
    pre = [SECCOMPILER, "run", "--profile", str(profile), "--"] if profile else []
    return subprocess.run([*pre, *argv], capture_output=True, text=True, timeout=120, check=False)


def test_32bit_program_opens_sockets_under_the_default_profile(sockets32: Path) -> None:
    bare = _answers(_run(None, [str(sockets32)]).stdout)
    proc = _run(DEFAULT, [str(sockets32)])
    got = _answers(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    # glibc's socket() goes through socketcall on i386: it works, as do the other TCP paths
    assert (got["libc-inet"], got["socketcall-inet"], got["direct-inet"]) == (0, 0, 0)
    # the direct socket syscall shows the family: AF_ALG is refused by the filter there
    assert got["direct-alg"] == EPERM != bare["direct-alg"]
    # through socketcall the family sits behind a pointer: the kernel answers, as without
    # the filter (the exposure docs/default-profile.md states and lint names)
    assert got["socketcall-alg"] == bare["socketcall-alg"] != EPERM


def test_the_strict_variant_refuses_32bit_x86_outright(sockets32: Path) -> None:
    proc = _run(STRICT, [str(sockets32)])
    assert proc.returncode == SIGSYS_STATUS and proc.stdout == ""


def test_runc_runs_the_32bit_program_under_the_shipped_json(
    tmp_path: Path, sockets32: Path
) -> None:
    from runckit import _config

    runc = shutil.which("runc")
    assert runc, "runc is installed by 'make test' (tools/ensure-system-deps)"
    profile = json.loads(oci.render_family(load_program(str(DEFAULT)), "x86_64"))
    bundle = tmp_path / "bundle"
    (bundle / "rootfs" / "proc").mkdir(parents=True)
    shutil.copy(sockets32, bundle / "rootfs" / "sockets32")
    config = _config(profile, [])
    config["process"]["args"] = ["/sockets32"]
    (bundle / "config.json").write_text(json.dumps(config))
    name, state = f"seccompiler-sockets32-{os.getpid()}", tmp_path / "state"
    try:
        proc = subprocess.run(
            [runc, "--root", str(state), "run", "--bundle", str(bundle), name],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        subprocess.run(
            [runc, "--root", str(state), "delete", "-f", name], capture_output=True, check=False
        )
    assert proc.returncode == 0, proc.stderr
    got = _answers(proc.stdout)
    assert (got["libc-inet"], got["socketcall-inet"], got["direct-inet"]) == (0, 0, 0)
    assert got["direct-alg"] == EPERM and got["socketcall-alg"] != EPERM


GDB_WARNING = "Error disabling address space randomization"


@pytest.mark.parametrize("query_refused", [False, True], ids=["default", "query-refused"])
def test_gdb_disables_randomisation_under_the_default_profile(
    tmp_path: Path, query_refused: bool
) -> None:
    gdb = shutil.which("gdb")
    assert gdb, "gdb is installed by 'make test' (tools/ensure-system-deps)"
    profile = DEFAULT
    if query_refused:  # the control: the profile as it was before the query was allowed
        profile = tmp_path / "no-query.yaml"
        profile.write_text(
            f"seccompiler: 1\nextends: {DEFAULT}\nrules:\n"
            "  - action: errno(EPERM)\n    syscalls: [personality]\n"
            "    args: [{index: 0, op: eq, value: 0xffffffff}]\n"
        )
    argv = [gdb, "-nx", "-batch", "-ex", "run", "--args", "/bin/cat", "/proc/self/personality"]
    proc = _run(profile, argv)
    assert proc.returncode == 0, proc.stderr
    # the inferior reads its own persona: ADDR_NO_RANDOMIZE is 0x0040000
    assert ("00040000" in proc.stdout) != query_refused
    assert (GDB_WARNING in proc.stderr) == query_refused
