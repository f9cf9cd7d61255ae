"""The filter's layout: a planned search tree, short paths, every simple path cacheable."""

from __future__ import annotations

from pathlib import Path

import pytest

from seccompiler.arch.abi import ABIS, X32_SYSCALL_BIT
from seccompiler.arch.tables import table
from seccompiler.backends import tree
from seccompiler.backends.bpf import MAX_PATH, compile_family
from seccompiler.backends.layout import Builder, Jump, assemble
from seccompiler.bpf import insn as b
from seccompiler.bpf.cache import bitmap_range, cached_allow
from seccompiler.bpf.emulate import Filter, SeccompData
from seccompiler.bpf.stats import abi_stats
from seccompiler.compile import load_program
from seccompiler.program import ActionKind, Program

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def program() -> Program:
    return load_program(str(REPO / "profiles" / "keisson-default.yaml"))


@pytest.fixture(scope="module")
def x86_64(program: Program) -> Filter:
    return Filter.from_bytes(compile_family(program, "x86_64"))


def _cost(node: tree.Node, weights: list[float]) -> float:
    return sum(w * d for w, d in zip(weights, tree.depths(node, len(weights)), strict=True))


@pytest.mark.parametrize(
    ("weights", "single", "kinds", "cost"),
    [
        ([1.0], [False], ["a"], 0.0),
        ([1.0, 1.0], [False, False], ["a", "b"], 2.0),
        # a heavy item sits at depth 1, the light ones below it
        ([8.0, 1.0, 1.0], [False, False, False], ["a", "b", "c"], 8 + 2 + 2),
        # one number inside a stretch of one answer: one jeq, not two jge
        ([4.0, 0.1, 4.0], [False, True, False], ["a", "b", "a"], 8.1),
    ],
)
def test_plan_is_cheapest(
    weights: list[float], single: list[bool], kinds: list[str], cost: float
) -> None:
    assert _cost(tree.plan(weights, single, kinds), weights) == pytest.approx(cost)


def test_least_cost_is_the_plans_when_splits_alone_compete() -> None:
    """Without single numbers there are no chains, and Knuth's bound is exact: the plan costs
    the least; with chains the plan may cost more, never less, than the least."""
    import random

    rng = random.Random(7)
    for n in (1, 2, 5, 17, 40):
        weights = [rng.choice([0.0, 0.1, 1.0, 3.0, 20.0]) for _ in range(n)]
        kinds = [rng.choice("abc") for _ in range(n)]
        plain = tree.plan(weights, [False] * n, kinds)
        assert _cost(plain, weights) == pytest.approx(tree.least_cost(weights, [False] * n, kinds))
        singles = [rng.random() < 0.5 for _ in range(n)]
        chained = tree.plan(weights, singles, kinds)
        least = tree.least_cost(weights, singles, kinds)
        assert least <= _cost(chained, weights) + 1e-9
        assert least <= tree.least_cost(weights, [False] * n, kinds) + 1e-9  # chains only help


@pytest.mark.parametrize(
    ("weights", "single", "kinds", "cost"),
    [
        ([1.0], [False], ["a"], 0.0),
        ([8.0, 1.0, 1.0], [False, False, False], ["a", "b", "c"], 8 + 2 + 2),
        ([4.0, 0.1, 4.0], [False, True, False], ["a", "b", "a"], 8.1),
    ],
)
def test_least_cost_of_small_cases(
    weights: list[float], single: list[bool], kinds: list[str], cost: float
) -> None:
    assert tree.least_cost(weights, single, kinds) == pytest.approx(cost)


def test_plan_keeps_items_within_budget() -> None:
    weights = [100.0] * 30 + [0.01]
    free = tree.depths(tree.plan(weights, [False] * 31, list(range(31))), 31)
    assert free[30] > 3
    held = tree.plan(weights, [False] * 31, list(range(31)), [None] * 30 + [3])
    assert tree.depths(held, 31)[30] <= 3


def test_a_word_already_in_the_accumulator_is_not_loaded_again() -> None:
    bld = Builder()
    miss, other = bld.label(), bld.label()
    bld.load(16)
    bld.emit(Jump(b.JEQ, 40, None, miss))
    bld.emit(b.stmt(b.RET | b.K, 1))
    bld.place(miss)
    bld.load(16)  # only way in: from the jeq, with args[0] in A
    bld.emit(Jump(b.JEQ, 38, None, other))
    bld.emit(b.stmt(b.RET | b.K, 2))
    bld.place(other)
    bld.emit(b.stmt(b.ALU | b.AND | b.K, 1))
    bld.load(16)  # A was changed: load again
    bld.emit(b.stmt(b.RET | b.A))
    loads = [i for i in assemble(bld.items) if i.code == b.LD | b.W | b.ABS]
    assert len(loads) == 2


def test_socket_loads_its_argument_once(program: Program, x86_64: Filter) -> None:
    nr = table("x86_64").by_name["socket"]
    insns = x86_64.insns
    arg_loads = [
        pc for pc, i in enumerate(insns) if i.code == b.LD | b.W | b.ABS and i.k == b.OFF_ARGS
    ]
    assert arg_loads, "socket checks its first argument"
    path = x86_64.run(SeccompData(nr, ABIS["x86_64"].audit_arch, 0, (2, 0, 0, 0, 0, 0)))
    assert path.action.kind is ActionKind.ALLOW
    # ld arch, jeq, ld nr, the tree, then one load and two compares before the answer
    assert path.steps <= 3 + 8 + 4


def test_no_fixed_x32_prefix(x86_64: Filter) -> None:
    """x32 numbers are told apart inside the tree: no jset or jeq -1 before it."""
    head = x86_64.insns[:6]
    assert not any(i.code == b.JMP | b.JSET | b.K for i in head)
    assert not any(i.k == 0xFFFFFFFF for i in head)
    token = ABIS["x86_64"].audit_arch
    for nr in (X32_SYSCALL_BIT, X32_SYSCALL_BIT | 1, 0xC0000000, 0xFFFFFFFE):
        assert x86_64.run(SeccompData(nr, token)).action.kind is ActionKind.KILL_PROCESS
    assert x86_64.run(SeccompData(0xFFFFFFFF, token)).action.kind is ActionKind.ERRNO


@pytest.mark.parametrize("family", ["x86_64", "aarch64", "riscv64"])
def test_paths_short_and_cacheable(program: Program, family: str) -> None:
    f = Filter.from_bytes(compile_family(program, family))
    for p in program.families()[family]:
        s = abi_stats(f, p.abi)
        assert s.max_path <= MAX_PATH, (p.abi.name, s.max_path_syscall)
        simple = {nr for nr, sp in p.syscalls.items() if not sp.rules and nr in bitmap_range(p.abi)}
        allowed = {nr for nr in simple if p.syscalls[nr].fallback.kind is ActionKind.ALLOW}
        assert allowed <= cached_allow(f.insns, p.abi), p.abi.name


def test_plan_with_an_impossible_budget_still_plans() -> None:
    """A leaf longer than any budget (thousands of conditions) still gets a tree."""
    node = tree.plan([1.0, 1.0, 1.0], [False] * 3, ["a", "b", "c"], [-5000, 3, None])
    assert sorted(tree.depths(node, 3)) == [1, 2, 2]
