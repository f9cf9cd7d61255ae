"""Generated tables: drift check, ABI records, groups and constants."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from seccompiler.arch import abi as abimod
from seccompiler.arch import catalog, tables

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SECCOMPILER_SHARED", REPO.parent / "shared"))


def test_generator_reports_no_drift() -> None:
    if not (SHARED / "data").is_dir():
        pytest.skip(f"{SHARED}: the shared data (SECCOMPILER_SHARED) is not present")
    proc = subprocess.run(
        [sys.executable, "tools/gen_tables.py", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_generator_detects_drift(tmp_path: Path) -> None:
    source = SHARED / "data" / "libseccomp-syscalls.csv"
    if not source.is_file():
        pytest.skip(f"{source}: the shared data (SECCOMPILER_SHARED) is not present")
    edited = tmp_path / "libseccomp-syscalls.csv"
    lines = source.read_text().splitlines()
    lines[1] = lines[1].replace("accept,", "accepted,", 1)
    edited.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [sys.executable, "tools/gen_tables.py", "--check", "--source", str(edited)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "stale" in proc.stderr


def test_generator_detects_mix_drift(tmp_path: Path) -> None:
    source = SHARED / "data" / "syscall-mix.tsv"
    if not source.is_file():
        pytest.skip(f"{source}: the shared data (SECCOMPILER_SHARED) is not present")
    edited = tmp_path / "syscall-mix.tsv"
    edited.write_text(source.read_text().replace("openat\t", "openat\t1", 1))
    proc = subprocess.run(
        [sys.executable, "tools/gen_tables.py", "--check", "--mix-source", str(edited)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "syscall-mix.tsv is stale" in proc.stderr
    assert "syscalls.tsv is up to date" in proc.stdout


def test_table_is_stamped_with_its_source() -> None:
    assert "libseccomp-syscalls.csv" in tables.source_stamp()
    assert tables.kernel_version().startswith("v7.1")


@pytest.mark.parametrize(
    ("abi", "name", "nr"),
    [
        ("x86_64", "openat", 257),
        ("x86", "openat", 295),
        ("x32", "openat", 257 | abimod.X32_SYSCALL_BIT),
        ("aarch64", "openat", 56),
        ("arm", "openat", 322),
        ("riscv64", "openat", 56),
        ("ppc64le", "openat", 286),
        ("s390x", "openat", 288),
        ("x86_64", "mseal", 462),
        ("x86", "mseal", 462),
        ("x86", "socketcall", 102),
        ("arm", "cacheflush", 0xF0002),
    ],
)
def test_numbers(abi: str, name: str, nr: int) -> None:
    assert tables.table(abi).by_name[name] == nr
    assert tables.table(abi).name_of(nr) == name


@pytest.mark.parametrize(("abi", "name"), [("aarch64", "open"), ("x86_64", "socketcall")])
def test_absent_syscalls(abi: str, name: str) -> None:
    assert name not in tables.table(abi).by_name


def test_required_abis_are_records() -> None:
    for name in ("x86_64", "x86", "x32", "aarch64", "arm", "riscv64", "ppc64le", "s390x"):
        a = abimod.ABIS[name]
        assert a.family in abimod.FAMILIES
        assert abimod.ABIS[a.family].family == a.family  # a family is named by its native ABI


@pytest.mark.parametrize(
    ("abi", "token", "bits", "endian"),
    [
        ("x86_64", 0xC000003E, 64, "little"),
        ("x86", 0x40000003, 32, "little"),
        ("aarch64", 0xC00000B7, 64, "little"),
        ("s390x", 0x80000016, 64, "big"),
        ("ppc64le", 0xC0000015, 64, "little"),
    ],
)
def test_abi_records(abi: str, token: int, bits: int, endian: str) -> None:
    a = abimod.ABIS[abi]
    assert (a.audit_arch, a.bits, a.endian) == (token, bits, endian)


def test_every_group_member_is_a_known_syscall() -> None:
    known = tables.all_names()
    for group in catalog.groups().values():
        for member in group.members:
            if member.startswith("@"):
                assert member[1:] in catalog.groups(), (group.name, member)
            else:
                assert member in known, (group.name, member)
            assert group.members[member].strip(), (group.name, member, "needs a reason")


@pytest.mark.parametrize(
    ("group", "member"),
    [
        ("legacy", "uselib"),
        ("legacy", "vm86"),
        ("risky", "bpf"),
        ("risky", "mount"),
        ("risky", "io_uring_setup"),
        ("risky", "kexec_load"),
        ("risky", "keyctl"),
    ],
)
def test_group_membership(group: str, member: str) -> None:
    assert member in catalog.expand_group(group)


def test_debug_group_is_not_risky() -> None:
    risky = catalog.expand_group("risky")
    assert "ptrace" not in risky
    assert "process_vm_readv" not in risky


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CLONE_NEWUSER", 0x10000000),
        ("AF_ALG", 38),
        ("AF_VSOCK", 40),
        ("PER_LINUX32", 8),
        ("SYS_SOCKET", 1),
    ],
)
def test_constants(name: str, value: int) -> None:
    assert catalog.constants()[name] == value
