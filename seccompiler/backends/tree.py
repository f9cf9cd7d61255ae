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
on the number itself: the shapes the kernel's action cache can prove constant.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

MAX_CHAIN = 3  # exceptions one chain tests before its background answer
ROUNDS = 6  # re-plans to bring items within their budget
BIT_ITEMS = 48  # the most items one jset divides
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
        total = sum(w)
        for i, b in enumerate(budget):
            if b is not None and b < 10 and w[i]:
                # a head start for the tight ones
                boost[i] = max(1.0, total / 2 ** max(b - 1, 0) / w[i])
            elif b is not None and b < 10:
                boost[i] = total / 2 ** max(b - 1, 0)
    node = _plan(items, weigh, boost)
    for _ in range(ROUNDS if budget else 0):
        assert budget is not None
        d = depths(node, len(items))
        over = [i for i, b in enumerate(budget) if b is not None and d[i] > b]
        if not over:
            break
        total = sum(wi * bi if wi else bi for wi, bi in zip(w, boost, strict=True))
        for i in over:
            # about what a depth of budget[i] takes in a weight-balanced tree, or more
            target = total / 2 ** max(budget[i] or 0, 0)
            boost[i] = max(boost[i] * 4, target / w[i] if w[i] else target)
        node = _plan(items, weigh, boost)
    return node


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
    return _solve(seq, exact=True).cost[0][len(seq.lo)]


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


@dataclass
class _Table:
    cost: list[list[float]]  # cost[i][j]: the stretch of items i..j-1
    root: list[list[int]]
    how: dict[tuple[int, int], tuple[int, ...]]  # chains: exceptions..., background
    bit: dict[tuple[int, int], int]  # stretches answered by a jset: its bit


def _solve(
    seq: _Seq,
    exact: bool,
    bits: dict[tuple[int, int], tuple[float, int]] | None = None,
    band: int | None = None,
) -> _Table:
    n = len(seq.lo)
    weights, single, kind = seq.weight, seq.single, seq.kind
    pre = [0.0]
    for w in weights:
        pre.append(pre[-1] + w)
    cost = [[0.0] * (n + 1) for _ in range(n + 1)]
    by_end = [[0.0] * (n + 1) for _ in range(n + 1)]  # by_end[j][i] = cost[i][j]
    root = [[0] * (n + 1) for _ in range(n + 1)]
    how: dict[tuple[int, int], tuple[int, ...]] = {}
    chosen: dict[tuple[int, int], int] = {}
    reach = _reach(single, kind)
    bits = bits or {}
    # rows from the last: cell (i, j) needs (i, k) for k < j and (k, j) for k > i
    for i in range(n - 1, -1, -1):
        cost_i, root_i = cost[i], root[i]
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
                    how[i, j] = found[1]
            if bits:
                option = bits.get((i, j))
                if option is not None and option[0] < best - 1e-12:
                    best = option[0]
                    chosen[i, j] = option[1]
                    how.pop((i, j), None)
            cost_i[j] = best
            by_end[j][i] = best
    return _Table(cost, root, how, chosen)


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
    total = sum(weights[i:j])
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
) -> dict[tuple[int, int], tuple[float, int]]:
    """For each stretch of 3..BIT_ITEMS items, the cost of the cheapest jset and its two
    sides, and the bit it tests (the programme then weighs it against splits and chains).

    Each side of each bit is planned once over all the items (``_solve`` of the whole side);
    a stretch's side is then a stretch of that plan's table. (Its end items may weigh a little
    more there than in the stretch alone, where a neighbour of equal kind outside merged with
    them: the estimate errs toward splits and chains, never toward a jset.)
    """
    n = len(items)
    pre = [0.0]
    for w in seq.weight:
        pre.append(pre[-1] + w)
    out: dict[tuple[int, int], tuple[float, int]] = {}
    inf = float("inf")
    best = [[inf] * (n + 1) for _ in range(n)]  # the cheapest jset so far, per stretch
    for bit in BITS:
        tables = []
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
            cost = [[0.0, 0.0], [0.0, 0.0]]
            if len(side.lo) > 1:
                cost = _solve(side, exact=False, band=BIT_ITEMS).cost
            tables.append((cost, first, last))
        (c0, f0, l0), (c1, f1, l1) = tables
        for i in range(n - 2):
            a0, a1, base = f0[i], f1[i], pre[i]
            row0, row1, best_i = c0[a0], c1[a1], best[i]
            for j in range(i + 3, min(n, i + BIT_ITEMS) + 1):
                b0, b1 = l0[j], l1[j]
                if b0 > a0 and b1 > a1:  # both sides hold numbers, or the jset decides nothing
                    c = pre[j] - base + row0[b0] + row1[b1]
                    if c < best_i[j] - 1e-12:
                        best_i[j] = c
                        out[i, j] = (c, bit)
    return out


# --- building the tree --------------------------------------------------------------------------


def _plan(items: Sequence[Item], weigh: Weigh, boost: Sequence[float]) -> Node:
    seq = _Seq.of(items, weigh, boost)
    table = _solve(seq, exact=False, bits=_bit_options(items, seq, weigh, boost))
    return _build(items, seq, table, 0, len(seq.lo), weigh, boost)


def _build(
    items: Sequence[Item],
    seq: _Seq,
    table: _Table,
    i: int,
    j: int,
    weigh: Weigh,
    boost: Sequence[float],
) -> Node:
    if j - i == 1:
        return Leaf(seq.members[i])
    bit = table.bit.get((i, j))
    if bit is not None:
        halves = []
        for value in (0, 1):
            side = _side(items, seq, weigh, boost, i, j, bit, value)
            inner = _solve(side, exact=False)
            halves.append(_build(items, side, inner, 0, len(side.lo), weigh, boost))
        return Bit(bit, halves[0], halves[1])
    chain = table.how.get((i, j))
    if chain is not None:
        n_tests = sum(1 for t in chain if seq.kind[t] != seq.kind[chain[-1]])
        tests = tuple((seq.lo[t], seq.members[t][0]) for t in chain[:n_tests])
        background = tuple(m for t in chain[n_tests:] for m in seq.members[t])
        return Chain(tests, background)
    k = table.root[i][j]
    return Split(
        seq.lo[k],
        _build(items, seq, table, i, k, weigh, boost),
        _build(items, seq, table, k, j, weigh, boost),
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
