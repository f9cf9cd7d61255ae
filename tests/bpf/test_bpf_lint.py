"""lint: each finding, from the smallest input that shows it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bpfkit import export, libseccomp_filter

from seccompiler.commands.cli import main

HEAD = "seccompiler: 1\nname: t\n"

POLICIES = [
    ("risky allowed", "abis: [x86_64]\ndefault: allow\nunknown: errno(ENOSYS)\n", "risky-allowed"),
    (
        "allow unbounded",
        "abis: [x86_64]\ndefault: errno(EPERM)\nunknown: allow\nrules:\n"
        "  - {action: allow, syscalls: [read]}\n",
        None,
    ),
    (
        "allow and unknown allow",
        "abis: [x86_64]\ndefault: allow\nunknown: allow\nrules:\n"
        "  - {action: errno(EPERM), syscalls: ['@risky']}\n",
        "allow-unbounded",
    ),
    (
        "wide compare",
        "abis: [x86_64]\ndefault: errno(EPERM)\nunknown: errno(ENOSYS)\nrules:\n"
        "  - action: allow\n    syscalls: [personality]\n"
        "    args: [{index: 0, op: eq, value: 8, width: 64}]\n",
        "wide-int-compare",
    ),
    (
        "narrow compare is fine",
        "abis: [x86_64]\ndefault: errno(EPERM)\n"
        "unknown: errno(ENOSYS)\nrules:\n  - action: allow\n    syscalls: [personality]\n"
        "    args: [{index: 0, op: eq, value: 8}]\n",
        None,
    ),
    (
        "socketcall open",
        "abis: [x86]\ndefault: allow\nunknown: errno(ENOSYS)\nrules:\n"
        "  - {action: errno(EPERM), syscalls: ['@risky', socket]}\n",
        "multiplexer-open",
    ),
    (
        "socketcall closed too",
        "abis: [x86]\ndefault: allow\nunknown: errno(ENOSYS)\nrules:\n"
        "  - {action: errno(EPERM), syscalls: ['@risky', socket, socketcall]}\n",
        None,
    ),
    (
        "unknown to libseccomp 2.5.4",
        "abis: [x86_64]\ndefault: allow\nunknown: errno(ENOSYS)\n"
        "rules:\n  - {action: errno(EPERM), syscalls: ['@risky', mseal]}\n",
        "unknown-to-runtime",
    ),
]


@pytest.mark.parametrize(("body", "code"), [c[1:] for c in POLICIES], ids=[c[0] for c in POLICIES])
def test_policy_findings(
    tmp_path: Path, body: str, code: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / "p.yaml"
    p.write_text(HEAD + body)
    runtime = ["--runtime-libseccomp", _libseccomp()] if code == "unknown-to-runtime" else []
    rc = main(["lint", str(p), *runtime, "--format", "json"])
    codes = {f["code"] for f in json.loads(capsys.readouterr().out)}
    if code is None:
        assert (rc, codes) == (0, set())
    else:
        assert rc == 1 and code in codes


def _libseccomp() -> str:
    from seccompiler.prove.libseccomp_ref import version

    return version()


def test_risky_finding_points_at_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / "p.yaml"
    p.write_text(
        HEAD + "abis: [x86_64]\ndefault: errno(EPERM)\nunknown: errno(ENOSYS)\n"
        "rules:\n  - {action: allow, syscalls: [read, mount]}\n"
    )
    assert main(["lint", str(p), "--format", "json"]) == 1
    (f,) = json.loads(capsys.readouterr().out)
    assert (f["code"], f["syscall"], f["line"]) == ("risky-allowed", "mount", 7)


def test_json_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {
                "names": ["mount"],
                "action": "SCMP_ACT_ALLOW",
                "includes": {"caps": ["CAP_SYS_ADMIN"]},
            },
        ],
    }
    p = tmp_path / "p.json"
    p.write_text(json.dumps(doc, indent=1))
    assert main(["lint", str(p), "--format", "json"]) == 1
    found = {(f["code"], f["line"]) for f in json.loads(capsys.readouterr().out)}
    assert ("rule-is-default", 16) in found
    assert ("containerd-ignores", 23) in found
    assert ("containerd-ignores", 1) in found  # archMap without architectures


def test_bpf_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pyseccomp as sc

    f = sc.SyscallFilter(sc.ALLOW)
    f.add_arch(sc.Arch.X32)
    f.remove_arch(sc.Arch.X32)  # libseccomp's guard for x32 stays in: nothing to find
    p = tmp_path / "f.bpf"
    p.write_bytes(export(f))
    assert main(["lint", str(p), "--abi", "x86_64"]) == 0
    from seccompiler.bpf import insn as b

    naive = [
        b.stmt(b.LD | b.W | b.ABS, 4),
        b.jump(b.JMP | b.JEQ | b.K, 0xC000003E, 0, 1),
        b.stmt(b.RET | b.K, 0x7FFF0000),
        b.stmt(b.RET | b.K, 0x7FFF0000),
    ]
    p.write_bytes(b.encode(naive))
    capsys.readouterr()
    assert main(["lint", str(p), "--abi", "x86_64", "--format", "json"]) == 1
    codes = {f["code"] for f in json.loads(capsys.readouterr().out)}
    assert codes == {"no-x32-guard", "foreign-arch-allowed"}
    p.write_bytes(libseccomp_filter())
    assert main(["lint", str(p), "--abi", "x86_64,x86"]) == 0


def test_runtime_version_must_be_the_loaded_one(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text(HEAD + "abis: [x86_64]\ndefault: errno(EPERM)\nrules: []\n")
    assert main(["lint", str(p), "--runtime-libseccomp", "9.9.9"]) == 2
