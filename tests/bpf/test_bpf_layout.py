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


def _items(single: list[bool], kinds: list[str | int | None]) -> list[tree.Item]:
    """Items laid end to end: a single number, or a stretch of 4."""
    out, lo = [], 0
    for one, kind in zip(single, kinds, strict=True):
        hi = lo if one else lo + 3
        out.append(tree.Item(lo, hi, kind))
        lo = hi + 1
    return out


def _weigher(items: list[tree.Item], weights: list[float]) -> tree.Weigh:
    """Each item's weight spread evenly over its numbers."""

    def weigh(lo: int, hi: int, bit: int) -> float:
        total = 0.0
        for it, w in zip(items, weights, strict=True):
            nums = [x for x in range(max(lo, it.lo), min(hi, it.hi) + 1) if not x & bit]
            total += w * len(nums) / (it.hi - it.lo + 1)
        return total

    return weigh


def _plan(
    weights: list[float],
    single: list[bool],
    kinds: list[str | int | None],
    budget: list[int | None] | None = None,
) -> tree.Node:
    items = _items(single, kinds)
    return tree.plan(items, _weigher(items, weights), budget)


def _least(weights: list[float], single: list[bool], kinds: list[str | int | None]) -> float:
    items = _items(single, kinds)
    return tree.least_cost(items, _weigher(items, weights))


def _cost(
    node: tree.Node, weights: list[float], single: list[bool], kinds: list[str | int | None]
) -> float:
    """The expected number of tests the filter runs, each item's weight spread over its
    numbers (laid out as ``_plan`` lays them out)."""
    items = _items(single, kinds)
    total = 0.0
    for it, w in zip(items, weights, strict=True):
        numbers = range(it.lo, it.hi + 1)
        total += w * sum(_walk(node, x)[1] for x in numbers) / len(numbers)
    return total


def _walk(node: tree.Node, x: int) -> tuple[tuple[int, ...], int]:
    """The items a number reaches through the planned tree, as the filter tests it, and the
    tests on the way."""
    tests = 0
    while True:
        if isinstance(node, tree.Leaf):
            return node.items, tests
        tests += 1
        if isinstance(node, tree.Split):
            node = node.right if x >= node.at else node.left
        elif isinstance(node, tree.Bit):
            node = node.set if x & node.mask else node.clear
        else:
            for nr, t in node.tests:
                if x == nr:
                    return (t,), tests
                tests += 1
            return node.background, tests - 1


def _answer(node: tree.Node, x: int) -> tuple[int, ...]:
    return _walk(node, x)[0]


@pytest.mark.parametrize(
    ("weights", "single", "kinds", "cost"),
    [
        ([1.0], [False], ["a"], 0.0),
        ([1.0, 1.0], [False, False], ["a", "b"], 2.0),
        # a heavy item sits at depth 1, the light ones below it
        ([8.0, 1.0, 1.0], [False, False, False], ["a", "b", "c"], 8 + 2 + 2),
        # one number inside a stretch of one answer: one jeq, not two jge
        ([4.0, 0.1, 4.0], [False, True, False], ["a", "b", "a"], 8.1),
        # answers alternating number by number: one jset on bit 0 decides them all
        ([1.0] * 8, [True] * 8, ["a", "b"] * 4, 8.0),
    ],
)
def test_plan_is_cheapest(
    weights: list[float], single: list[bool], kinds: list[str], cost: float
) -> None:
    assert _cost(
        _plan(weights, single, list(kinds)), weights, single, list(kinds)
    ) == pytest.approx(cost)


def test_alternating_answers_take_one_jset() -> None:
    node = _plan([1.0] * 16, [True] * 16, ["allow", "deny"] * 8)
    assert isinstance(node, tree.Bit) and node.mask == 1
    assert isinstance(node.clear, tree.Leaf) and isinstance(node.set, tree.Leaf)


def test_every_number_reaches_its_own_answer() -> None:
    """Whatever the plan, each number of each item ends in a leaf of that item's answer
    (an item without a shared answer: in that very item): splits, chains and bits alike."""
    import random

    rng = random.Random(11)
    for n in (1, 2, 3, 7, 20, 45):
        for _ in range(8):
            single = [rng.random() < 0.6 for _ in range(n)]
            kinds: list[str | int | None] = []
            for _ in range(n):
                k = rng.choice(["a", "b", "c", None])
                if kinds and k is not None and kinds[-1] == k:
                    k = None  # neighbours of one answer are one item
                kinds.append(k)
            weights = [rng.choice([0.0, 0.1, 1.0, 3.0, 20.0]) for _ in range(n)]
            items = _items(single, kinds)
            node = _plan(weights, single, kinds)
            for t, it in enumerate(items):
                for x in range(it.lo, it.hi + 1):
                    reached = _answer(node, x)
                    if it.kind is None:
                        assert reached == (t,), (x, reached)
                    else:
                        assert items[reached[0]].kind == it.kind, (x, reached)
                        assert t in reached, (x, reached)


def test_more_items_than_one_programme_plans_are_planned_in_parts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past PLAN_ITEMS, jge splits cut the items into parts planned alone (the tables grow
    with the square of the items): every number still reaches its own answer."""
    import random

    monkeypatch.setattr(tree, "PLAN_ITEMS", 16)
    rng = random.Random(5)
    n = 150
    single = [rng.random() < 0.7 for _ in range(n)]
    kinds: list[str | int | None] = ["allow" if i % 2 else rng.choice("bc") for i in range(n)]
    weights = [rng.choice([0.1, 1.0, 3.0]) for _ in range(n)]
    items = _items(single, kinds)
    node = _plan(weights, single, kinds, [None] * n)
    assert isinstance(node, tree.Split)
    for t, it in enumerate(items):
        for x in range(it.lo, it.hi + 1):
            reached = _answer(node, x)
            assert t in reached and items[reached[0]].kind == it.kind, (x, reached)


def test_least_cost_is_the_plans_when_splits_alone_compete() -> None:
    """Without single numbers there are no chains, and Knuth's bound is exact: a plan of splits
    costs the least of splits; chains and bits may only make the plan cheaper."""
    import random

    rng = random.Random(7)
    for n in (1, 2, 5, 17, 40):
        weights = [rng.choice([0.0, 0.1, 1.0, 3.0, 20.0]) for _ in range(n)]
        kinds: list[str | int | None] = [rng.choice("abc") for _ in range(n)]
        plain = _plan(weights, [False] * n, kinds)
        assert (
            _cost(plain, weights, [False] * n, kinds) <= _least(weights, [False] * n, kinds) + 1e-9
        )
        singles = [rng.random() < 0.5 for _ in range(n)]
        chained = _plan(weights, singles, kinds)
        least = _least(weights, singles, kinds)
        assert _cost(chained, weights, singles, kinds) <= least + 1e-9
        assert least <= _least(weights, [False] * n, kinds) + 1e-9  # chains only help


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
    assert _least(weights, single, list(kinds)) == pytest.approx(cost)


def test_plan_keeps_items_within_budget() -> None:
    weights = [100.0] * 30 + [0.01]
    kinds: list[str | int | None] = list(range(31))
    free = tree.depths(_plan(weights, [False] * 31, kinds), 31)
    assert free[30] > 3
    held = _plan(weights, [False] * 31, kinds, [None] * 30 + [3])
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
    assert not any(i.code == b.JMP | b.JSET | b.K and i.k & X32_SYSCALL_BIT for i in head)
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
    node = _plan([1.0, 1.0, 1.0], [False] * 3, ["a", "b", "c"], [-5000, 3, None])
    assert sorted(tree.depths(node, 3)) == [1, 2, 2]
