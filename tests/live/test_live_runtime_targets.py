"""Every OCI JSON ``build`` ships, loaded by the real runc for each target this machine has.

An allowed call works, a refused call gets the policy's errno (the audit variant lets it
through to the kernel instead), and an x32 number is killed: the runtime, not our model,
says the file loads and does what the policy says.
"""

from __future__ import annotations

import errno
import json
import signal
from pathlib import Path

import pytest
from runckit import local_runc, run

from seccompiler.arch.abi import X32_SYSCALL_BIT
from seccompiler.arch.tables import table
from seccompiler.compile import load_program
from seccompiler.platform import config, runtimes
from seccompiler.platform.build import build_dist
from seccompiler.program import ActionKind, Program
from seccompiler.runner import probe

pytestmark = pytest.mark.live

PROFILES = Path(__file__).parents[2] / "profiles"
X64 = table("x86_64").by_name
RUNC_FAILED = "runc run failed"
# Calls the platform refuses whose kernel answer, when let through, is not that errno.
REFUSED_CANDIDATES = ("add_key", "request_key", "keyctl", "kexec_load", "uselib")


@pytest.fixture(scope="module")
def shipped() -> dict[str, bytes]:
    files = build_dist(PROFILES).files
    return {
        rel: data
        for rel, data in files.items()
        if rel.endswith(".json") and ("/oci/" in rel or "/seccomp/" in rel)
    }


@pytest.fixture(scope="module")
def program() -> Program:
    return load_program(str(PROFILES / "keisson-default.yaml"))


def _refused(program: Program) -> tuple[str, int]:
    native = next(p for p in program.abis if p.abi.name == "x86_64")
    for name in REFUSED_CANDIDATES:
        sp = native.syscalls.get(X64[name])
        if sp and not sp.rules and sp.fallback.kind is ActionKind.ERRNO:
            return name, sp.fallback.data
    raise AssertionError("the default profile refuses none of the candidate calls")


def _targets() -> list[runtimes.Runtime]:
    return list(config.load(PROFILES).runtimes)


def test_every_shipped_json_is_judged(shipped: dict[str, bytes]) -> None:
    names = sorted(shipped)
    assert "node/var/lib/kubelet/seccomp/keisson/default.json" in names
    assert "node/var/lib/kubelet/seccomp/keisson/audit/default.json" in names
    assert "keisson-default/oci/x86_64.json" in names
    assert all(b"SCMP_ARCH_RISCV64" not in shipped[n] for n in names)  # not in the fleet


@pytest.mark.parametrize("target", _targets(), ids=str)
def test_runc_loads_every_shipped_json(
    target: runtimes.Runtime, shipped: dict[str, bytes], program: Program, tmp_path: Path
) -> None:
    here = local_runc()
    if here is None or here.name != target.name or here.version != target.version:
        pytest.skip(f"{target} is not on this machine (runc here: {here})")
    name, code = _refused(program)
    calls = [
        probe.Call("x86_64", X64["getppid"]),
        probe.Call("x86_64", X64[name]),
        probe.Call("x32", X64["getppid"] | X32_SYSCALL_BIT),
    ]
    native = [rel for rel, data in shipped.items() if b'"SCMP_ARCH_X86_64"' in data]
    assert {  # every bundled profile ships these; the default profile's must be among them
        "keisson-default/oci/x86_64.json",
        "node/var/lib/kubelet/seccomp/keisson/default.json",
        "node/var/lib/kubelet/seccomp/keisson/audit/default.json",
    } <= set(native)
    for i, (rel, data) in enumerate(sorted(shipped.items())):
        proc = run(tmp_path, f"f{i}", data, calls)
        assert RUNC_FAILED not in proc.stderr, f"{rel}: {proc.stderr}"
        if rel not in native:
            continue  # runc took it; its kernel family's calls cannot be made on this machine
        assert proc.returncode == 0, f"{rel}: {proc.stderr}"
        allowed, refused, x32 = probe.parse_output(proc.stdout, calls, rel)
        assert (allowed.outcome, allowed.errno) == ("returned", 0), rel
        assert x32.outcome == "signaled" and x32.signal == signal.SIGSYS, rel
        if "/audit/" in rel:
            assert refused.outcome == "returned" and refused.errno not in (0, code), rel
        else:
            assert (refused.outcome, refused.ret, refused.errno) == ("returned", -1, code), rel
        assert errno.errorcode.get(code)


def test_the_table_and_the_real_runc_agree_on_an_arch_it_lacks(tmp_path: Path) -> None:
    """Negative control: a file naming an arch the local runc lacks is refused by both."""
    here = local_runc()
    if here is None:
        pytest.skip("no runc on this machine")
    fleet = config.PlatformConfig(
        architectures=("amd64", "riscv64"), runtimes=(runtimes.parse("runc-1.2.0"),)
    )
    data = build_dist(PROFILES, platform=fleet).files["keisson-default/oci/riscv64.json"]
    table_says = runtimes.problems(json.loads(data), here)
    proc = run(tmp_path, "riscv", data, [probe.Call("x86_64", X64["getppid"])])
    assert [p.value for p in table_says] == ["SCMP_ARCH_RISCV64"]
    assert RUNC_FAILED in proc.stderr and "SCMP_ARCH_RISCV64" in proc.stderr
