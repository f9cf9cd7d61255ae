"""``diff`` of two policies along lines agrees with asking both sides every vector.

The fast path indexes each syscall's rules by the bits they test on one argument; the
reference here is the plain one: every vector ``arg_vectors`` gives, through
``Program.decide``. Policies are generated: value lists, masks, ordered comparisons and
rules on two arguments, in random order.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccompiler.arch.abi import ABIS
from seccompiler.arch.tables import table
from seccompiler.compile import load_program
from seccompiler.program import Program
from seccompiler.prove.diff import Side, _describe, diff
from seccompiler.prove.verify import arg_vectors

SYSCALLS = ["ioctl", "fcntl", "prctl"]
ACTIONS = ["allow", "errno(EPERM)", "errno(EACCES)", "log"]
COND = st.one_of(
    st.builds(lambda v: f"{{index: 1, value: {v}}}", st.integers(0, 40)),
    st.builds(lambda v: f"{{index: 1, value: {v}}}", st.lists(st.integers(0, 40), min_size=1)),
    st.builds(
        lambda m, v: f"{{index: 1, op: masked_eq, mask: {m}, value: {v & m}}}",
        st.sampled_from([0xF0, 0x0F, 0xFF, 0x30]),
        st.integers(0, 255),
    ),
    st.builds(
        lambda op, v: f"{{index: 1, op: {op}, value: {v}, width: 64}}",
        st.sampled_from(["ne", "lt", "gt"]),
        st.integers(0, 40),
    ),
)
RULE = st.builds(
    lambda action, name, cond, two: (
        f"  - action: {action}\n    syscalls: [{name}]\n    args: [{cond}"
        + (", {index: 2, value: 7}]\n" if two else "]\n")
    ),
    st.sampled_from(ACTIONS),
    st.sampled_from(SYSCALLS),
    COND,
    st.booleans(),
)
POLICY = st.builds(
    lambda rules: "seccompiler: 1\nabis: [x86_64, x86]\ndefault: allow\nrules:\n" + "".join(rules),
    st.lists(RULE, min_size=1, max_size=8),
)


def _reference(a: Program, b: Program) -> dict[tuple[str, str], tuple[str, str]]:
    out = {}
    for p in a.abis:
        q = b.abi(p.abi.name)
        assert q is not None
        for name in SYSCALLS:  # the only ones the policies decide by arguments
            nr = table(p.abi).by_name[name]
            vecs = list(dict.fromkeys([*arg_vectors(p, nr), *arg_vectors(q, nr)]))
            ra = {v: a.decide(p.abi.audit_arch, nr, v) for v in vecs}
            rb = {v: b.decide(p.abi.audit_arch, nr, v) for v in vecs}
            if ra != rb:
                out[(p.abi.name, name)] = (_describe(ra), _describe(rb))
    return out


def _side(label: str, program: Program) -> Side:
    return Side(label, tuple(p.abi for p in program.abis), program, None, program.bad_arch)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(POLICY, POLICY)
def test_diff_along_lines_matches_every_vector(tmp_path: Path, text_a: str, text_b: str) -> None:
    (tmp_path / "a.yaml").write_text(text_a)
    (tmp_path / "b.yaml").write_text(text_b)
    a, b = load_program(str(tmp_path / "a.yaml")), load_program(str(tmp_path / "b.yaml"))
    got = diff(_side("a", a), _side("b", b), [ABIS["x86_64"], ABIS["x86"]])
    found = {
        (c.abi, c.syscall): (
            c.a.removesuffix(" (differs by args)"),
            c.b.removesuffix(" (differs by args)"),
        )
        for c in got.changes
        if c.nr is not None
    }
    assert found == _reference(a, b)
