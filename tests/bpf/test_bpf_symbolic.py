"""The symbolic proof's word solver: a witness exactly when some value meets every predicate."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from seccompiler.backends.bpf import compile_family
from seccompiler.compile import load_program
from seccompiler.prove.verify import verify_bpf
from seccompiler.prove.words import Word

Pred = tuple[str, int, int, bool]  # ("eq", mask, value, holds) or ("ge", 0, bound, holds)


def _apply(w: Word | None, preds: list[Pred]) -> Word | None:
    for kind, m, k, holds in preds:
        if w is None:
            return None
        w = w.masked_eq(m, k, holds) if kind == "eq" else w.at_least(k, holds)
    return w


def _meets(x: int, preds: list[Pred]) -> bool:
    return all(((x & m) == k if kind == "eq" else x >= k) == holds for kind, m, k, holds in preds)


@pytest.mark.parametrize(
    ("preds", "feasible"),
    [
        ([("eq", 0xFFFFFFFF, 7, True)], True),
        ([("eq", 0xFFFFFFFF, 7, True), ("eq", 0xFFFFFFFF, 7, False)], False),
        ([("eq", 0xF0, 0x30, True), ("eq", 0xF0, 0x30, False)], False),
        ([("eq", 1, 0, False), ("eq", 1, 1, False)], False),  # odd and not odd
        ([("ge", 0, 5, True), ("ge", 0, 7, False), ("eq", 0xFFFFFFFF, 5, False)], True),
        (
            [
                ("ge", 0, 5, True),
                ("ge", 0, 7, False),
                ("eq", 0xFFFFFFFF, 5, False),
                ("eq", 0xFFFFFFFF, 6, False),
            ],
            False,
        ),
        ([("eq", 0x0F, 0x10, True)], False),  # the value has a bit the mask clears
        ([("eq", 0x40000000, 0, False), ("ge", 0, 0xC0000000, False)], True),
    ],
)
def test_solver_table(preds: list[Pred], feasible: bool) -> None:
    w = _apply(Word(), preds)
    x = None if w is None else w.witness()
    assert (x is not None) == feasible
    if x is not None:
        assert _meets(x, preds)


def test_solver_matches_brute_force_on_a_small_universe() -> None:
    """Random predicates on values 0..255: the solver finds a witness iff brute force does."""
    rng = random.Random(15)
    for _ in range(3000):
        preds: list[Pred] = [("ge", 0, 256, False)]  # keep to 0..255
        for _ in range(rng.randint(1, 5)):
            if rng.random() < 0.3:
                preds.append(("ge", 0, rng.randint(0, 256), rng.random() < 0.5))
            else:
                m = rng.randint(0, 255) if rng.random() < 0.8 else 0xFFFFFFFF
                k = rng.randint(0, 255) & m if rng.random() < 0.9 else rng.randint(0, 255)
                preds.append(("eq", m, k, rng.random() < 0.5))
        w = _apply(Word(), preds)
        x = None if w is None else w.witness()
        truth = any(_meets(v, preds) for v in range(256))
        assert (x is not None) == truth, preds
        if x is not None:
            assert _meets(x, preds), preds


def test_thousands_of_rules_on_one_syscall_prove_without_deep_recursion(tmp_path: Path) -> None:
    """A chain of 1,200 argument tests is followed with a stack of its own, not Python's."""
    rules = "".join(
        f"  - action: errno(EPERM)\n    syscalls: [ioctl]\n"
        f"    args: [{{index: 1, op: eq, value: {7 * i}}}]\n"
        for i in range(1200)
    )
    policy = tmp_path / "p.yaml"
    head = "seccompiler: 1\nname: deep\nabis: [x86_64]\ndefault: allow\nrules:\n"
    policy.write_text(head + rules)
    program = load_program(str(policy))
    data = compile_family(program, "x86_64")
    report = verify_bpf(program, data, "x86_64", method="symbolic")
    assert report.method == "symbolic"
    assert report.ok, report.disagreements[:3]
