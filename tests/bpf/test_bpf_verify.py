"""verify_bpf: our own output agrees with its policy, and every kind of mistake is caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from seccompiler.arch.abi import ABIS
from seccompiler.backends.bpf import compile_family
from seccompiler.bpf import insn as b
from seccompiler.compile import load_program
from seccompiler.program import Program
from seccompiler.prove.verify import boundary_values, verify_bpf

REPO = Path(__file__).resolve().parents[2]
DEFAULT = str(REPO / "profiles" / "keisson-default.yaml")


@pytest.fixture(scope="module")
def program() -> Program:
    return load_program(DEFAULT)


@pytest.fixture(scope="module")
def x86_64_filter(program: Program) -> list[b.Insn]:
    return list(b.decode(compile_family(program, "x86_64")))


@pytest.mark.parametrize("family", ["x86_64", "aarch64", "riscv64"])
def test_bundled_profile_agrees(program: Program, family: str) -> None:
    report = verify_bpf(program, compile_family(program, family), family)
    assert report.ok, "\n".join(report.lines()[:20])
    assert [s.abi for s in report.summaries][-1] == "other arches"


def _mutate(insns: list[b.Insn], pick: str) -> list[b.Insn]:
    out = list(insns)
    if pick == "allow-becomes-eperm":
        i = next(i for i, x in enumerate(out) if x.code == b.RET | b.K and x.k == 0x7FFF0000)
        out[i] = b.stmt(b.RET | b.K, 0x00050001)
    elif pick == "eperm-becomes-allow":
        i = next(i for i, x in enumerate(out) if x.code == b.RET | b.K and x.k == 0x00050001)
        out[i] = b.stmt(b.RET | b.K, 0x7FFF0000)
    elif pick == "comparison-off-by-one":
        i = max(
            i
            for i, x in enumerate(out)
            if x.code in (b.JMP | b.JEQ | b.K, b.JMP | b.JGE | b.K, b.JMP | b.JGT | b.K)
            and 0 < x.k < 1000
        )
        x = out[i]
        out[i] = b.Insn(x.code, x.jt, x.jf, x.k + 1)
    elif pick == "mask-bit-dropped":
        i = next(
            i
            for i, x in enumerate(out)
            if x.code == b.ALU | b.AND | b.K and bin(x.k).count("1") > 1
        )
        x = out[i]
        out[i] = b.stmt(x.code, x.k & (x.k - 1))  # the lowest bit of the mask left out
    elif pick == "arch-check-accepts-anything":
        i = next(
            i for i, x in enumerate(out) if x.code == b.JMP | b.JEQ | b.K and x.k == 0xC000003E
        )
        x = out[i]
        out[i] = b.Insn(x.code, x.jt, x.jt, x.k)
    return out


@pytest.mark.parametrize(
    "pick",
    [
        "allow-becomes-eperm",
        "eperm-becomes-allow",
        "comparison-off-by-one",
        "arch-check-accepts-anything",
        "mask-bit-dropped",
    ],
)
def test_mutations_are_caught(program: Program, x86_64_filter: list[b.Insn], pick: str) -> None:
    bad = b.encode(_mutate(x86_64_filter, pick))
    report = verify_bpf(program, bad, "x86_64")
    assert not report.ok
    assert report.total_disagreements >= 1 and report.disagreements
    d = report.disagreements[0]
    assert d.expected != d.got


def test_a_filter_the_kernel_refuses_is_reported(program: Program) -> None:
    report = verify_bpf(
        program, b.encode([b.stmt(b.LD | b.W | b.ABS, 3), b.stmt(b.RET | b.K, 0)]), "x86_64"
    )
    assert not report.ok and report.rejected is not None
    assert report.rejected.reason == "bad-load"


def test_argument_boundaries_reach_both_sides_of_a_condition() -> None:
    from seccompiler.program import ArgCond, Op

    c = ArgCond(0, Op.MASKED_EQ, 0, mask=0x7E020000)
    vals = boundary_values(c)
    assert any(c.matches(v, ABIS["x86_64"]) for v in vals)
    assert any(not c.matches(v, ABIS["x86_64"]) for v in vals)
    g = ArgCond(1, Op.GT, 40)
    assert {40, 41, 39, (1 << 64) - 1} <= boundary_values(g)
