"""Raw filters recognised by their bytes alone: byte order and ABIs, on every family."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seccompiler.arch.abi import ABIS, FAMILIES, family_members
from seccompiler.backends.bpf import compile_family
from seccompiler.base.errors import InputError
from seccompiler.bpf import insn as b
from seccompiler.bpf.check import BpfRejected
from seccompiler.bpf.ident import identify, load_filter
from seccompiler.commands.cli import main
from seccompiler.compile import load_program

POLICY = """\
seccompiler: 1
name: walk-{family}
abis: [{abis}]
default: allow
rules:
  - {{action: errno(EPERM), syscalls: [kcmp]}}
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Each family's policy (all its ABIs) and the filter we compile for it."""
    out = {}
    for fam in FAMILIES:
        d = tmp_path_factory.mktemp(fam)
        policy = d / "p.yaml"
        names = ", ".join(a.name for a in family_members(fam))
        policy.write_text(POLICY.format(family=fam, abis=names))
        bpf = d / f"{fam}.bpf"
        bpf.write_bytes(compile_family(load_program(str(policy)), fam))
        out[fam] = (policy, bpf)
    return out


@pytest.mark.parametrize("family", FAMILIES, ids=str)
def test_identify_every_family(compiled: dict[str, tuple[Path, Path]], family: str) -> None:
    found = identify(compiled[family][1].read_bytes())
    assert found is not None and found.rejected is None
    assert found.endian == ABIS[family].endian
    assert found.abis == family_members(family)


@pytest.mark.parametrize("family", FAMILIES, ids=str)
def test_commands_recognise_every_family_without_abi(
    compiled: dict[str, tuple[Path, Path]], family: str, capsys: pytest.CaptureFixture[str]
) -> None:
    policy, bpf = compiled[family]
    endian = ABIS[family].endian
    assert main(["verify", str(policy), "--bpf", str(bpf)]) == 0
    assert main(["lint", str(bpf), "--format", "json"]) == 0
    capsys.readouterr()
    assert main(["stats", str(bpf), "--format", "json"]) == 0
    [doc] = json.loads(capsys.readouterr().out)
    assert [row["abi"] for row in doc["abis"]] == [a.name for a in family_members(family)]
    listing = bpf.with_suffix(".s")
    assert main(["bpf", "disasm", str(bpf), "-o", str(listing)]) == 0
    assert listing.read_text().startswith(f"; {len(bpf.read_bytes()) // 8} instructions, {endian}")
    again = bpf.with_suffix(".again")
    assert main(["bpf", "asm", str(listing), "-o", str(again)]) == 0
    assert again.read_bytes() == bpf.read_bytes()
    capsys.readouterr()
    assert main(["bpf", "emulate", str(bpf), "--syscall", "kcmp"]) == 0
    assert capsys.readouterr().out.startswith(f"{family} kcmp: errno(EPERM)")


LD_ARCH = b.stmt(b.LD | b.W | b.ABS, 4)
ALLOW = b.stmt(b.RET | b.K, 0x7FFF0000)


def _checks(*tokens: int) -> list[b.Insn]:
    """A program that allows the given arch tokens and kills every other."""
    body = [LD_ARCH]
    for i, t in enumerate(tokens):
        body.append(b.jump(b.JMP | b.JEQ | b.K, t, len(tokens) - i, 0))
    return [*body, b.stmt(b.RET | b.K, 0x80000000), ALLOW]


NO_CHECKS = b.encode([ALLOW])
TWO_FAMILIES = b.encode(_checks(ABIS["x86_64"].audit_arch, ABIS["aarch64"].audit_arch))
# refused in both byte orders: an unknown opcode, and no return at the end
GARBAGE = b"\x01\x02\x03\x04\x05\x06\x07\x08" * 2

# (case, argv with {f} for the file, file's bytes, exit status)
UNTOLD = [
    ("stats, no arch checks", ["stats", "{f}"], NO_CHECKS, 2),
    ("lint, no arch checks", ["lint", "{f}"], NO_CHECKS, 2),
    ("emulate, no arch checks", ["bpf", "emulate", "{f}", "--syscall", "read"], NO_CHECKS, 2),
    ("disasm, no arch checks", ["bpf", "disasm", "{f}"], NO_CHECKS, 0),
    ("emulate, two families", ["bpf", "emulate", "{f}", "--syscall", "0"], TWO_FAMILIES, 2),
    ("emulate, one of two", ["bpf", "emulate", "{f}", "--syscall", "0", "--abi", "arm64"],
     TWO_FAMILIES, 0),
    ("stats, refused either way", ["stats", "{f}"], GARBAGE, 1),
    ("lint, refused either way", ["lint", "{f}"], GARBAGE, 1),
    ("emulate, refused either way", ["bpf", "emulate", "{f}", "--syscall", "0"], GARBAGE, 1),
    ("disasm, order untold", ["bpf", "disasm", "{f}"], GARBAGE, 2),
    ("disasm, order given", ["bpf", "disasm", "{f}", "--endian", "big"], GARBAGE, 0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "data", "rc"), [c[1:] for c in UNTOLD], ids=[c[0] for c in UNTOLD]
)
def test_what_the_bytes_do_not_tell(
    tmp_path: Path, argv: list[str], data: bytes, rc: int, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "f.bpf"
    f.write_bytes(data)
    assert main([a.format(f=f) for a in argv]) == rc
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if rc:
        assert "hint: " in err


def test_verify_a_filter_of_two_families_asks_for_abi(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / "p.yaml"
    p.write_text(POLICY.format(family="two", abis="x86_64, aarch64"))
    f = tmp_path / "f.bpf"
    f.write_bytes(TWO_FAMILIES)
    assert main(["verify", str(p), "--bpf", str(f)]) == 2
    assert "add --abi" in capsys.readouterr().err


def test_refused_in_both_orders_names_both() -> None:
    with pytest.raises(InputError) as exc:
        load_filter(GARBAGE, "g.bpf")
    assert not isinstance(exc.value, BpfRejected)
    assert "little-endian" in exc.value.message and "big-endian" in exc.value.message
    assert exc.value.hint and exc.value.location is not None


def test_a_wrong_byte_order_hints_at_the_right_one(
    compiled: dict[str, tuple[Path, Path]],
) -> None:
    data = compiled["s390x"][1].read_bytes()
    with pytest.raises(BpfRejected) as exc:
        load_filter(data, "s.bpf", "little")
    assert exc.value.pc == 0 and exc.value.reason == "bad-opcode"
    assert "big-endian" in exc.value.hint and "s390x" in exc.value.hint


def test_a_refused_program_is_read_in_the_order_its_arch_checks_name() -> None:
    """Refused either way, but s390x's token only read big-endian: its error, at its place."""
    insns = _checks(ABIS["s390x"].audit_arch)
    insns.insert(0, b.stmt(b.LD | b.W | b.ABS, 2))  # a misaligned load, before the arch's
    data = b.encode(insns, "big")
    found = identify(data)
    assert found is not None and found.endian == "big" and found.rejected is not None
    with pytest.raises(BpfRejected) as exc:
        load_filter(data)
    assert exc.value.pc == 0 and exc.value.reason == "bad-load"


@pytest.mark.parametrize(
    ("family", "value", "phantom"),
    [("s390x", 8, "mips"), ("ppc64", 22, "s390"), ("s390x", 15, "parisc"), ("s390x", 20, "ppc")],
)
def test_a_comparison_of_an_argument_is_no_arch_check(
    tmp_path: Path, family: str, value: int, phantom: str
) -> None:
    """Small values compared with an argument are big-endian 32-bit ABIs' arch tokens (MIPS
    is 8): only a jeq on the arch itself names an ABI."""
    policy = tmp_path / "p.yaml"
    policy.write_text(
        f"seccompiler: 1\nname: p\nabis: [{family}]\ndefault: allow\nrules:\n"
        f"  - {{action: errno(EPERM), syscalls: [personality], args: [{{index: 0, "
        f"value: {value}}}]}}\n"
    )
    program = load_program(str(policy))
    reading = identify(compile_family(program, family))
    assert reading is not None
    assert [a.name for a in reading.abis] == [a.name for a in family_members(family)
                                             if program.abi(a.name) is not None]  # fmt: skip
    assert phantom not in [a.name for a in reading.abis]
