"""The toolchain commands end to end: exit codes, outputs, round trips."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from bpfkit import libseccomp_filter

from seccompiler.backends.bpf import compile_family
from seccompiler.bpf import insn as b
from seccompiler.bpf.disasm import disassemble
from seccompiler.commands.cli import main
from seccompiler.compile import load_program

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("SECCOMPILER_SHARED", REPO.parent / "shared")) / "data"
ABSENT = f"{DATA}: the shared data (SECCOMPILER_SHARED) is not present"
DEFAULT = str(REPO / "profiles" / "keisson-default.yaml")
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=ABSENT)


@pytest.fixture
def small_bpf(tmp_path: Path) -> Path:
    p = tmp_path / "small.bpf"
    p.write_bytes(libseccomp_filter())
    return p


def test_disasm_asm_round_trip(tmp_path: Path, small_bpf: Path) -> None:
    listing = tmp_path / "small.s"
    assert main(["bpf", "disasm", str(small_bpf), "--abi", "x86_64", "-o", str(listing)]) == 0
    assert main(["bpf", "asm", str(listing), "-o", str(tmp_path / "back.bpf")]) == 0
    assert (tmp_path / "back.bpf").read_bytes() == small_bpf.read_bytes()


BIG = (
    "seccompiler: 1\nname: big\nabis: [s390x, s390, ppc64]\ndefault: allow\nrules:\n"
    "  - {action: errno(EPERM), syscalls: [mount]}\n"
    "  - action: allow\n    syscalls: [personality]\n"
    "    args: [{index: 0, op: eq, value: 8}]\n"
)


@pytest.mark.parametrize("family", ["x86_64", "aarch64", "riscv64", "s390x", "ppc64"])
def test_round_trip_on_every_filter_we_emit(tmp_path: Path, family: str) -> None:
    from seccompiler.arch.abi import ABIS
    from seccompiler.bpf.asm import assemble_listing
    from seccompiler.prove.verify import verify_bpf

    policy = tmp_path / "big.yaml"
    policy.write_text(BIG)
    program = load_program(DEFAULT if family in ("x86_64", "aarch64", "riscv64") else str(policy))
    endian = ABIS[family].endian
    data = compile_family(program, family)
    insns, used = assemble_listing(disassemble(b.decode(data, endian), endian))
    assert b.encode(insns, used) == data
    assert verify_bpf(program, data, family).ok


EMULATE = [
    (["--abi", "x86_64", "--syscall", "personality", "--args", "8"], "allow"),
    (["--abi", "x86_64", "--syscall", "personality", "--args", "9"], "errno(EPERM)"),
    (["--abi", "x86", "--syscall", "personality", "--args", "0x100000008"], "allow"),
    (["--abi", "x86_64", "--syscall", "435"], "errno(ENOSYS)"),
    (["--abi", "x86_64", "--syscall", "mmap", "--args", "0 0 7"], "errno(EPERM)"),
    (["--abi", "x86_64", "--syscall", "mmap", "--args", "0,0,3"], "allow"),
]


@pytest.mark.parametrize(("argv", "action"), EMULATE)
def test_emulate(
    small_bpf: Path, argv: list[str], action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bpf", "emulate", str(small_bpf), *argv]) == 0
    out = capsys.readouterr().out
    assert f": {action}  (ret" in out and "instructions" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--syscall", "nosuchcall"],  # the ABI its arch checks name: x86_64
        ["--abi", "x86_64", "--syscall", "nosuchcall"],
        ["--abi", "nosuchabi", "--syscall", "read"],
        ["--abi", "x86_64", "--syscall", "read", "--args", "1 2 3 4 5 6 7"],
    ],
)
def test_emulate_usage_errors(small_bpf: Path, argv: list[str]) -> None:
    assert main(["bpf", "emulate", str(small_bpf), *argv]) == 2


def test_malformed_bpf_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.bpf"
    bad.write_bytes(b.encode([b.stmt(b.LD | b.W | b.ABS, 2), b.stmt(b.RET | b.K, 0)]))
    assert main(["bpf", "emulate", str(bad), "--abi", "x86_64", "--syscall", "read"]) == 1
    assert "instruction 0" in capsys.readouterr().err
    (tmp_path / "odd.bpf").write_bytes(b"1234567")
    assert main(["bpf", "disasm", str(tmp_path / "odd.bpf")]) == 1


def test_verify_policy_and_wrong_filter(
    tmp_path: Path, small_bpf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", DEFAULT]) == 0
    assert "agrees" in capsys.readouterr().out
    assert main(["verify", DEFAULT, "--bpf", str(small_bpf), "--abi", "x86_64"]) == 1
    assert "disagreements" in capsys.readouterr().out
    assert main(["verify", str(small_bpf)]) == 2


@needs_data
def test_verify_docker_profile_against_libseccomp(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(DATA / "moby-default.json"), "--abi", "x86_64,x86,x32"]) == 0
    err = capsys.readouterr().err  # a note: the proof itself is on stdout
    assert "note: libseccomp " in err and " does not know: " in err


@needs_data
def test_diff_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    moby, podman = str(DATA / "moby-default.json"), str(DATA / "podman-seccomp.json")
    assert main(["diff", moby, moby]) == 0
    capsys.readouterr()
    assert main(["diff", moby, podman, "--abi", "x86_64", "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["equal"] is False
    changes = {c["syscall"]: (c["a"], c["b"]) for c in doc["abis"]["x86_64"]}
    assert changes["clone3"] == ("errno(ENOSYS)", "allow")
    assert main(["diff", moby, podman, "--abi", "x86_64"]) == 1
    assert "errno(ENOSYS) -> allow: clone3" in capsys.readouterr().out


@needs_data
@pytest.mark.parametrize("name", ["moby-default.json", "podman-seccomp.json"])
@pytest.mark.parametrize("caps", ["CAP_AUDIT_WRITE", "CAP_SYS_ADMIN,CAP_SYS_PTRACE"])
def test_import_compile_diff_shows_no_change(
    tmp_path: Path, name: str, caps: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = str(DATA / name)
    policy = tmp_path / "imported.yaml"
    assert main(["import", src, "-o", str(policy), "--caps", caps]) == 0
    assert main(["diff", str(policy), src, "--caps", caps]) == 0
    out = tmp_path / "out"
    assert main(["compile", str(policy), "-o", str(out), "--format", "bpf", "--caps", caps]) == 0
    for fam in ("x86_64", "aarch64"):
        assert (
            main(["diff", str(out / "bpf" / f"{fam}.bpf"), src, "--abi", fam, "--caps", caps]) == 0
        )
    # the JSON we write means what the source means, x32 (libseccomp's low word) included;
    # with CAP_SYS_ADMIN, Podman's socket rules on arguments past the first have no JSON
    # form that libseccomp would not copy onto socketcall
    oci = tmp_path / "oci"
    rc = main(["compile", str(policy), "-o", str(oci), "--format", "oci", "--caps", caps])
    if "podman" in name and "CAP_SYS_ADMIN" in caps:
        assert rc == 1 and "copy the conditions on 'socket'" in capsys.readouterr().err
        return
    assert rc == 0
    doc = str(oci / "oci" / "x86_64.json")
    assert main(["diff", doc, src, "--abi", "x86_64,x86,x32", "--caps", caps]) == 0
    capsys.readouterr()


def test_stats_json(small_bpf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", str(small_bpf), "--abi", "x86_64,x86", "--format", "json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    assert doc["instructions"] + doc["headroom"] == 4096
    x86_64 = doc["abis"][0]
    assert x86_64["abi"] == "x86_64" and x86_64["allowed"] == 3
    assert x86_64["paths"]["read"] >= 4


def test_stats_text_on_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", DEFAULT]) == 0
    out = capsys.readouterr().out
    assert "headroom" in out and "x86_64" in out and "aarch64" in out


def test_stats_per_syscall(small_bpf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", str(small_bpf), "--abi", "x86_64", "--per-syscall"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    paths = {r[1]: int(r[2]) for r in rows if len(r) == 3 and r[0] == "x86_64"}
    assert len(paths) > 300 and paths["personality"] > paths["read"]


def test_diff_compares_only_the_abis_both_cover(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "seccompiler: 1\nname: p\nabis: [x86_64, aarch64]\ndefault: allow\n"
        "unknown: allow\nrules:\n  - {action: errno(EPERM), syscalls: [mount]}\n"
    )
    profile = tmp_path / "p.json"
    profile.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}],
            }
        )
    )
    assert main(["diff", str(policy), str(profile), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"equal": True, "abis": {}, "only_a": ["aarch64"], "only_b": []}
    profile.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["mount", "umount2"], "action": "SCMP_ACT_ERRNO"}],
            }
        )
    )
    assert main(["diff", str(policy), str(profile)]) == 1
    assert "allow -> errno(EPERM): umount2" in capsys.readouterr().out
