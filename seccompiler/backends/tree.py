"""Plan the comparison tree that finds a syscall number's answer, weighted by how often it is asked.

The items are consecutive number ranges with one answer each. A ``Split`` is one ``jge`` at the
first number of its right half; a ``Chain`` serves a short stretch of ranges where a few single
numbers interrupt one background answer: a ``jeq`` per exception, then the background's answer,
so the background is not cut into pieces. A ``Bit`` is one ``jset`` on a low bit of the number:
where blocked and allowed syscalls alternate, the numbers with the bit clear and those with it
set often fall into fewer, longer stretches of one answer than the whole stretch does (each side
is then planned with splits and chains; a side holds no further ``Bit``).

The plan minimises the expected number of tests, ``sum(weight * tests on the way)``, by dynamic
programming over stretches of items; Knuth's bound on the best split point keeps it quadratic
(the bound is a heuristic once chains and bits compete; the plan stays correct, at worst
slightly longer than the best). Every test is a ``jge``, ``jeq`` or ``jset`` against a constant
on the number itself: the shapes the kernel's action cache can prove constant. The programme
runs in C where the native module is built (native/plan.h: the same operations in the same
order as ``_solve_py`` and ``_windows`` here, so the same plan to the bit), else in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

MAX_CHAIN = 3  # exceptions one chain tests before its background answer
ROUNDS = 6  # re-plans to bring items within their budget
BIT_ITEMS = 48  # the most items one jset divides
PLAN_ITEMS = 1024  # the most items one programme plans: its tables take (n + 1)^2 cells
BITS = tuple(1 << b for b in range(6))  # the bits a jset tests: strides of 1 to 32 numbers


@dataclass(frozen=True)
class Item:
    """Numbers ``lo..hi`` with one answer; items of equal ``kind`` answer alike (None: never
    shared with another item: its answer needs code of its own)."""

    lo: int
    hi: int
    kind: Hashable | None


# Weigh(lo, hi, bit): the weight of the numbers x in lo..hi with x & bit == 0 (bit 0: all)
Weigh = Callable[[int, int, int], float]


@dataclass(frozen=True)
class Leaf:
    items: tuple[int, ...]  # the items this answer serves (equal kind); code of the first

    @property
    def index(self) -> int:
        return self.items[0]


@dataclass(frozen=True)
class Split:
    at: int  # the first number of the right half (tested with ``jge``)
    left: Node
    right: Node


@dataclass(frozen=True)
class Chain:
    tests: tuple[tuple[int, int], ...]  # (number, item), tested with ``jeq`` in this order
    background: tuple[int, ...]  # the items every other number of the stretch falls in


@dataclass(frozen=True)
class Bit:
    mask: int  # one bit, tested with ``jset``: ``set`` where the number has it
    clear: Node
    set: Node


Node = Leaf | Split | Chain | Bit


def plan(items: Sequence[Item], weigh: Weigh, budget: Sequence[int | None] | None = None) -> Node:
    """The cheapest tree over the items that keeps each item within its budget.

    ``budget[i]``: the most tests allowed on the way to item i (None: no limit). An item over
    budget weighs more in the next round, until all fit or the rounds run out (then the
    deepest stays as planned; callers check their limits on the result).
    """
    if not items:
        raise ValueError("nothing to plan")
    weigh = _memo(weigh)
    boost = [1.0] * len(items)
    w = [weigh(it.lo, it.hi, 0) for it in items]
    if budget:
        total = _total(w)
        for i, b in enumerate(budget):
            if b is not None and b < 10 and w[i]:
                # a head start for the tight ones
                boost[i] = max(1.0, total / 2 ** max(b - 1, 0) / w[i])
            elif b is not None and b < 10:
                boost[i] = total / 2 ** max(b - 1, 0)
    node = _plan(items, weigh, boost)
    # past PLAN_ITEMS the tree is too deep for any budget a filter has: no rounds
    for _ in range(ROUNDS if budget and len(items) <= PLAN_ITEMS else 0):
        assert budget is not None
        d = depths(node, len(items))
        over = [i for i, b in enumerate(budget) if b is not None and d[i] > b]
        if not over:
            break
        total = _total(wi * bi if wi else bi for wi, bi in zip(w, boost, strict=True))
        for i in over:
            # about what a depth of budget[i] takes in a weight-balanced tree, or more
            target = total / 2 ** max(budget[i] or 0, 0)
            boost[i] = max(boost[i] * 4, target / w[i] if w[i] else target)
        node = _plan(items, weigh, boost)
    return node


def _total(values: Iterable[float]) -> float:
    """A sum of weights, left to right: ``sum`` of floats compensates since Python 3.12, and a
    plan must not depend on the Python that made it."""
    total = 0.0
    for v in values:
        total += v
    return total


def _memo(weigh: Weigh) -> Weigh:
    """``weigh`` asked once per question: a plan asks the same ones many times."""
    known: dict[tuple[int, int, int], float] = {}

    def ask(lo: int, hi: int, bit: int) -> float:
        key = (lo, hi, bit)
        w = known.get(key)
        if w is None:
            w = known[key] = weigh(lo, hi, bit)
        return w

    return ask


def least_cost(items: Sequence[Item], weigh: Weigh) -> float:
    """The least ``sum(weight * tests on the way)`` of any tree of splits and chains alone over
    the items (no ``Bit``): the same programme as ``plan`` without Knuth's bound, cubic (for
    figures, not for compiling)."""
    seq = _Seq.of(items, weigh, [1.0] * len(items))
    return _solve(seq, exact=True).cost(0, len(seq.lo))


# --- sequences of items, and the programme over their stretches -------------------------------


class _Seq:
    """Items as the planner sees them: first number, one number or more, kind, weight, and the
    original items each stands for (a side of a bit merges neighbours of equal kind)."""

    __slots__ = ("kind", "lo", "members", "single", "weight")

    def __init__(self) -> None:
        self.lo: list[int] = []
        self.single: list[bool] = []
        self.kind: list[int] = []  # -1: never shared
        self.weight: list[float] = []
        self.members: list[tuple[int, ...]] = []

    @staticmethod
    def of(items: Sequence[Item], weigh: Weigh, boost: Sequence[float]) -> _Seq:
        s = _Seq()
        codes: dict[Hashable, int] = {}
        for i, it in enumerate(items):
            s.lo.append(it.lo)
            s.single.append(it.lo == it.hi)
            s.kind.append(-1 if it.kind is None else codes.setdefault(it.kind, len(codes)))
            s.weight.append(_boosted(weigh(it.lo, it.hi, 0), boost[i]))
            s.members.append((i,))
        return s

    def add(self, lo: int, single: bool, kind: int, weight: float, item: int) -> None:
        """Append a fragment of ``item``: merged into the last when that shares its kind."""
        if self.lo and kind >= 0 and self.kind[-1] == kind:
            self.single[-1] = False
            self.weight[-1] += weight
            self.members[-1] = (*self.members[-1], item)
            return
        self.lo.append(lo)
        self.single.append(single)
        self.kind.append(kind)
        self.weight.append(weight)
        self.members.append((item,))


def _boosted(w: float, boost: float) -> float:
    return w * boost if w else (boost if boost > 1.0 else 0.0)


SPLIT, CHAIN, BIT = 0, 1, 2  # what answers a stretch (native/plan.h's TP_*)


class _Table:
    """The programme's answer for every stretch i..j-1 of a sequence of n items: its least
    cost, its best split point, and what answers it (SPLIT, CHAIN or BIT). Flat
    (n + 1) x (n + 1) arrays, row-major: Python lists, or the native module's buffers."""

    __slots__ = ("choice", "costs", "m", "roots")

    def __init__(
        self, n: int, costs: Sequence[float], roots: Sequence[int], choice: Sequence[int]
    ) -> None:
        self.m = n + 1
        self.costs, self.roots, self.choice = costs, roots, choice

    def cost(self, i: int, j: int) -> float:
        return self.costs[i * self.m + j]

    def root(self, i: int, j: int) -> int:
        return self.roots[i * self.m + j]

    def how(self, i: int, j: int) -> int:
        return self.choice[i * self.m + j]


@cache
def _lib() -> Any:
    """The native module's ffi and lib (native/plan.h), or None where it was not built: the
    Python twin then plans, more slowly, to the same result."""
    try:
        from seccompiler import _native  # type: ignore[attr-defined]
    except ImportError:
        return None
    # a module built before the planner moved to C lacks its functions: plan in Python
    return _native if hasattr(_native.lib, "tp_windows") else None


def _solve(
    seq: _Seq, exact: bool, option: Sequence[float] | None = None, band: int | None = None
) -> _Table:
    """The programme over every stretch of the sequence: splits (``exact``: at every point,
    else within Knuth's bound), chains, and ``option``'s jsets (their cost per stretch,
    infinity where none; None: no jset); ``band``: stretches of at most that many items."""
    native = _lib()
    if native is None:
        return _solve_py(seq, exact, option, band)
    ffi, lib = native.ffi, native.lib
    n = len(seq.lo)
    m = n + 1
    costs = ffi.new("double[]", m * m)
    roots = ffi.new("long[]", m * m)
    choice = ffi.new("unsigned char[]", m * m)
    lib.tp_solve(
        n,
        ffi.new("double[]", seq.weight),
        ffi.new("unsigned char[]", bytes(seq.single)),
        ffi.new("long[]", seq.kind),
        int(exact),
        band or 0,
        MAX_CHAIN,
        ffi.NULL if option is None else option,
        costs,
        roots,
        choice,
        ffi.new("double[]", m),
        ffi.new("long[]", max(n, 1)),
    )
    return _Table(n, costs, roots, choice)


def _solve_py(seq: _Seq, exact: bool, option: Sequence[float] | None, band: int | None) -> _Table:
    """``_solve`` in Python: native/plan.h's tp_solve does the same operations in C."""
    n = len(seq.lo)
    m = n + 1
    weights, single, kind = seq.weight, seq.single, seq.kind
    pre = [0.0]
    for w in weights:
        pre.append(pre[-1] + w)
    cost = [[0.0] * m for _ in range(m)]
    by_end = [[0.0] * m for _ in range(m)]  # by_end[j][i] = cost[i][j]
    root = [[0] * m for _ in range(m)]
    choice = [[SPLIT] * m for _ in range(m)]
    reach = _reach(single, kind)
    # rows from the last: cell (i, j) needs (i, k) for k < j and (k, j) for k > i
    for i in range(n - 1, -1, -1):
        cost_i, root_i, choice_i = cost[i], root[i], choice[i]
        root_next = root[i + 1] if i + 1 < n else root_i
        base = pre[i]
        chain_end = reach[i]
        for j in range(i + 2, (n if band is None else min(n, i + band)) + 1):
            if j == i + 2:
                best_k, best = i + 1, 0.0
            else:
                lo, hi = (i + 1, j - 1) if exact else (root_i[j - 1], root_next[j])
                col = by_end[j]
                best_k, best = lo, cost_i[lo] + col[lo]
                for k in range(lo + 1, hi + 1):
                    c = cost_i[k] + col[k]
                    if c < best:
                        best_k, best = k, c
            root_i[j] = best_k
            best += pre[j] - base
            if j <= chain_end:
                found = _chain(weights, single, kind, i, j)
                if found is not None and found[0] < best:
                    best = found[0]
                    choice_i[j] = CHAIN
            if option is not None and option[i * m + j] < best - 1e-12:
                best = option[i * m + j]
                choice_i[j] = BIT
            cost_i[j] = best
            by_end[j][i] = best
    return _Table(
        n,
        [x for row in cost for x in row],
        [x for row in root for x in row],
        [x for row in choice for x in row],
    )


def _reach(single: Sequence[bool], kind: Sequence[int]) -> list[int]:
    """How far from i a chain can reach: every item wider than one number shares one kind, and
    all but MAX_CHAIN items at most share one kind (the background). Neither comes back once
    lost as the stretch grows, so the stretches i..j-1 for j up to ``reach[i]`` are all that
    can be chains."""
    n = len(single)
    reach = [0] * n
    for i in range(n):
        wide = -2
        counts: dict[int, int] = {}
        j = i
        while j < n and j - i < 2 * MAX_CHAIN + 1:
            k = kind[j]
            if not single[j]:
                if k < 0 or wide not in (-2, k):
                    break
                wide = k
            if k >= 0:
                counts[k] = counts.get(k, 0) + 1
            background = counts.get(wide, 0) if wide != -2 else max(counts.values(), default=0)
            if j + 1 - i - background > MAX_CHAIN:
                break
            j += 1
        reach[i] = j  # items i..j-1 may form a chain
    return reach


def _chain(
    weights: Sequence[float], single: Sequence[bool], kind: Sequence[int], i: int, j: int
) -> tuple[float, tuple[int, ...]] | None:
    """The cheapest chain over items i..j-1: its cost, then its exceptions in the order tested
    and the items of its background (None when no chain serves them)."""
    # an item wider than one number cannot be a jeq exception: all such share the background
    wide = -2
    for t in range(i, j):
        if not single[t]:
            k = kind[t]
            if k < 0 or (wide != -2 and k != wide):
                return None
            wide = k
    candidates = (wide,) if wide != -2 else {k for k in kind[i:j] if k >= 0}
    total = 0.0
    for t in range(i, j):
        total += weights[t]  # in this order, as native/plan.h sums
    best: tuple[float, list[int], int, int] | None = None
    for k in candidates:
        rest = [t for t in range(i, j) if kind[t] != k]
        if len(rest) > MAX_CHAIN:
            continue
        rest.sort(key=lambda t: (-weights[t], t))
        c = w_rest = 0.0
        for pos, t in enumerate(rest):
            c += weights[t] * (pos + 1)
            w_rest += weights[t]
        c += (total - w_rest) * len(rest)  # the background pays every test
        first = next(t for t in range(i, j) if kind[t] == k)
        if best is None or c < best[0] or (c == best[0] and first < best[2]):
            best = (c, rest, first, k)
    if best is None:
        return None
    c, rest, _, k = best
    return c, (*rest, *(t for t in range(i, j) if kind[t] == k))


# --- bits: one jset, then each side planned alone ----------------------------------------------


def _fragment(it: Item, bit: int, value: int) -> tuple[int, int] | None:
    """The first and last numbers of ``it`` whose ``bit`` (a mask of one bit) is ``value``
    (0 or 1), None when it has none: blocks of ``bit`` numbers alternate between the sides."""
    want = value * bit
    if it.lo & bit == want:
        first = it.lo
    elif value:
        first = (it.lo | (bit - 1)) + 1  # the next block with the bit set
    else:
        first = (it.lo | (2 * bit - 1)) + 1  # the next block with the bit clear
    if it.hi & bit == want:
        last = it.hi
    elif value:
        last = (it.hi & ~(2 * bit - 1)) - 1  # the end of the block before, the bit set
    else:
        last = (it.hi & ~(bit - 1)) - 1  # the end of the block before, the bit clear
    return (first, last) if first <= last else None


def _side(
    items: Sequence[Item],
    seq: _Seq,
    weigh: Weigh,
    boost: Sequence[float],
    i: int,
    j: int,
    bit: int,
    value: int,
) -> _Seq:
    """The items i..j-1 as they are on one side of ``jset bit`` (``_fragment``)."""
    side = _Seq()
    for t in range(i, j):
        it = items[t]
        frag = _fragment(it, bit, value)
        if frag is not None:
            clear = weigh(it.lo, it.hi, bit)
            w = weigh(it.lo, it.hi, 0) - clear if value else clear
            side.add(frag[0], frag[0] == frag[1], seq.kind[t], _boosted(w, boost[t]), t)
    return side


def _bit_options(
    items: Sequence[Item],
    seq: _Seq,
    weigh: Weigh,
    boost: Sequence[float],
) -> tuple[Sequence[float], Sequence[int]]:
    """For each stretch of 3..BIT_ITEMS items, the cost of the cheapest jset and its two
    sides, and the bit it tests (infinity and 0 where none): the programme then weighs it
    against splits and chains.

    Each side of each bit is planned once over all the items (``_solve`` of the whole side);
    a stretch's side is then a stretch of that plan's table. (Its end items may weigh a little
    more there than in the stretch alone, where a neighbour of equal kind outside merged with
    them: the estimate errs toward splits and chains, never toward a jset.)
    """
    n = len(items)
    m = n + 1
    pre = [0.0]
    for w in seq.weight:
        pre.append(pre[-1] + w)
    native = _lib()
    inf = float("inf")
    best: Any  # a list, or the native module's buffer
    bit_of: Any
    if native is None:
        best, bit_of = [inf] * (m * m), [0] * (m * m)
    else:
        ffi = native.ffi
        best, bit_of = ffi.new("double[]", [inf] * (m * m)), ffi.new("long[]", m * m)
        pre_c = ffi.new("double[]", pre)
    for bit in BITS:
        sides = []
        for value in (0, 1):
            side = _side(items, seq, weigh, boost, 0, n, bit, value)
            # where each item's part sits in the side: its fragment, or -1 (none)
            at = [-1] * n
            for f, members in enumerate(side.members):
                for t in members:
                    at[t] = f
            first = [0] * (n + 1)  # first[i]: the first fragment of items i.. (len: none)
            first[n] = len(side.lo)
            for t in range(n - 1, -1, -1):
                first[t] = at[t] if at[t] >= 0 else first[t + 1]
            last = [0] * (n + 1)  # last[j]: one past the last fragment of items ..j-1
            for t in range(n):
                last[t + 1] = at[t] + 1 if at[t] >= 0 else last[t]
            if len(side.lo) > 1:
                table = _solve(side, exact=False, band=BIT_ITEMS)
                sides.append((first, last, table.costs, len(side.lo)))
            else:  # one fragment or none: nothing to test on this side
                zeros = [0.0] * 4 if native is None else native.ffi.new("double[]", 4)
                sides.append((first, last, zeros, 1))
        (f0, l0, c0, n0), (f1, l1, c1, n1) = sides
        if native is None:
            _windows(n, pre, sides, bit, best, bit_of)
        else:
            ffi = native.ffi
            native.lib.tp_windows(
                n,
                BIT_ITEMS,
                pre_c,
                ffi.new("long[]", f0),
                ffi.new("long[]", l0),
                c0,
                n0,
                ffi.new("long[]", f1),
                ffi.new("long[]", l1),
                c1,
                n1,
                bit,
                best,
                bit_of,
            )
    return best, bit_of


def _windows(
    n: int,
    pre: Sequence[float],
    sides: list[tuple[list[int], list[int], Sequence[float], int]],
    bit: int,
    best: list[float],
    bit_of: list[int],
) -> None:
    """The window loop of ``_bit_options`` in Python (native/plan.h's tp_windows)."""
    m = n + 1
    (f0, l0, c0, n0), (f1, l1, c1, n1) = sides
    m0, m1 = n0 + 1, n1 + 1
    for i in range(n - 2):
        a0, a1, base = f0[i], f1[i], pre[i]
        for j in range(i + 3, min(n, i + BIT_ITEMS) + 1):
            b0, b1 = l0[j], l1[j]
            if b0 > a0 and b1 > a1:  # both sides hold numbers, or the jset decides nothing
                c = pre[j] - base + c0[a0 * m0 + b0] + c1[a1 * m1 + b1]
                if c < best[i * m + j] - 1e-12:
                    best[i * m + j] = c
                    bit_of[i * m + j] = bit


# --- building the tree --------------------------------------------------------------------------


def _plan(items: Sequence[Item], weigh: Weigh, boost: Sequence[float]) -> Node:
    """The programme's tree; over more than PLAN_ITEMS items, first ``jge`` splits that halve
    the weight (each part keeping a quarter of the items at least) until each part is that
    small: the programme's tables grow with the square of the items."""
    if len(items) <= PLAN_ITEMS:
        seq = _Seq.of(items, weigh, boost)
        best, bit_of = _bit_options(items, seq, weigh, boost)
        table = _solve(seq, exact=False, option=best)
        return _build(items, seq, table, bit_of, 0, len(seq.lo), weigh, boost)
    weights = [_boosted(weigh(it.lo, it.hi, 0), b) for it, b in zip(items, boost, strict=True)]
    half = _total(weights) / 2
    k, acc = 1, weights[0]
    while k < len(items) - 1 and acc + weights[k] / 2 < half:
        acc += weights[k]
        k += 1
    k = min(max(k, len(items) // 4), len(items) - len(items) // 4)  # parts shrink: few levels
    left = _plan(items[:k], weigh, boost[:k])
    right = _shift(_plan(items[k:], weigh, boost[k:]), k)
    return Split(items[k].lo, left, right)


def _shift(node: Node, by: int) -> Node:
    """``node`` with every item index moved by ``by`` (a part planned on its own)."""
    if isinstance(node, Leaf):
        return Leaf(tuple(t + by for t in node.items))
    if isinstance(node, Split):
        return Split(node.at, _shift(node.left, by), _shift(node.right, by))
    if isinstance(node, Bit):
        return Bit(node.mask, _shift(node.clear, by), _shift(node.set, by))
    return Chain(
        tuple((nr, t + by) for nr, t in node.tests), tuple(t + by for t in node.background)
    )


def _build(
    items: Sequence[Item],
    seq: _Seq,
    table: _Table,
    bit_of: Sequence[int] | None,
    i: int,
    j: int,
    weigh: Weigh,
    boost: Sequence[float],
) -> Node:
    if j - i == 1:
        return Leaf(seq.members[i])
    how = table.how(i, j)
    if how == BIT:
        assert bit_of is not None
        bit = bit_of[i * table.m + j]
        halves = []
        for value in (0, 1):
            side = _side(items, seq, weigh, boost, i, j, bit, value)
            inner = _solve(side, exact=False)
            halves.append(_build(items, side, inner, None, 0, len(side.lo), weigh, boost))
        return Bit(bit, halves[0], halves[1])
    if how == CHAIN:
        found = _chain(seq.weight, seq.single, seq.kind, i, j)
        assert found is not None
        chain = found[1]
        n_tests = sum(1 for t in chain if seq.kind[t] != seq.kind[chain[-1]])
        tests = tuple((seq.lo[t], seq.members[t][0]) for t in chain[:n_tests])
        background = tuple(m for t in chain[n_tests:] for m in seq.members[t])
        return Chain(tests, background)
    k = table.root(i, j)
    return Split(
        seq.lo[k],
        _build(items, seq, table, bit_of, i, k, weigh, boost),
        _build(items, seq, table, bit_of, k, j, weigh, boost),
    )


def depths(node: Node, n: int) -> list[int]:
    """Tests on the way to each item: the most over the ways to its numbers."""
    out = [0] * n

    def walk(node: Node, d: int) -> None:
        if isinstance(node, Leaf):
            for t in node.items:
                out[t] = max(out[t], d)
        elif isinstance(node, Split):
            walk(node.left, d + 1)
            walk(node.right, d + 1)
        elif isinstance(node, Bit):
            walk(node.clear, d + 1)
            walk(node.set, d + 1)
        else:
            for t in node.background:
                out[t] = max(out[t], d + len(node.tests))
            for pos, (_, t) in enumerate(node.tests):
                out[t] = max(out[t], d + pos + 1)

    walk(node, 0)
    return out
