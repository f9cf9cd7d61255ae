"""verify_bpf: our own output agrees with its policy, and every kind of mistake is caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from seccompiler.arch.abi import ABIS
from seccompiler.backends.bpf import compile_family
from seccompiler.bpf import insn as b
from seccompiler.bpf.emulate import Filter, SeccompData
from seccompiler.compile import load_program
from seccompiler.program import Program
from seccompiler.prove.verify import Method, boundary_values, verify_bpf
from seccompiler.prove.words import Unsupported

REPO = Path(__file__).resolve().parents[2]
DEFAULT = str(REPO / "profiles" / "keisson-default.yaml")


@pytest.fixture(scope="module")
def program() -> Program:
    return load_program(DEFAULT)


@pytest.fixture(scope="module")
def x86_64_filter(program: Program) -> list[b.Insn]:
    return list(b.decode(compile_family(program, "x86_64")))


@pytest.mark.parametrize("method", ["symbolic", "sampling"])
@pytest.mark.parametrize("family", ["x86_64", "aarch64", "riscv64"])
def test_bundled_profile_agrees(program: Program, family: str, method: Method) -> None:
    report = verify_bpf(program, compile_family(program, family), family, method=method)
    assert report.ok, "\n".join(report.lines()[:20])
    assert report.method == method
    assert [s.abi for s in report.summaries][-1] == "other arches"


POLICIES = [
    p for p in sorted((REPO / "profiles").glob("*.yaml")) if "\nseccompiler:" in p.read_text()
]


@pytest.mark.parametrize("profile", POLICIES, ids=lambda p: p.name)
def test_emulator_agrees_with_the_symbolic_proof(profile: Path, tmp_path: Path) -> None:
    """Every class's witness, run by the emulator and Program.decide, gets the class's answers.

    The profile is widened to every ABI the tables know (x32 and the big-endian families too)
    but s390 and s390x, where clone's flags are argument 1 and the bundled profiles' clone
    rule (argument 0) is refused as an error.
    """
    lines = profile.read_text().splitlines()
    listing = f"abis: [{', '.join(a for a in ABIS if a not in ('s390', 's390x'))}]"
    wide = tmp_path / profile.name

    def widened(line: str) -> str:
        if line.startswith("abis:"):
            return listing
        if line.startswith("extends:"):
            return f"extends: {profile.parent / line.split(':', 1)[1].strip()}"
        return line

    wide.write_text("\n".join(widened(x) for x in lines) + "\n")
    every_abi = load_program(str(wide))
    for family in every_abi.families():
        report = verify_bpf(every_abi, compile_family(every_abi, family), family, cross_check=True)
        assert report.method == "symbolic", report.fallback
        assert report.ok, "\n".join(report.lines()[:20])
        assert all(s.classes for s in report.summaries[:-1])


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
            if x.code in (b.ALU | b.AND | b.K, b.JMP | b.JSET | b.K) and bin(x.k).count("1") > 1
        )
        x = out[i]
        out[i] = b.Insn(x.code, x.jt, x.jf, x.k & (x.k - 1))  # the mask's lowest bit left out
    elif pick == "arch-check-accepts-anything":
        i = next(
            i for i, x in enumerate(out) if x.code == b.JMP | b.JEQ | b.K and x.k == 0xC000003E
        )
        x = out[i]
        out[i] = b.Insn(x.code, x.jt, x.jt, x.k)
    return out


MUTATIONS = [
    "allow-becomes-eperm",
    "eperm-becomes-allow",
    "comparison-off-by-one",
    "arch-check-accepts-anything",
    "mask-bit-dropped",
]


@pytest.mark.parametrize("method", ["symbolic", "sampling"])
@pytest.mark.parametrize("pick", MUTATIONS)
def test_mutations_are_caught(
    program: Program, x86_64_filter: list[b.Insn], pick: str, method: Method
) -> None:
    bad = b.encode(_mutate(x86_64_filter, pick))
    report = verify_bpf(program, bad, "x86_64", method=method)
    assert report.method == method
    assert not report.ok
    assert report.total_disagreements >= 1 and report.disagreements
    d = report.disagreements[0]
    assert d.expected != d.got
    # the reported input really is one: the emulator and the program differ on it
    f = Filter.from_bytes(bad)
    data = SeccompData(d.nr, d.arch, 0, d.args)
    assert f.run(data).action == d.got
    assert program.decide(d.arch, d.nr, d.args) == d.expected


@pytest.mark.parametrize(
    ("pick", "nr", "arch"),
    [
        # a number far beyond any table, which sampling never tries
        ("allow-one-huge-number", 0x12345678, 0xC000003E),
        # an arch token no table has
        ("allow-one-odd-token", 59, 0x1234),
    ],
)
def test_symbolic_proof_finds_what_sampling_misses(
    program: Program, x86_64_filter: list[b.Insn], pick: str, nr: int, arch: int
) -> None:
    allow = b.stmt(b.RET | b.K, 0x7FFF0000)
    # a filter that lets one (arch, nr) — or one arch, whatever nr — through, then the real one
    front = [b.stmt(b.LD | b.W | b.ABS, b.OFF_ARCH)]
    if pick == "allow-one-huge-number":
        front += [
            b.Insn(b.JMP | b.JEQ | b.K, 0, 3, arch),
            b.stmt(b.LD | b.W | b.ABS, b.OFF_NR),
            b.Insn(b.JMP | b.JEQ | b.K, 0, 1, nr),
            allow,
        ]
    else:
        front += [b.Insn(b.JMP | b.JEQ | b.K, 0, 1, arch), allow]
    bad = b.encode(front + x86_64_filter)
    assert verify_bpf(program, bad, "x86_64", method="sampling").ok
    report = verify_bpf(program, bad, "x86_64", method="symbolic")
    assert not report.ok
    d = report.disagreements[0]
    assert d.arch == arch and str(d.got) == "allow"
    assert d.nr == nr or pick == "allow-one-odd-token"


def test_unmodelled_filters_fall_back_to_sampling(
    program: Program, x86_64_filter: list[b.Insn]
) -> None:
    # tax; txa in front changes nothing, but the symbolic proof does not model X
    odd = [b.stmt(b.MISC | b.TAX), b.stmt(b.MISC | b.TXA), *x86_64_filter]
    report = verify_bpf(program, b.encode(odd), "x86_64")
    assert report.ok and report.method == "sampling" and report.fallback
    with pytest.raises(Unsupported):
        verify_bpf(program, b.encode(odd), "x86_64", method="symbolic")


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
