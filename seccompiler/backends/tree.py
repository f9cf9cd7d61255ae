"""Plan the comparison tree that finds a syscall number's answer, weighted by how often it is asked.

The items are consecutive number ranges with one answer each. A ``Split`` is one ``jge`` at the
first number of its right half; a ``Chain`` serves a short stretch of ranges where a few single
numbers interrupt one background answer: a ``jeq`` per exception, then the background's answer,
so the background is not cut into pieces. The plan minimises the expected number of tests,
``sum(weight * tests on the way)``, by dynamic programming over stretches of items; Knuth's bound
on the best split point keeps it quadratic (the bound is a heuristic once chains compete; the
plan stays correct, at worst slightly longer than the best).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

MAX_CHAIN = 3  # exceptions one chain tests before its background answer
ROUNDS = 6  # re-plans to bring items within their budget


@dataclass(frozen=True)
class Leaf:
    index: int


@dataclass(frozen=True)
class Split:
    at: int  # first item of the right half (tested with ``jge``)
    left: Node
    right: Node


@dataclass(frozen=True)
class Chain:
    tests: tuple[int, ...]  # single-number items, tested with ``jeq`` in this order
    background: int  # an item whose answer every other number of the stretch shares


Node = Leaf | Split | Chain


def plan(
    weights: Sequence[float],
    single: Sequence[bool],
    kinds: Sequence[Hashable | None],
    budget: Sequence[int | None] | None = None,
) -> Node:
    """The cheapest tree over items ``0..n-1`` that keeps each item within its budget.

    ``single[i]``: item i is one number (a ``jeq`` can pick it out); ``kinds[i]``: its answer
    when items of equal kind may share a chain's background, None when it cannot be one;
    ``budget[i]``: the most tests allowed on the way to item i (None: no limit). An item over
    budget weighs more in the next round, until all fit or the rounds run out (then the
    deepest stays as planned; callers check their limits on the result).
    """
    w = list(weights)
    if budget:
        total = sum(w)
        for i, b in enumerate(budget):
            if b is not None and b < 10:
                w[i] = max(w[i], total / 2 ** max(b - 1, 0))  # a head start for the tight ones
    node = _plan(w, single, kinds)
    for _ in range(ROUNDS if budget else 0):
        assert budget is not None
        d = depths(node, len(w))
        over = [i for i, b in enumerate(budget) if b is not None and d[i] > b]
        if not over:
            break
        total = sum(w)
        for i in over:
            # about what a depth of budget[i] takes in a weight-balanced tree, or more
            w[i] = max(w[i] * 4, total / 2 ** max(budget[i] or 0, 0))
        node = _plan(w, single, kinds)
    return node


def least_cost(
    weights: Sequence[float], single: Sequence[bool], kinds: Sequence[Hashable | None]
) -> float:
    """The least ``sum(weight * tests on the way)`` of any tree of splits and chains over the
    items: the same programme as ``plan`` without Knuth's bound, cubic (for figures, not for
    compiling)."""
    return _solve(weights, single, kinds, exact=True)[0]


def _plan(
    weights: Sequence[float], single: Sequence[bool], kinds: Sequence[Hashable | None]
) -> Node:
    _, root, how = _solve(weights, single, kinds, exact=False)
    return _build(0, len(weights), root, how)


def _solve(
    weights: Sequence[float],
    single: Sequence[bool],
    kinds: Sequence[Hashable | None],
    exact: bool,
) -> tuple[float, list[list[int]], dict[tuple[int, int], tuple[int, ...]]]:
    n = len(weights)
    if n == 0:
        raise ValueError("nothing to plan")
    codes: dict[Hashable, int] = {}
    kind = [-1 if k is None else codes.setdefault(k, len(codes)) for k in kinds]
    pre = [0.0]
    for w in weights:
        pre.append(pre[-1] + w)
    cost = [[0.0] * (n + 1) for _ in range(n + 1)]  # cost[i][j]: items i..j-1
    by_end = [[0.0] * (n + 1) for _ in range(n + 1)]  # by_end[j][i] = cost[i][j]
    root = [[0] * (n + 1) for _ in range(n + 1)]
    how: dict[tuple[int, int], tuple[int, ...]] = {}
    # how far from i a chain can reach: every item wider than one number shares one kind
    reach = [0] * n
    for i in range(n):
        wide = -2
        j = i
        while j < n and j - i < 2 * MAX_CHAIN + 1:
            if not single[j]:
                if kind[j] < 0 or wide not in (-2, kind[j]):
                    break
                wide = kind[j]
            j += 1
        reach[i] = j  # items i..j-1 may form a chain
    # rows from the last: cell (i, j) needs (i, k) for k < j and (k, j) for k > i
    for i in range(n - 1, -1, -1):
        cost_i, root_i = cost[i], root[i]
        root_next = root[i + 1] if i + 1 < n else root_i
        base = pre[i]
        chain_end = reach[i]
        for j in range(i + 2, n + 1):
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
            cost_i[j] = best
            by_end[j][i] = best
    return cost[0][n], root, how


def _chain(
    weights: Sequence[float], single: Sequence[bool], kind: list[int], i: int, j: int
) -> tuple[float, tuple[int, ...]] | None:
    # an item wider than one number cannot be a jeq exception: all such share the background
    wide = {kind[t] for t in range(i, j) if not single[t]}
    if len(wide) > 1 or -1 in wide:
        return None
    best: tuple[float, tuple[int, ...]] | None = None
    for k in wide or {kind[t] for t in range(i, j) if kind[t] >= 0}:
        rest = [t for t in range(i, j) if kind[t] != k]
        if len(rest) > MAX_CHAIN:
            continue
        rest.sort(key=lambda t: (-weights[t], t))
        background = [t for t in range(i, j) if kind[t] == k]
        w_bg = sum(weights[t] for t in background)
        c = sum(weights[t] * (pos + 1) for pos, t in enumerate(rest)) + w_bg * len(rest)
        if best is None or c < best[0] or (c == best[0] and background[0] < best[1][-1]):
            best = (c, (*rest, background[0]))
    return best


def _build(
    i: int, j: int, root: list[list[int]], how: dict[tuple[int, int], tuple[int, ...]]
) -> Node:
    if j - i == 1:
        return Leaf(i)
    chain = how.get((i, j))
    if chain is not None:
        return Chain(chain[:-1], chain[-1])
    k = root[i][j]
    return Split(k, _build(i, k, root, how), _build(k, j, root, how))


def depths(node: Node, n: int) -> list[int]:
    """Tests on the way to each item (for a chain's background: all of its tests)."""
    out = [0] * n

    def walk(node: Node, lo: int, hi: int, d: int) -> None:
        if isinstance(node, Leaf):
            out[node.index] = d
        elif isinstance(node, Split):
            walk(node.left, lo, node.at, d + 1)
            walk(node.right, node.at, hi, d + 1)
        else:
            for t in range(lo, hi):
                out[t] = d + len(node.tests)
            for pos, t in enumerate(node.tests):
                out[t] = d + pos + 1

    walk(node, 0, n, 0)
    return out
