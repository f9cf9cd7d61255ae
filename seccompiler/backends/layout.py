"""Lay out BPF with symbolic labels: resolve jumps, widening far ones through ``ja``.

Conditional jumps reach at most 255 instructions ahead (8-bit jt/jf); ``ja`` reaches 2^32.
A conditional jump whose target is too far becomes the conditional jump to a nearby ``ja``.
"""

from __future__ import annotations

from dataclasses import dataclass

from seccompiler.bpf import insn as b


@dataclass(frozen=True)
class Label:
    name: int


@dataclass(frozen=True)
class Jump:
    """``op`` (JEQ/JGT/JGE/JSET with K) to ``true`` or ``false``; None means the next insn."""

    op: int
    k: int
    true: Label | None
    false: Label | None


@dataclass(frozen=True)
class Goto:
    target: Label


Item = b.Insn | Label | Jump | Goto


class Builder:
    """Collects items; ``label()`` makes fresh labels.

    It follows what the accumulator holds (which ``seccomp_data`` word, unchanged) along every
    edge, so ``load`` leaves out a load of the word A already holds on every way in.
    """

    def __init__(self) -> None:
        self.items: list[Item] = []
        self._next = 0
        self._a: int | None = None  # offset of the word in A, None when unknown
        self._live = True  # the next item can be reached by falling through
        self._into: dict[Label, list[int | None]] = {}

    def label(self) -> Label:
        self._next += 1
        return Label(self._next)

    def emit(self, item: Item) -> None:
        self.items.append(item)
        if isinstance(item, Jump):
            for target in (item.true, item.false):
                if target is not None:
                    self._into.setdefault(target, []).append(self._a)
        elif isinstance(item, Goto):
            self._into.setdefault(item.target, []).append(self._a)
            self._live = False
        elif isinstance(item, b.Insn):
            if item.cls == b.RET:
                self._live = False
            elif item.code == b.LD | b.W | b.ABS:
                self._a = item.k
            elif item.cls in (b.LD, b.ALU, b.MISC):
                self._a = None

    def load(self, off: int) -> None:
        """``ld [off]``, unless A holds that word already."""
        if not (self._live and self._a == off):
            self.emit(b.stmt(b.LD | b.W | b.ABS, off))

    def place(self, label: Label) -> None:
        self.items.append(label)
        ways = self._into.pop(label, []) + ([self._a] if self._live else [])
        self._a = ways[0] if ways and all(w == ways[0] for w in ways) else None
        self._live = True


def _size(item: Item, far: set[int]) -> int:
    if isinstance(item, Label):
        return 0
    if isinstance(item, Jump) and id(item) in far:
        return 1 + (item.true is not None) + (item.false is not None)
    return 1


def assemble(items: list[Item]) -> list[b.Insn]:
    """Resolve labels; every jump must point forward (BPF cannot jump back)."""
    far: set[int] = set()
    while True:
        pos: dict[Label, int] = {}
        at: list[int] = []
        n = 0
        for it in items:
            at.append(n)
            if isinstance(it, Label):
                pos[it] = n
            n += _size(it, far)
        grew = False
        for it, p in zip(items, at, strict=True):
            if isinstance(it, Jump) and id(it) not in far:
                for target in (it.true, it.false):
                    if target is not None and pos[target] - (p + 1) > 255:
                        far.add(id(it))
                        grew = True
                        break
        if not grew:
            break
    out: list[b.Insn] = []
    for it, p in zip(items, at, strict=True):
        if isinstance(it, Label):
            continue
        if isinstance(it, b.Insn):
            out.append(it)
        elif isinstance(it, Goto):
            off = pos[it.target] - (p + 1)
            if off < 0:
                raise ValueError("backward jump")
            out.append(b.Insn(b.JMP | b.JA, 0, 0, off))
        elif id(it) not in far:
            jt = 0 if it.true is None else pos[it.true] - (p + 1)
            jf = 0 if it.false is None else pos[it.false] - (p + 1)
            if jt < 0 or jf < 0:
                raise ValueError("backward jump")
            out.append(b.Insn(b.JMP | it.op | b.K, jt, jf, it.k))
        else:
            # jcond jt→[ja true] jf→[ja false] (a None side falls through past the ja's)
            n_ja = (it.true is not None) + (it.false is not None)
            jt = 0 if it.true is not None else n_ja
            jf = (1 if it.true is not None else 0) if it.false is not None else n_ja
            out.append(b.Insn(b.JMP | it.op | b.K, jt, jf, it.k))
            q = p + 1
            for target in (it.true, it.false):
                if target is not None:
                    out.append(b.Insn(b.JMP | b.JA, 0, 0, pos[target] - (q + 1)))
                    q += 1
    return out
