"""Predicates on the 32-bit words of ``seccomp_data``, and the solver the symbolic proof asks.

A Word holds what a path knows of one word: bounds, bits fixed by ``x & m == k``, masked
values it must differ from and excluded points. A Region is one Word (or nothing known) per
word of ``seccomp_data``; ``branch_eq`` and ``branch_ge`` split a region by a comparison and
keep only the halves some input can reach.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from seccompiler.program import U32

NR, ARCH = 0, 1  # word indices of seccomp_data.nr and .arch
WORDS = 16
SOLVER_STEPS = 20_000  # search steps one satisfiability question may take
PATH_STEPS = 500_000  # instructions all paths of one filter may take together


class Unsupported(Exception):
    """The filter does something the symbolic proof does not model (or takes too long)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class Word:
    """The values one 32-bit word may still take: a conjunction of predicates on it."""

    __slots__ = ("excluded", "fixed", "fixed_mask", "hi", "lo", "unequal")

    def __init__(
        self,
        lo: int = 0,
        hi: int = U32,
        fixed_mask: int = 0,
        fixed: int = 0,
        unequal: tuple[tuple[int, int], ...] = (),
        excluded: frozenset[int] = frozenset(),
    ) -> None:
        self.lo, self.hi = lo, hi  # lo <= x <= hi
        self.fixed_mask, self.fixed = fixed_mask, fixed  # bits known, and their values
        self.unequal = unequal  # (m, k): x & m != k, m not all ones
        self.excluded = excluded  # points x != k

    def masked_eq(self, m: int, k: int, holds: bool) -> Word | None:
        """Add ``x & m == k`` (or its negation); None when no value is left."""
        m &= U32
        if k & ~m:  # never equal
            return None if holds else self
        if not holds:
            if m == U32:
                if not self.lo <= k <= self.hi or k in self.excluded:
                    return self
                return Word(
                    self.lo, self.hi, self.fixed_mask, self.fixed, self.unequal, self.excluded | {k}
                )
            if (self.fixed ^ k) & self.fixed_mask & m:
                return self  # already unequal on a known bit
            return Word(
                self.lo,
                self.hi,
                self.fixed_mask,
                self.fixed,
                (*self.unequal, (m, k)),
                self.excluded,
            )
        if (self.fixed ^ k) & self.fixed_mask & m:
            return None
        if m == U32:
            if not self.lo <= k <= self.hi:
                return None
            return Word(k, k, self.fixed_mask, self.fixed, self.unequal, self.excluded)
        return Word(
            self.lo, self.hi, self.fixed_mask | m, self.fixed | k, self.unequal, self.excluded
        )

    def without(self, points: Sequence[int]) -> Word:
        """Add ``x != k`` for each of ``points``."""
        return Word(
            self.lo, self.hi, self.fixed_mask, self.fixed, self.unequal, self.excluded.union(points)
        )

    def at_least(self, k: int, holds: bool) -> Word | None:
        """Add ``x >= k`` (or ``x < k``)."""
        if holds:
            if k > self.hi:
                return None
            return Word(
                max(self.lo, k), self.hi, self.fixed_mask, self.fixed, self.unequal, self.excluded
            )
        if k <= self.lo:
            return None
        return Word(
            self.lo, min(self.hi, k - 1), self.fixed_mask, self.fixed, self.unequal, self.excluded
        )

    @property
    def plain(self) -> bool:
        """Only bounds and excluded points: no bit patterns."""
        return not self.fixed_mask and not self.unequal

    def witness(self) -> int | None:
        """A value meeting every predicate, or None when there is none."""
        if self.plain and not self.excluded:
            return self.lo if self.lo <= self.hi else None
        steps = [0]
        return _solve(self, self.fixed_mask, self.fixed, self.unequal, steps)


def _solve(
    w: Word, fm: int, fv: int, unequal: tuple[tuple[int, int], ...], steps: list[int]
) -> int | None:
    steps[0] += 1
    if steps[0] > SOLVER_STEPS:
        raise Unsupported("too many masked comparisons on one word to decide")
    pending = []
    for m, k in unequal:
        if (fv ^ k) & fm & m:
            continue  # a known bit already differs
        if not m & ~fm:
            return None  # every bit of the mask known, and equal
        pending.append((m, k))
    if not pending:
        return _least(w, fm, fv)
    (m, k), rest = pending[0], tuple(pending[1:])
    free = m & ~fm
    while free:
        bit = free & -free
        free ^= bit
        found = _solve(w, fm | bit, fv | (~k & bit), rest, steps)
        if found is not None:
            return found
    return None


def _next_fixed(y: int, fm: int, fv: int) -> int | None:
    """The least x >= y whose bits under ``fm`` equal ``fv``."""
    if y > U32:
        return None
    if y & fm == fv:
        return y
    for p in range(32):
        bit = 1 << p
        if y & bit or (fm & bit and not fv & bit):
            continue
        high = ~((bit << 1) - 1) & U32
        if y & high & fm == fv & high:
            return (y & high) | bit | (fv & (bit - 1))
    return None


def _least(w: Word, fm: int, fv: int) -> int | None:
    if not fm:  # bounds and points only
        y, out = w.lo, w.excluded
        while y in out:
            y += 1
        return y if y <= w.hi else None
    x = _next_fixed(w.lo, fm, fv)
    while x is not None and x <= w.hi and x in w.excluded:
        x = _next_fixed(x + 1, fm, fv)
    return x if x is not None and x <= w.hi else None


Region = tuple[Word | None, ...]  # per word; None: unconstrained


def _with(region: Region, index: int, word: Word | None) -> Region | None:
    if word is None or word.witness() is None:
        return None
    return set_word(region, index, word)


def set_word(region: Region, index: int, word: Word) -> Region:
    return (*region[:index], word, *region[index + 1 :])


def word_of(region: Region, index: int) -> Word:
    return region[index] or Word()


def branch_eq(region: Region, index: int, m: int, k: int) -> Iterator[tuple[bool, Region]]:
    """The feasible halves of ``region`` under ``word & m == k``: (holds, region)."""
    w = word_of(region, index)
    for holds in (True, False):
        r = _with(region, index, w.masked_eq(m, k, holds))
        if r is not None:
            yield holds, r


def branch_ge(region: Region, index: int, k: int) -> Iterator[tuple[bool, Region]]:
    """The feasible halves of ``region`` under ``word >= k``."""
    w = word_of(region, index)
    for holds in (True, False):
        r = _with(region, index, w.at_least(k, holds))
        if r is not None:
            yield holds, r


def witness(region: Region) -> tuple[int, ...]:
    """One concrete input (16 words) of a feasible region."""
    out = []
    for w in region:
        v = 0 if w is None else w.witness()
        assert v is not None, "a feasible region has a witness"
        out.append(v)
    return tuple(out)
