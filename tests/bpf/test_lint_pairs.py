"""Every lint code, with the smallest input that makes it fire and its safe look-alike.

A finding must be a real risk: each code's quiet twin differs from the firing input in the
one detail that removes the risk, and lint must say nothing about it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from seccompiler.backends import bpf as bpf_backend
from seccompiler.bpf import insn as b
from seccompiler.commands.cli import main
from seccompiler.compile import load_program
from seccompiler.prove import lint

HEAD = "seccompiler: 1\nname: t\n"
X86_64 = "abis: [x86_64]\ndefault: allow\nunknown: errno(ENOSYS)\n"
DENY = "abis: [x86_64]\ndefault: errno(EPERM)\nunknown: errno(ENOSYS)\n"
SAFE = "  - {action: errno(EPERM), syscalls: ['@risky']}\n"


def _policy(body: str) -> str:
    return HEAD + body


def _json(extra: dict[str, object] | None = None, **rule: object) -> str:
    doc: dict[str, object] = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", **rule}],
    }
    return json.dumps(doc | (extra or {}), indent=1)


_FAMILY_SOCKET = (
    "  - action: errno(EPERM)\n    syscalls: [socket]\n"
    "    args: [{index: 0, op: eq, value: AF_ALG}]\n"
)

# code → (file suffix, fires, quiet)
PAIRS: dict[str, tuple[str, str, str]] = {
    "risky-allowed": (
        ".yaml",
        _policy(X86_64 + "rules: []\n"),
        _policy(X86_64 + "rules:\n" + SAFE),
    ),
    "allow-unbounded": (
        ".yaml",
        _policy("abis: [x86_64]\ndefault: allow\nunknown: allow\nrules:\n" + SAFE),
        _policy("abis: [x86_64]\ndefault: allow\nunknown: errno(ENOSYS)\nrules:\n" + SAFE),
    ),
    "wide-int-compare": (  # an int compared on 64 bits, and the masked form that is not
        ".yaml",
        _policy(
            X86_64 + "rules:\n" + SAFE + "  - action: errno(EPERM)\n    syscalls: [personality]\n"
            "    args: [{index: 0, op: eq, value: 8, width: 64}]\n"
        ),
        _policy(
            X86_64 + "rules:\n" + SAFE + "  - action: errno(EPERM)\n    syscalls: [personality]\n"
            "    args: [{index: 0, op: masked_eq, mask: 0xffffffff, value: 8, width: 64}]\n"
        ),
    ),
    "multiplexer-open": (
        ".yaml",
        _policy(
            "abis: [x86]\ndefault: allow\nunknown: errno(ENOSYS)\nrules:\n"
            "  - {action: errno(EPERM), syscalls: ['@risky', socket]}\n"
        ),
        _policy(
            "abis: [x86]\ndefault: allow\nunknown: errno(ENOSYS)\nrules:\n"
            "  - {action: errno(EPERM), syscalls: ['@risky', socket, socketcall]}\n"
        ),
    ),
    "multiplexer-args-unseen": (  # the family refused, socketcall(SYS_SOCKET) allowed
        ".yaml",
        _policy(
            "abis: [x86]\ndefault: allow\nunknown: errno(ENOSYS)\nrules:\n" + SAFE + _FAMILY_SOCKET
        ),
        _policy(
            "abis: [x86]\ndefault: allow\nunknown: errno(ENOSYS)\nrules:\n"
            + SAFE
            + _FAMILY_SOCKET
            + "  - action: errno(EPERM)\n    syscalls: [socketcall]\n"
            "    args: [{index: 0, op: eq, value: SYS_SOCKET}]\n"
        ),
    ),
    "unknown-to-runtime": (
        ".yaml",
        _policy(DENY + "rules:\n  - {action: allow, syscalls: [read, mseal]}\n"),
        _policy(DENY + "rules:\n  - {action: allow, syscalls: [read, write]}\n"),
    ),
    "sibling-open": (  # ptrace refused alone, and with the group that covers its siblings
        ".yaml",
        _policy(X86_64 + "rules:\n" + SAFE + "  - {action: errno(EPERM), syscalls: [ptrace]}\n"),
        _policy(X86_64 + "rules:\n" + SAFE + "  - {action: errno(EPERM), syscalls: ['@debug']}\n"),
    ),
    "rule-is-default": (
        ".json",
        _json(action="SCMP_ACT_ERRNO"),
        _json(),
    ),
    "containerd-ignores": (
        ".json",
        _json(includes={"caps": ["CAP_SYS_ADMIN"]}),
        _json(includes={}),
    ),
    "no-x32-guard": (".bpf", "naive-x86_64", "ours"),
    "foreign-arch-allowed": (".bpf", "naive-x86_64", "ours"),
}


def _bpf(kind: str, tmp_path: Path) -> bytes:
    if kind == "ours":
        p = tmp_path / "ours.yaml"
        p.write_text(_policy(X86_64 + "rules:\n" + SAFE))
        return bpf_backend.compile_family(load_program(str(p)), "x86_64")
    return b.encode(  # allows everything, whatever the arch, x32 numbers included
        [
            b.stmt(b.LD | b.W | b.ABS, 4),
            b.jump(b.JMP | b.JEQ | b.K, 0xC000003E, 0, 1),
            b.stmt(b.RET | b.K, 0x7FFF0000),
            b.stmt(b.RET | b.K, 0x7FFF0000),
        ]
    )


def _codes(tmp_path: Path, suffix: str, text: str, capsys: pytest.CaptureFixture[str]) -> set[str]:
    p = tmp_path / f"input{suffix}"
    if suffix == ".bpf":
        p.write_bytes(_bpf(text, tmp_path))
    else:
        p.write_text(text)
    extra = ["--abi", "x86_64"] if suffix == ".bpf" else []
    if "[read, " in text:
        from seccompiler.prove.libseccomp_ref import version

        extra += ["--runtime-libseccomp", version()]
    capsys.readouterr()
    main(["lint", str(p), *extra, "--format", "json"])
    return {f["code"] for f in json.loads(capsys.readouterr().out)}


@pytest.mark.parametrize("code", sorted(PAIRS))
def test_code_fires(code: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suffix, fires, _ = PAIRS[code]
    assert code in _codes(tmp_path, suffix, fires, capsys)


@pytest.mark.parametrize("code", sorted(PAIRS))
def test_code_quiet_on_the_safe_look_alike(
    code: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suffix, _, quiet = PAIRS[code]
    assert _codes(tmp_path, suffix, quiet, capsys) == set()


def test_every_code_has_a_pair() -> None:
    source = Path(lint.__file__).read_text()
    codes = set(re.findall(r'Finding\(\s*"([a-z0-9-]+)"', source))
    assert codes == set(PAIRS)
