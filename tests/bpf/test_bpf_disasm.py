"""Disassembly: golden listings, names, and the byte-for-byte round trip through asm.

Regenerate the golden listings with ``SECCOMPILER_REGEN_GOLDEN=1 pytest tests/bpf``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bpfkit import libseccomp_filter

from seccompiler.arch.abi import ABIS
from seccompiler.bpf import insn as b
from seccompiler.bpf.asm import AsmError, assemble, assemble_checked, assemble_listing
from seccompiler.bpf.check import BpfRejected
from seccompiler.bpf.disasm import disassemble, render_insn, ret_name
from seccompiler.commands.cli import main

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("SECCOMPILER_REGEN_GOLDEN") == "1"


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.write_text(text)
    assert path.read_text() == text, f"regenerate with SECCOMPILER_REGEN_GOLDEN=1 ({path})"


def test_golden_libseccomp_listing() -> None:
    data = libseccomp_filter()
    text = disassemble(b.decode(data), "little", ABIS["x86_64"])
    golden("libseccomp-small.lst", text)
    assert b.encode(assemble(text)) == data


def test_golden_big_endian_listing() -> None:
    insns = [
        b.stmt(b.LD | b.W | b.ABS, 4),
        b.jump(b.JMP | b.JEQ | b.K, 0x80000016, 0, 3),
        b.stmt(b.LD | b.W | b.ABS, 0),
        b.jump(b.JMP | b.JEQ | b.K, 3, 0, 1),
        b.stmt(b.LD | b.W | b.ABS, 16),
        b.stmt(b.RET | b.K, 0x00050001),
    ]
    text = disassemble(insns, "big")
    golden("s390x-small.lst", text)
    assert "ld [args[0].hi]" in text and "; s390x: read" in text
    assert assemble_listing(text)[1] == "big"
    assert b.encode(assemble(text), "big") == b.encode(insns, "big")


RENDER = [
    (b.stmt(b.LD | b.W | b.ABS, 0), "ld [nr]"),
    (b.stmt(b.LD | b.W | b.ABS, 4), "ld [arch]"),
    (b.stmt(b.LD | b.W | b.ABS, 24), "ld [args[1].lo]"),
    (b.stmt(b.LD | b.W | b.ABS, 28), "ld [args[1].hi]"),
    (b.stmt(b.LD | b.W | b.ABS, 12), "ld [ip.hi]"),
    (b.stmt(b.LD | b.W | b.ABS, 2), "ld [2]"),
    (b.stmt(b.LD | b.H | b.ABS, 2), "ldh [2]"),
    (b.stmt(b.LD | b.B | b.IND, 1), "ldb [x+1]"),
    (b.stmt(b.LDX | b.B | b.MSH, 14), "ldxb 4*([14]&0xf)"),
    (b.stmt(b.RET | b.K, 0x7FFF0000), "ret ALLOW"),
    (b.stmt(b.RET | b.K, 0x00050001), "ret ERRNO(EPERM)"),
    (b.stmt(b.RET | b.K, 0x00050000 | 5000), "ret ERRNO(5000)"),
    (b.stmt(b.RET | b.K, 0x7FF00007), "ret TRACE(7)"),
    (b.stmt(b.RET | b.K, 0x80000000), "ret KILL_PROCESS"),
    (b.stmt(b.RET | b.K, 0x00000000), "ret KILL_THREAD"),
    (b.stmt(b.RET | b.K, 0x7FFC0001), "ret #0x7ffc0001"),
    (b.stmt(b.RET | b.A), "ret a"),
    (b.Insn(b.LD | b.W | b.ABS, 1, 0, 0), ".insn 0x0020, 1, 0, 0x0"),
    (b.Insn(0x1FF, 0, 0, 7), ".insn 0x01ff, 0, 0, 0x7"),
    (b.stmt(b.ALU | b.AND | b.K, 0xFFFF0000), "and #0xffff0000"),
    (b.stmt(b.ALU | b.NEG), "neg"),
]


@pytest.mark.parametrize(("ins", "text"), RENDER, ids=[t for _, t in RENDER])
def test_render_and_parse_back(ins: b.Insn, text: str) -> None:
    assert render_insn(ins, "little") == text
    assert assemble(text) == (ins,)


def test_ret_names_cover_every_action() -> None:
    assert ret_name(0x7FC00000) == "USER_NOTIF"
    assert ret_name(0x7FFC0000) == "LOG"
    assert ret_name(0x00030002) == "TRAP(2)"


def test_labels_and_comments() -> None:
    text = disassemble(b.decode(libseccomp_filter()), "little")
    assert "; x86_64: personality" in text and "; x86: read" in text
    assert "jeq #0xc000003e, L" in text


ASM_ERRORS = [
    ("ld [bogus]\nret ALLOW\n", 1),
    ("ld [nr]\njeq #1, nowhere, L1\nL1: ret ALLOW\n", 2),
    ("L1: ld [nr]\njeq #1, L1, L1\nret ALLOW\n", 2),
    ("ret ERRNO(ENOTANERRNO)\n", 1),
    ("ret ERRNO(70000)\n", 1),
    ("ld #0x100000000\n", 1),
    ("L: ret a\nL: ret a\n", 2),
    ("frobnicate\n", 1),
    ("; only a comment\n", 0),
]


@pytest.mark.parametrize(("text", "line"), ASM_ERRORS)
def test_asm_errors_are_located(text: str, line: int) -> None:
    with pytest.raises(AsmError) as exc:
        assemble(text, "x.s")
    assert exc.value.location is not None
    assert (exc.value.location.path, exc.value.location.line) == ("x.s", line)


def test_asm_refuses_a_program_longer_than_the_kernel_takes() -> None:
    text = "ld [nr]\n" + "ret ALLOW\n" * b.BPF_MAXINSNS
    with pytest.raises(AsmError) as exc:
        assemble(text, "x.s")
    assert exc.value.location is not None and exc.value.location.line == b.BPF_MAXINSNS + 1
    assert exc.value.hint
    assert len(assemble(text.removesuffix("ret ALLOW\n"))) == b.BPF_MAXINSNS


# (listing, its line the kernel's checks refuse, reason): assembled, each is refused there
ASM_REFUSED = [
    ("ld [nr]\njeq #1, L, +3\nL: ret ALLOW\n", 2, "jump-range"),
    ("ld [nr]\nja +1\nret ALLOW\n", 2, "jump-range"),
    ("ld [nr]\njeq #1, L, L\nret ALLOW\nL:\n", 2, "jump-range"),
    ("ld [nr]\n\n  ld [2]\nret ALLOW\n", 3, "bad-load"),
    ("ld [64]\nret ALLOW\n", 1, "bad-load"),
    ("ldb [0]\nret ALLOW\n", 1, "bad-opcode"),
    ("ld [x+0]\nret ALLOW\n", 1, "bad-opcode"),
    ("ldxb 4*([0]&0xf)\nret ALLOW\n", 1, "bad-opcode"),
    (".insn 0xffff, 0, 0, 0\nret ALLOW\n", 1, "bad-opcode"),
    ("ld [nr]\ndiv #0\nret a\n", 2, "div-zero"),
    ("ld [nr]\nmod #5\nret a\n", 2, "bad-opcode"),
    ("ld [nr]\nlsh #32\nret a\n", 2, "shift"),
    ("st M[16]\nret ALLOW\n", 1, "mem-slot"),
    ("ld M[3]\nret a\n", 1, "mem-uninit"),
    ("ret ALLOW\nld [nr]\n", 2, "no-ret"),
]


@pytest.mark.parametrize(("text", "line", "reason"), ASM_REFUSED)
def test_asm_checked_refuses_what_the_kernel_refuses(text: str, line: int, reason: str) -> None:
    assemble(text)  # a listing that parses: the unchecked reading writes it
    with pytest.raises(BpfRejected) as exc:
        assemble_checked(text, "x.s")
    assert exc.value.reason == reason
    assert exc.value.location is not None
    assert (exc.value.location.path, exc.value.location.line) == ("x.s", line)
    assert exc.value.hint


def test_asm_command_refuses_unless_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing, out = tmp_path / "x.s", tmp_path / "x.bpf"
    listing.write_text("ld [nr]\n" + "ret ALLOW\n" * (b.BPF_MAXINSNS + 1))
    assert main(["bpf", "asm", str(listing), "-o", str(out)]) == 1
    assert f"{listing}:{b.BPF_MAXINSNS + 1}:1: error: " in capsys.readouterr().err
    assert not out.exists()
    listing.write_text("ld [nr]\nja +1\nret ALLOW\n")
    assert main(["bpf", "asm", str(listing), "-o", str(out)]) == 1
    assert f"{listing}:2:1: error: instruction 1: jump of 1 leaves" in capsys.readouterr().err
    assert not out.exists()
    assert main(["bpf", "asm", str(listing), "-o", str(out), "--no-check"]) == 0
    assert len(out.read_bytes()) == 24
