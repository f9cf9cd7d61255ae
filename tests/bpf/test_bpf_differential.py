"""Differential: libseccomp's BPF for Docker's and Podman's profiles, run by our emulator,
answers what the JSON means, on every syscall of every family libseccomp builds (x86_64 with
x86 and x32, aarch64 with arm, mipsel64, riscv64, and the big-endian ones)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from seccompiler.base.errors import InputError
from seccompiler.bpf import insn
from seccompiler.frontend import ocijson
from seccompiler.prove import libseccomp_ref
from seccompiler.prove.verify import verify_bpf

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("SECCOMPILER_SHARED", REPO.parent / "shared")) / "data"
ABSENT = f"{DATA}: the shared data (SECCOMPILER_SHARED) is not present"
PROFILES = ["moby-default.json", "podman-seccomp.json"]
CAPS = [None, frozenset({"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_AUDIT_WRITE"})]

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=ABSENT)


@pytest.mark.parametrize("caps", CAPS, ids=["default-caps", "admin-caps"])
@pytest.mark.parametrize("optimize", [1, 2], ids=["runc-layout", "binary-tree"])
@pytest.mark.parametrize("family", ["x86_64", "aarch64"])
@pytest.mark.parametrize("name", PROFILES)
def test_libseccomp_filter_means_the_json(
    name: str, family: str, optimize: int, caps: frozenset[str] | None
) -> None:
    profile = ocijson.load(str(DATA / name))
    ref = libseccomp_ref.build_profile(profile, family, caps=caps, optimize=optimize)
    res = ocijson.resolve(profile, caps=caps, abis=ref.abis, knows=libseccomp_ref.knows)
    assert {"x86_64": {"x86_64", "x86", "x32"}, "aarch64": {"aarch64", "arm"}}[family] == set(
        ref.abis
    )
    report = verify_bpf(res.program, ref.bpf, family)
    assert report.ok, "\n".join(report.lines()[:20])
    assert report.method == "symbolic", report.fallback
    assert all((s.classes or 0) > 300 for s in report.summaries[:-1]), report.lines()


@pytest.mark.parametrize("optimize", [1, 2], ids=["runc-layout", "binary-tree"])
@pytest.mark.parametrize(
    ("family", "abis"),
    [
        ("mipsel64", {"mipsel64", "mipsel64n32", "mipsel"}),
        ("riscv64", {"riscv64"}),
    ],
)
def test_other_little_endian_families_agree(family: str, abis: set[str], optimize: int) -> None:
    """Docker's profile on the little-endian families beyond x86_64 and aarch64."""
    profile = ocijson.load(str(DATA / "moby-default.json"))
    ref = libseccomp_ref.build_profile(profile, family, optimize=optimize)
    assert set(ref.abis) == abis
    res = ocijson.resolve(profile, abis=ref.abis, knows=libseccomp_ref.knows)
    report = verify_bpf(res.program, ref.bpf, family)
    assert report.ok, "\n".join(report.lines()[:20])
    assert report.method == "symbolic", report.fallback


def test_names_this_libseccomp_does_not_know_are_reported() -> None:
    profile = ocijson.load(str(DATA / "moby-default.json"))
    ref = libseccomp_ref.build_profile(profile, "x86_64")
    if libseccomp_ref.version() != "2.5.4":
        pytest.skip("the list below is 2.5.4's")
    assert {"mseal", "listmount", "statmount"} <= {n for _, n in ref.skipped}


def _moby_for(family: str) -> ocijson.Profile:
    """Docker's profile; for ppc64 (big-endian), with its ppc64le entries moved to ppc64;
    for parisc64, which Docker's archMap leaves out, with an entry for it."""
    doc = json.loads((DATA / "moby-default.json").read_text())
    if family == "parisc64":
        doc["archMap"].append(
            {"architecture": "SCMP_ARCH_PARISC64", "subArchitectures": ["SCMP_ARCH_PARISC"]}
        )
        return ocijson.parse(json.dumps(doc), "moby-default-parisc64.json")
    if family != "ppc64":
        return ocijson.load(str(DATA / "moby-default.json"))
    doc["archMap"].append(
        {"architecture": "SCMP_ARCH_PPC64", "subArchitectures": ["SCMP_ARCH_PPC"]}
    )
    text = json.dumps(doc, indent=1).replace('"ppc64le"', '"ppc64"')
    return ocijson.parse(text, "moby-default-ppc64.json")


# Where libseccomp 2.5.4's table is older than the kernel's: parisc's _llseek (140) became
# 32-bit only (syscall.tbl "140 32 _llseek"), yet 2.5.4 still files Docker's allow under 140
# for parisc64, where the kernel has no such call and the profile's default answers.
STALE_IN_LIBSECCOMP = {"parisc64": {("parisc64", 140)}}


@pytest.mark.parametrize("optimize", [1, 2], ids=["runc-layout", "binary-tree"])
@pytest.mark.parametrize(
    ("family", "abis"),
    [
        ("s390x", {"s390x", "s390"}),
        ("ppc64", {"ppc64", "ppc"}),
        ("mips64", {"mips64", "mips64n32", "mips"}),
        ("parisc64", {"parisc64", "parisc"}),
    ],
)
def test_big_endian_libseccomp_filter_means_the_json(
    family: str, abis: set[str], optimize: int
) -> None:
    """libseccomp exports big-endian filters in their byte order; read so, they agree."""
    profile = _moby_for(family)
    ref = libseccomp_ref.build_profile(profile, family, optimize=optimize)
    assert set(ref.abis) == abis
    res = ocijson.resolve(profile, abis=ref.abis, knows=libseccomp_ref.knows)
    report = verify_bpf(res.program, ref.bpf, family)
    found = {(d.abi, d.nr) for d in report.disagreements}
    assert found == STALE_IN_LIBSECCOMP.get(family, set()), "\n".join(report.lines()[:20])
    assert report.method == "symbolic", report.fallback
    assert all((s.classes or 0) > 300 for s in report.summaries[:-1]), report.lines()


def test_big_endian_returns_libseccomp_converts_twice_are_repaired(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the nearer copies of returns that libseccomp inserts for long jumps are swapped."""
    raw: list[bytes] = []
    repair = libseccomp_ref._unswap_returns

    def keep(bpf: bytes, abis: Any, actions: Any) -> bytes:
        raw.append(bpf)
        return repair(bpf, abis, actions)

    monkeypatch.setattr(libseccomp_ref, "_unswap_returns", keep)
    profile = _moby_for("s390x")
    ref = libseccomp_ref.build_profile(profile, "s390x")
    rets = [i.k for i in insn.decode(raw[0], "big") if i.code == insn.RET | insn.K]
    allow = 0x7FFF0000
    assert allow in rets and 0x0000FF7F in rets  # the copy, converted twice
    fixed = [i.k for i in insn.decode(ref.bpf, "big") if i.code == insn.RET | insn.K]
    assert 0x0000FF7F not in fixed and len(fixed) == len(rets)
    res = ocijson.resolve(profile, abis=ref.abis, knows=libseccomp_ref.knows)
    assert not verify_bpf(res.program, raw[0], "s390x").ok


def test_unsupported_families_are_refused_not_mangled() -> None:
    from seccompiler.arch.abi import ABIS

    if libseccomp_ref.supports(ABIS["loongarch64"]):
        pytest.skip("this libseccomp knows loongarch64")
    profile = ocijson.load(str(DATA / "moby-default.json"))
    with pytest.raises(InputError):
        libseccomp_ref.build_profile(profile, "loongarch64")


EXPRESSIBLE = (
    "seccompiler: 1\nname: small\nabis: [aarch64, arm]\ndefault: errno(EPERM)\n"
    "unknown: errno(EPERM)\nrules:\n"
    "  - {action: allow, syscalls: [read, write, openat]}\n"
    "  - action: allow\n    syscalls: [personality]\n"
    "    args: [{index: 0, op: eq, value: 8}]\n"
    "  - {action: 'errno(ENOSYS)', syscalls: [clone3]}\n"
    "  - {action: allow, syscalls: [arm_fadvise64_64]}\n"
)


def test_build_program_agrees_where_libseccomp_can_say_it(tmp_path: Path) -> None:
    from seccompiler.compile import load_program

    policy = tmp_path / "small.yaml"
    policy.write_text(EXPRESSIBLE)
    program = load_program(str(policy))
    ref = libseccomp_ref.build_program(program, "aarch64")
    assert ref.abis == ("aarch64", "arm") and not ref.approximated
    report = verify_bpf(program, ref.bpf, "aarch64")
    assert report.ok, "\n".join(report.lines()[:20])


def test_build_program_lists_what_it_cannot_say(tmp_path: Path) -> None:
    from seccompiler.compile import load_program

    policy = tmp_path / "p.yaml"
    policy.write_text(
        "seccompiler: 1\nname: p\nabis: [aarch64]\ndefault: allow\nunknown: allow\nrules:\n"
        "  - {action: errno(EPERM), syscalls: [personality]}\n"
        "  - action: allow\n    syscalls: [personality]\n"
        "    args: [{index: 0, op: eq, value: 8}]\n"
        "  - {action: errno(EPERM), syscalls: [mseal]}\n"
    )
    ref = libseccomp_ref.build_program(load_program(str(policy)), "aarch64")
    assert ("aarch64", "personality") in ref.approximated
    if libseccomp_ref.version() == "2.5.4":
        assert ("aarch64", "mseal") in ref.skipped
