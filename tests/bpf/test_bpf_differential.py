"""Differential: libseccomp's BPF for Docker's and Podman's profiles, run by our emulator,
answers what the JSON means, on every syscall of x86_64, x86 and aarch64 (and x32, arm)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seccompiler import libseccomp_ref, ocijson
from seccompiler.errors import InputError
from seccompiler.verify import verify_bpf

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
PROFILES = ["moby-default.json", "podman-seccomp.json"]
CAPS = [None, frozenset({"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_AUDIT_WRITE"})]

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not present")


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
    assert all(s.numbers > 300 for s in report.summaries)


def test_names_this_libseccomp_does_not_know_are_reported() -> None:
    profile = ocijson.load(str(DATA / "moby-default.json"))
    ref = libseccomp_ref.build_profile(profile, "x86_64")
    if libseccomp_ref.version() != "2.5.4":
        pytest.skip("the list below is 2.5.4's")
    assert {"mseal", "listmount", "statmount"} <= {n for _, n in ref.skipped}


def test_big_endian_and_unsupported_families_are_refused_not_mangled() -> None:
    from seccompiler.abi import ABIS

    assert not libseccomp_ref.supports(ABIS["s390x"])  # 2.5.4 byte-swaps its return values
    profile = ocijson.load(str(DATA / "moby-default.json"))
    with pytest.raises(InputError):
        libseccomp_ref.build_profile(profile, "s390x")
