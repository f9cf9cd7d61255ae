"""Conditions as libseccomp can say them: disjunctions of terms of plain comparisons.

libseccomp has one comparison per argument per rule and no negation, so a condition and its
negation are written out as sums of such terms (``x != v`` is one term; ``(x & m) != v`` is
one term per mask bit), and a syscall's decision list becomes disjoint regions per action.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter

from seccompiler.base.errors import InputError
from seccompiler.program import U32, Action, ArgCond, Op

MAX_TERMS = 256


class NotExpressible(InputError):
    """The program says something flat OCI JSON (libseccomp rules) cannot say exactly."""


class TooMuchWork(NotExpressible):
    """Writing the conditions out as libseccomp rules would take more work than allowed."""


# Term comparisons (products and absorption checks) one rendering may spend. A list of 4,000
# values on one 32-bit argument, about the most a filter can hold, spends about 11 million.
MAX_WORK = 16_000_000


class Work:
    """What one rendering has spent, and on which syscall it is spending now."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = MAX_WORK if limit is None else limit
        self.left = self.limit
        self.syscall = ""

    def spend(self, amount: int) -> None:
        self.left -= amount
        if self.left < 0:
            raise TooMuchWork(
                f"writing the conditions on '{self.syscall}' as libseccomp rules takes more "
                f"than {self.limit} term comparisons, the limit on this work",
                hint="simplify the argument conditions (fewer masks), or load the BPF output "
                "directly",
            )


@dataclass(frozen=True, order=True)
class Lit:
    """One libseccomp comparison: ``(arg & mask) == value`` for masked_eq, else ``arg op value``."""

    index: int
    op: str
    value: int
    mask: int = 0

    def holds(self, x: int) -> bool:
        if self.op == "masked_eq":
            return (x & self.mask) == self.value
        return {
            "eq": x == self.value,
            "ne": x != self.value,
            "lt": x < self.value,
            "le": x <= self.value,
            "gt": x > self.value,
            "ge": x >= self.value,
        }[self.op]


Term = frozenset[Lit]
# ``Lit``'s own order (its fields in turn) as a key sorting compares without Python calls
_LIT_ORDER = attrgetter("index", "op", "value", "mask")


def lits_in_order(term: Term) -> list[Lit]:
    """The term's literals in ``Lit`` order."""
    return sorted(term, key=_LIT_ORDER)


def term_order(term: Term) -> list[tuple[int, str, int, int]]:
    """A key that orders terms as lists of their sorted literals compare."""
    return sorted(map(_LIT_ORDER, term))


Dnf = list[Term]  # [] is false; [frozenset()] is true
TRUE: Dnf = [frozenset()]
_NEG = {"eq": "ne", "ne": "eq", "lt": "ge", "ge": "lt", "le": "gt", "gt": "le"}


def _bits(mask: int) -> list[int]:
    return [1 << i for i in range(64) if mask >> i & 1]


def _neg_lit(lit: Lit) -> Dnf:
    if lit.op != "masked_eq":
        return [frozenset({Lit(lit.index, _NEG[lit.op], lit.value)})]
    if lit.value & ~lit.mask:
        return TRUE  # the literal can never hold
    return [
        frozenset({Lit(lit.index, "masked_eq", bit & ~lit.value, bit)}) for bit in _bits(lit.mask)
    ]


def _cond_dnf(c: ArgCond, negate: bool) -> Dnf:
    if c.width == 32 and c.op in (Op.LT, Op.LE, Op.GT, Op.GE):
        raise NotExpressible(
            f"a 32-bit ordered comparison ({c}) has no libseccomp form",
            hint="emit only BPF and PFC (--format bpf,pfc), or spell the values out with op: eq",
        )
    if c.width == 32 and c.op in (Op.EQ, Op.NE):
        lit = Lit(c.index, "masked_eq", c.value, U32)
        positive = c.op is Op.EQ
    elif c.op is Op.MASKED_EQ:
        lit, positive = Lit(c.index, "masked_eq", c.value, c.mask), True
    else:
        lit, positive = Lit(c.index, c.op.value, c.value), True
    if positive != negate:
        return [frozenset({lit})]
    return _neg_lit(lit)


def _interval(lit: Lit) -> tuple[int, int] | None:
    """The values an ordered comparison admits, as [low, high]; None for other ops."""
    top = (1 << 64) - 1
    return {
        "gt": (lit.value + 1, top),
        "ge": (lit.value, top),
        "lt": (0, lit.value - 1),
        "le": (0, lit.value),
    }.get(lit.op)


def _merge_same_arg(a: Lit, b: Lit) -> Lit | bool | None:
    """Conjunction of two literals on one argument: a literal, False (never), or None."""
    if a == b:
        return a
    if a.op == "masked_eq" and b.op == "masked_eq":
        if (a.value ^ b.value) & a.mask & b.mask:
            return False
        return Lit(a.index, "masked_eq", a.value | b.value, a.mask | b.mask)
    for x, y in ((a, b), (b, a)):
        if x.op == "eq":
            return x if y.holds(x.value) else False
    ia, ib = _interval(a), _interval(b)
    if ia is not None and ib is not None:
        low, high = max(ia[0], ib[0]), min(ia[1], ib[1])
        if low > high:
            return False
        for x, ix in ((a, ia), (b, ib)):
            if (low, high) == ix:
                return x  # one bound implies the other
        return None  # a range needs two comparisons on one argument
    for x, y, iy in ((a, b, ib), (b, a, ia)):
        if x.op == "ne" and iy is not None and not iy[0] <= x.value <= iy[1]:
            return y  # the excluded value lies outside the range anyway
    return None


def _simplify(term: Term) -> Term | None:
    by_arg: dict[int, Lit] = {}
    for lit in lits_in_order(term):
        prev = by_arg.get(lit.index)
        if prev is None:
            by_arg[lit.index] = lit
            continue
        merged = _merge_same_arg(prev, lit)
        if merged is False:
            return None
        if merged is None or merged is True:
            raise NotExpressible(
                f"conditions {prev} and {lit} on one argument cannot share a libseccomp rule",
                hint="rewrite the rules, or load the BPF output directly",
            )
        assert isinstance(merged, Lit)
        by_arg[lit.index] = merged
    return frozenset(by_arg.values())


def _lit_implies(b: Lit, a: Lit) -> bool:
    """Whether ``b`` holding forces ``a`` to hold (both on one argument)."""
    if a.op == "masked_eq" and b.op == "masked_eq":  # the common case, tested first
        return (a.mask & ~b.mask) == 0 and (b.value & a.mask) == a.value
    if b.op == "eq":
        return a.holds(b.value)
    return a.op == b.op and a.value == b.value and a.mask == b.mask


def _term_implies(t: Term, k: Term) -> bool:
    if len(k) > len(t):
        return False  # a simplified term has one literal per argument
    if len(t) == 1 and len(k) == 1:
        (x,) = t
        (y,) = k
        return x.index == y.index and _lit_implies(x, y)
    return all(any(x.index == y.index and _lit_implies(x, y) for x in t) for y in k)


def _absorb(terms: list[Term], most: int | None = None) -> list[Term]:
    """Drop each term that implies an earlier kept one: it adds nothing to the union.

    With ``most``, stop once more than ``most`` are kept: the caller refuses that many anyway.

    A one-literal masked_eq term ``x & m == v`` implies a kept ``x & m2 == v2`` on the same
    argument exactly when ``m2`` is within ``m`` and ``v & m2 == v2``; those kept terms are
    indexed by (argument, mask) so each check costs one look-up per distinct mask instead of
    one comparison per kept term. Every other term is compared with every kept one.
    """
    kept: list[Term] = []
    masked: dict[int, dict[int, set[int]]] = {}  # arg index → mask → values of kept terms
    others: list[Term] = []  # kept terms that are not one masked_eq literal
    for t in terms:
        lit = next(iter(t)) if len(t) == 1 else None
        if lit is not None and lit.op == "masked_eq":
            by_mask = masked.get(lit.index, {})
            if any(
                m & ~lit.mask == 0 and lit.value & m in values for m, values in by_mask.items()
            ) or any(_term_implies(t, k) for k in others):
                continue
            masked.setdefault(lit.index, {}).setdefault(lit.mask, set()).add(lit.value)
        elif any(_term_implies(t, k) for k in kept):
            continue
        else:
            others.append(t)
        kept.append(t)
        if most is not None and len(kept) > most:
            break
    return kept


def _and(a: Dnf, b: Dnf, outside: Pins | None = None, work: Work | None = None) -> Dnf:
    """Conjunction; ``b`` may be the negation of a rule whose fixed bits are ``outside``."""
    out: set[Term] = set()
    for x in a:
        if (outside and _clash(_pins(x), outside)) or any(_term_implies(x, y) for y in b):
            out.add(x)  # x lies inside b: x & b is x, and every x & y implies it
            continue
        for y in b:
            t = _simplify(x | y)
            if t is not None:
                out.add(t)
    terms = sorted(out, key=lambda t: (len(t), sum(x.mask.bit_count() for x in t), term_order(t)))
    kept = _absorb(terms, MAX_TERMS)
    if work is not None:
        work.spend(len(a) * len(b) + len(terms) * len(kept))
    if len(kept) > MAX_TERMS:
        raise NotExpressible(
            f"the conditions need more than {MAX_TERMS} libseccomp rules for one syscall",
            hint="simplify the argument conditions, or load the BPF output directly",
        )
    return kept


_ALL_BITS = (1 << 64) - 1
Pins = dict[int, tuple[int, int]]  # arg index → (mask, value): bits a term or rule requires


def _pins(lits: Iterable[Lit]) -> Pins:
    """The bits the literals fix, per argument: ``eq`` fixes all 64."""
    out: Pins = {}
    for lit in lits:
        if lit.op == "eq":
            out[lit.index] = (_ALL_BITS, lit.value)
        elif lit.op == "masked_eq" and lit.index not in out:
            out[lit.index] = (lit.mask, lit.value)
    return out


def _clash(a: Pins, b: Pins) -> bool:
    """Whether two sets of pins can never hold together (a bit fixed both ways)."""
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    for index, (mask, value) in small.items():
        other = large.get(index)
        if other is not None and (value ^ other[1]) & mask & other[0]:
            return True
    return False


class _Earlier:
    """The rules seen so far, indexed by their pins, to find those a region may overlap.

    A rule that pins a value a region's term pins differently cannot match inside that term;
    the term already implies "this rule did not match", so its negation need not be
    multiplied in (exactly so, not approximately). Without this index a list of n values
    costs n² conjunctions.
    """

    def __init__(self) -> None:
        self.pins: list[Pins] = []
        # (arg index, mask) → value → rules; and → the rules that fix no such bits
        self.having: dict[tuple[int, int], dict[int, list[int]]] = {}
        self.lacking: dict[tuple[int, int], list[int]] = {}

    def add(self, pins: Pins) -> None:
        j = len(self.pins)
        for key, rules in self.lacking.items():
            if pins.get(key[0], (None,))[0] != key[1]:
                rules.append(j)
        for index, (mask, value) in pins.items():
            key = (index, mask)
            if key not in self.having:
                self.having[key] = {}
                self.lacking[key] = list(range(j))
            self.having[key].setdefault(value, []).append(j)
        self.pins.append(pins)

    def overlapping(self, region: Dnf) -> list[int]:
        """Indexes of the earlier rules that may match somewhere in ``region``, in order."""
        found: set[int] = set()
        for term in region:
            pins = _pins(term)
            known = {(i, m): v for i, (m, v) in pins.items() if (i, m) in self.having}
            if not known:
                return list(range(len(self.pins)))
            key = min(
                known,
                key=lambda k: len(self.lacking[k]) + len(self.having[k].get(known[k], ())),
            )
            for j in (*self.lacking[key], *self.having[key].get(known[key], ())):
                if j not in found and not _clash(pins, self.pins[j]):
                    found.add(j)
        return sorted(found)


def regions(
    rules: Iterable[tuple[tuple[ArgCond, ...], Action]],
    fallback: Action,
    default: Action,
    work: Work | None = None,
) -> dict[Action, Dnf]:
    """Disjoint regions of the decision list, per action; ``default``'s is not computed.

    A rule's region is its conditions and the negation of every earlier rule that can match
    there; the positive conditions go first so that e.g. ``x == 0`` absorbs ``x != 8`` before
    anything multiplies.
    """
    out: dict[Action, Dnf] = {}
    misses: list[Dnf] = []  # one "this earlier rule did not match" per earlier rule
    earlier = _Earlier()
    for conds, action in rules:
        positive = [_cond_dnf(c, negate=False) for c in conds]
        if action != default:
            here: Dnf = TRUE
            for dnf in positive:
                here = _and(here, dnf)
            for j in earlier.overlapping(here) if here else ():
                here = _and(here, misses[j], earlier.pins[j], work)
            out.setdefault(action, []).extend(here)
        negated: Dnf = []
        for c in conds:
            negated.extend(_cond_dnf(c, negate=True))
        misses.append(negated)
        single = [dnf[0] for dnf in positive if len(dnf) == 1]
        earlier.add(_pins(lit for term in single for lit in term))
    if fallback != default:
        here = TRUE
        for miss, pins in zip(misses, earlier.pins, strict=True):
            here = _and(here, miss, pins, work)
        out.setdefault(fallback, []).extend(here)
    return out
