"""Every ABI record through every stage: adding an ABI is adding a record and a table.

A record (arch/abi.py) with no table, or one some stage cannot handle, fails here by name:
the syscall table, the policy resolver, each backend (BPF, OCI JSON and back, PFC), the
emulator and the exhaustive verifier, the disassembler, libseccomp as the reference where
this machine's libseccomp can build one, and the runner's view of this machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seccompiler.arch import abi as abimod
from seccompiler.arch import tables
from seccompiler.backends import bpf, oci, pfc
from seccompiler.bpf import emulate
from seccompiler.bpf.disasm import disassemble
from seccompiler.bpf.insn import decode
from seccompiler.compile import load_program
from seccompiler.frontend import ocijson
from seccompiler.program import ALLOW, Action, ActionKind, Program
from seccompiler.prove import libseccomp_ref
from seccompiler.prove.verify import verify_bpf
from seccompiler.runner import host

ABIS = list(abimod.ABIS.values())
EPERM = Action(ActionKind.ERRNO, 1)
ENOSYS = Action(ActionKind.ERRNO, 38)
KILL = Action(ActionKind.KILL_PROCESS)

# libseccomp 2.5 cannot be our reference for these here: no loongarch64 in 2.5. (Big-endian
# filters are references: libseccomp_ref repairs the returns it converts twice.) A new ABI
# must say where it stands.
NO_LIBSECCOMP_REFERENCE = {"loongarch64"}

POLICY = """\
seccompiler: 1
name: walk-{abi}
abis: [{abi}]
default: allow
unknown: errno(ENOSYS)
rules:
  - {{action: errno(EPERM), syscalls: [getpid]}}
  - {{action: kill-process, syscalls: [write], args: [{{index: 0, op: eq, value: 7}}]}}
"""


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Program]:
    out = {}
    for a in ABIS:
        path = tmp_path_factory.mktemp("abi") / f"{a.name}.yaml"
        path.write_text(POLICY.format(abi=a.name))
        out[a.name] = load_program(str(path))
    return out


def _points(a: abimod.Abi) -> list[tuple[int, tuple[int, ...], Action]]:
    """(nr, args, what the policy says) for calls that reach every kind of answer."""
    t = tables.table(a)
    return [
        (t.by_name["getpid"], (0,) * 6, EPERM),
        (t.by_name["write"], (7, 0, 0, 0, 0, 0), KILL),
        (t.by_name["write"], (1, 0, 0, 0, 0, 0), ALLOW),
        (t.max_nr + 1, (0,) * 6, ENOSYS),
    ]


def _emulated(filt: bytes, a: abimod.Abi) -> list[Action]:
    f = emulate.Filter.from_bytes(filt, abimod.ABIS[a.family].endian)
    return [
        f.run(emulate.SeccompData(nr, a.audit_arch, 0, emulate.make_args(args))).action
        for nr, args, _ in _points(a)
    ]


@pytest.mark.parametrize("a", ABIS, ids=lambda a: a.name)
def test_the_record_is_whole(a: abimod.Abi) -> None:
    assert abimod.lookup(a.name) is a and abimod.by_oci(a.oci) is a
    assert a.family in abimod.FAMILIES and abimod.family_members(a.family)[0].family == a.family
    assert abimod.ABIS[a.family].family == a.family  # a family is named by its native ABI
    assert a.goarch and sum(b.goarch == a.goarch for b in ABIS) == 1
    for machine in a.machines:
        assert abimod.by_machine(machine) is a


@pytest.mark.parametrize("a", ABIS, ids=lambda a: a.name)
def test_the_table_has_the_abi(a: abimod.Abi) -> None:
    t = tables.table(a)
    assert len(t.by_nr) > 200 and t.max_nr >= max(t.by_nr)
    assert {"getpid", "write"} <= set(t.by_name)


@pytest.mark.parametrize("a", ABIS, ids=lambda a: a.name)
def test_the_resolver_decides_for_the_abi(a: abimod.Abi, programs: dict[str, Program]) -> None:
    program = programs[a.name]
    assert [p.abi for p in program.abis] == [a]
    assert [program.decide(a.audit_arch, nr, args) for nr, args, _ in _points(a)] == [
        want for _, _, want in _points(a)
    ]


@pytest.mark.parametrize("a", ABIS, ids=lambda a: a.name)
def test_the_bpf_backend_emulator_and_verifier(a: abimod.Abi, programs: dict[str, Program]) -> None:
    program = programs[a.name]
    filt = bpf.compile_abi(program, a.name)
    assert _emulated(filt, a) == [want for _, _, want in _points(a)]
    report = verify_bpf(program, filt, a.family)
    assert report.ok, report.lines()
    listing = disassemble(decode(filt, abimod.ABIS[a.family].endian), abimod.ABIS[a.family].endian)
    assert "getpid" in listing and "write" in listing


@pytest.mark.parametrize("a", ABIS, ids=lambda a: a.name)
def test_the_oci_and_pfc_backends(
    a: abimod.Abi, programs: dict[str, Program], tmp_path: Path
) -> None:
    program = programs[a.name]
    doc = oci.render(program, [a.name])
    assert json.loads(doc)["architectures"] == [a.oci]
    back = ocijson.resolve(ocijson.parse(doc.decode()), abis=[a.name]).program
    assert [back.decide(a.audit_arch, nr, args) for nr, args, _ in _points(a)][:3] == [
        want for _, _, want in _points(a)
    ][:3]  # unknown numbers: the profile's default answers them
    assert a.name in pfc.render(program)


@pytest.mark.parametrize("a", ABIS, ids=lambda a: a.name)
def test_libseccomp_agrees_where_it_can_be_the_reference(
    a: abimod.Abi, programs: dict[str, Program]
) -> None:
    if not libseccomp_ref.supports(a):
        assert a.name in NO_LIBSECCOMP_REFERENCE, f"libseccomp cannot build {a.name} here"
        return
    assert a.name not in NO_LIBSECCOMP_REFERENCE
    ref = libseccomp_ref.build_program(programs[a.name], a.family)
    assert _emulated(ref.bpf, a)[:3] == [want for _, _, want in _points(a)][:3]


@pytest.mark.parametrize("a", ABIS, ids=lambda a: a.name)
def test_the_runner_sees_the_abi_through_its_record(a: abimod.Abi) -> None:
    if a.family != host.family():
        assert a.name not in host.probe_abis()
        return
    assert (a.name in host.probe_abis()) == bool(a.entry)


# The records' facts, from linux/audit.h (EM_* | __AUDIT_ARCH_64BIT 0x80000000 | __AUDIT_ARCH_LE
# 0x40000000 | __AUDIT_ARCH_CONVENTION_MIPS64_N32 0x20000000; EM_MIPS 8, EM_PARISC 15) and the
# kernels' unistd.h (read(2)'s number: MIPS ABIs count from 4000, 5000, 6000).
RECORDS = [
    ("mips64", 0x80000008, "big", 64, "mips64", 5000),
    ("mips64n32", 0xA0000008, "big", 32, "mips64", 6000),
    ("mips", 0x00000008, "big", 32, "mips64", 4003),
    ("mipsel64", 0xC0000008, "little", 64, "mipsel64", 5000),
    ("mipsel64n32", 0xE0000008, "little", 32, "mipsel64", 6000),
    ("mipsel", 0x40000008, "little", 32, "mipsel64", 4003),
    ("parisc64", 0x8000000F, "big", 64, "parisc64", 3),
    ("parisc", 0x0000000F, "big", 32, "parisc64", 3),
]


@pytest.mark.parametrize(("name", "token", "endian", "bits", "family", "read"), RECORDS)
def test_mips_and_parisc_records(
    name: str, token: int, endian: str, bits: int, family: str, read: int
) -> None:
    a = abimod.ABIS[name]
    assert (a.audit_arch, a.endian, a.bits, a.family) == (token, endian, bits, family)
    assert tables.table(a).by_name["read"] == read
    assert a.multiplexed == ("socketcall" in tables.table(a).by_name)
