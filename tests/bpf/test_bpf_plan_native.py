"""The planner's programme in C (native/plan.h) and its Python twin (backends/tree.py) agree bit
for bit: on random sequences, on the jset windows, and on whole filters, which are byte-identical
whichever of the two planned them."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from seccompiler.backends import bpf as bpfmod
from seccompiler.backends import tree
from seccompiler.compile import load_program

REPO = Path(__file__).resolve().parents[2]


def _python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tree, "_lib", lambda: None)


def _random_seq(rng: random.Random, n: int) -> tree._Seq:
    seq = tree._Seq()
    for i in range(n):
        seq.lo.append(10 * i)
        seq.single.append(rng.random() < 0.5)
        seq.kind.append(rng.choice([-1, 0, 1, 2, 3]))
        # repeated weights make ties, which both must break alike
        seq.weight.append(rng.choice([0.0, 0.1, 0.8, 0.8, 1.0, 3.0, 20.0, rng.random() * 5]))
        seq.members.append((i,))
    return seq


def _flat(table: tree._Table) -> tuple[list[float], list[int], list[int]]:
    size = table.m * table.m
    return (
        [table.costs[x] for x in range(size)],
        [table.roots[x] for x in range(size)],
        [table.choice[x] for x in range(size)],
    )


def test_the_native_module_is_built() -> None:
    assert tree._lib() is not None, "make setup builds seccompiler._native"


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("band", [None, 3, 8])
def test_tables_are_equal_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch, exact: bool, band: int | None
) -> None:
    rng = random.Random(f"{exact}{band}")
    inf = float("inf")
    for n in (0, 1, 2, 3, 5, 9, 16, 33, 60):
        for with_options in (False, True):
            seq = _random_seq(rng, n)
            m = n + 1
            option = None
            if with_options:
                option = [rng.choice([inf, inf, rng.random() * 40]) for _ in range(m * m)]
            native = _flat(tree._solve(seq, exact, option, band))
            py = _flat(tree._solve_py(seq, exact, option, band))
            assert native == py, (n, exact, band, with_options)


def _ranges(abi: str) -> tuple[list[tree.Item], tree.Weigh]:
    program = load_program(str(REPO / "profiles" / "keisson-default.yaml"))
    own = next(p for p in program.abis if p.abi.name == abi)
    group = [p for p in program.abis if p.abi.audit_arch == own.abi.audit_arch]
    ranges = bpfmod._ranges(group, program.bad_arch)
    return [tree.Item(r.lo, r.hi, r.action) for r in ranges], bpfmod._weigher(group)


@pytest.mark.parametrize("abi", ["x86_64", "x86", "arm"])
def test_jset_windows_are_equal(monkeypatch: pytest.MonkeyPatch, abi: str) -> None:
    items, weigh = _ranges(abi)
    boost = [1.0] * len(items)
    seq = tree._Seq.of(items, weigh, boost)
    best, bits = tree._bit_options(items, seq, weigh, boost)
    size = (len(items) + 1) ** 2
    native = ([best[x] for x in range(size)], [bits[x] for x in range(size)])
    _python(monkeypatch)
    best, bits = tree._bit_options(items, seq, weigh, boost)
    assert native == (list(best), list(bits))
    assert any(b for b in bits), "the bundled profile has stretches a jset answers"


@pytest.mark.parametrize("family", ["x86_64", "aarch64", "riscv64"])
def test_filters_are_byte_identical_whichever_plans(
    monkeypatch: pytest.MonkeyPatch, family: str
) -> None:
    program = load_program(str(REPO / "profiles" / "keisson-default.yaml"))
    native = bpfmod.compile_family(program, family)
    _python(monkeypatch)
    assert bpfmod.compile_family(program, family) == native
