"""Wrong answers: malformed input once accepted with exit 0, or a status that lied.

Each row is (name, files to write, argv, exit status wanted, text the output must hold).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hostilekit import PROFILE, Outcome

POLICY = "seccompiler: 1\nname: x\nabis: [x86_64]\ndefault: allow\n"
POD = (
    "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: c\n"
    "    image: x\n    securityContext: {{allowPrivilegeEscalation: {ape}}}\n"
)
JSON = '{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{{"names": ["read"], "action": '
JSON += '"SCMP_ACT_ALLOW"{extra}}}]}}'

Files = dict[str, str]
CASES: list[tuple[str, Files, list[str], int, str]] = [
    (
        "policy: seccompiler: true",
        {"p.yaml": POLICY.replace(": 1", ": true")},
        ["compile", "p.yaml", "-o", "o"],
        1,
        "language version",
    ),
    (
        "policy: name: [a]",
        {"p.yaml": POLICY.replace("name: x", "name: [a]")},
        ["compile", "p.yaml", "-o", "o"],
        1,
        "name",
    ),
    (
        "policy: name: {a: 1}",
        {"p.yaml": POLICY.replace("name: x", "name: {a: 1}")},
        ["compile", "p.yaml", "-o", "o"],
        1,
        "name",
    ),
    (
        "policy: description: [a]",
        {"p.yaml": POLICY + "description: [a]\n"},
        ["compile", "p.yaml", "-o", "o"],
        1,
        "description",
    ),
    (
        'json: "args": {}',
        {"p.json": JSON.format(extra=', "args": {}')},
        ["import", "p.json"],
        1,
        "'args' must be a list",
    ),
    (
        'json: "minKernel": 5',
        {"p.json": JSON.format(extra=', "includes": {"minKernel": 5}')},
        ["import", "p.json"],
        1,
        "minKernel",
    ),
    (
        "json: caps {}",
        {"p.json": JSON.format(extra=', "includes": {"caps": {}}')},
        ["import", "p.json"],
        1,
        "caps",
    ),
    (
        "emulate --syscall 4294967296",
        {},
        ["bpf", "emulate", "f.bpf", "--abi", "x86_64", "--syscall", "4294967296"],
        2,
        "syscall",
    ),
    (
        "emulate --args -2**64-1",
        {},
        [
            "bpf",
            "emulate",
            "f.bpf",
            "--abi",
            "x86_64",
            "--syscall",
            "read",
            "--args",
            "-18446744073709551617",
        ],
        2,
        "argument",
    ),
    (
        "emulate --args 2**64",
        {},
        [
            "bpf",
            "emulate",
            "f.bpf",
            "--abi",
            "x86_64",
            "--syscall",
            "read",
            "--args",
            "18446744073709551616",
        ],
        2,
        "argument",
    ),
    (
        "emulate --args seven of them",
        {},
        [
            "bpf",
            "emulate",
            "f.bpf",
            "--abi",
            "x86_64",
            "--syscall",
            "read",
            "--args",
            "1",
            "2",
            "3",
            "4",
            "5",
            "6",
            "7",
        ],
        2,
        "",
    ),
    (
        "emulate --ip 2**64",
        {},
        [
            "bpf",
            "emulate",
            "f.bpf",
            "--abi",
            "x86_64",
            "--syscall",
            "read",
            "--ip",
            "18446744073709551616",
        ],
        2,
        "ip",
    ),
    ("yama --proc-root /", {}, ["yama", "status", "--proc-root", "/"], 2, "proc root"),
    (
        "yama check --proc-root /",
        {},
        ["yama", "check", "--scope", "1", "--proc-root", "/"],
        2,
        "proc root",
    ),
    (
        "pss: allowPrivilegeEscalation: n",
        {"pod.yaml": POD.format(ape="n")},
        ["pss", "check", "pod.yaml"],
        0,
        "0 violate",
    ),
    (
        "pss: allowPrivilegeEscalation: Y",
        {"pod.yaml": POD.format(ape="Y")},
        ["pss", "check", "--level", "restricted", "pod.yaml"],
        1,
        "allowPrivilegeEscalation",
    ),
    (
        "pss: allowPrivilegeEscalation: 'n'",
        {"pod.yaml": POD.format(ape="'n'")},
        ["pss", "check", "pod.yaml"],
        1,
        "expected a boolean",
    ),
    (
        "pss: allowPrivilegeEscalation: off",
        {"pod.yaml": POD.format(ape="off")},
        ["pss", "check", "pod.yaml"],
        0,
        "0 violate",
    ),
]


@pytest.mark.parametrize(
    ("name", "files", "argv", "code", "says"), CASES, ids=[c[0] for c in CASES]
)
def test_wrong_answer_is_right_now(
    tmp_path: Path,
    hostile: Callable[..., Outcome],
    name: str,
    files: Files,
    argv: list[str],
    code: int,
    says: str,
) -> None:
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    (tmp_path / "f.bpf").write_bytes(bytes.fromhex("0600000000000000"))  # ret #0 (kill)
    outcome = hostile(argv, cwd=tmp_path)
    assert outcome.clean, outcome
    assert outcome.code == code, outcome
    assert says.lower() in (outcome.out + outcome.err).lower(), outcome


def test_filter_too_long_is_an_input_error(tmp_path: Path, hostile: Callable[..., Outcome]) -> None:
    """More instructions than the kernel loads: the policy was read and found wanting (1)."""
    values = ", ".join(str(v) for v in range(0, 12000, 2))
    (tmp_path / "big.yaml").write_text(
        "seccompiler: 1\nname: big\nabis: [x86_64]\ndefault: allow\nrules:\n"
        f"  - action: errno(EPERM)\n    syscalls: [ioctl]\n"
        f"    args: [{{index: 1, op: eq, value: [{values}]}}]\n"
    )
    outcome = hostile(
        ["compile", "big.yaml", "-o", "o", "--format", "bpf"], cwd=tmp_path, timeout=60
    )
    assert outcome.clean, outcome
    assert outcome.code == 1, outcome
    assert "instructions" in outcome.err, outcome


@pytest.mark.parametrize("kind", ["fifo", "dangling", "devzero", "loop"])
def test_build_refuses_unreadable_profiles_instead_of_skipping(
    tmp_path: Path, hostile: Callable[..., Outcome], kind: str
) -> None:
    import os
    import shutil

    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copy(PROFILE, profiles)
    bad = profiles / "other.yaml"
    if kind == "fifo":
        os.mkfifo(bad)
    elif kind == "dangling":
        bad.symlink_to("missing.yaml")
    elif kind == "devzero":
        bad.symlink_to("/dev/zero")
    else:
        bad.symlink_to("other.yaml")
    outcome = hostile(["build", profiles, "-o", tmp_path / "dist"])
    assert outcome.clean, outcome
    assert outcome.code == 2, outcome
    assert "other.yaml" in outcome.err, outcome
    assert not (tmp_path / "dist").exists()
