"""Property: a policy recorded on a base never allows what neither the base nor the workload did.

For every syscall and argument vector, recorded ⊆ base ∪ observed, where "observed" means a
call the workload made, read at the arguments the base decides that syscall by (and at the
syscall alone where the base decides it without arguments).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccompiler.arch import abi as abimod
from seccompiler.arch import tables
from seccompiler.compile import load_program
from seccompiler.program import Program
from seccompiler.prove.verify import arg_vectors
from seccompiler.runner.notify import Seen
from seccompiler.runner.recorder import (
    ALLOWING,
    aggregate,
    aggregate_counts,
    base_widths,
    keep_list,
)
from seccompiler.runner.recpolicy import render_policy

ABIS = ("x86_64", "x86")
NAMES = ("socket", "socketcall", "personality", "clone", "ioctl", "mount", "read", "getpid")
POOL = (0, 1, 2, 3, 8, 38, 40, 0x5412, 0x20000, 0x10000000, 0xFFFFFFFF, (1 << 32) | 38)

# A base that refuses by arguments, the way the bundled profile used to (socketcall's socket
# creation refused), and one that allows by arguments on a refusing default.
BASES = {
    "refuse-by-args": """\
seccompiler: 1
name: base
abis: [x86_64, x86]
default: allow
unknown: errno(ENOSYS)
rules:
  - {action: errno(EPERM), syscalls: [mount]}
  - action: errno(EPERM)
    syscalls: [socket]
    args: [{index: 0, op: eq, value: [AF_ALG, AF_VSOCK]}]
  - action: errno(EPERM)
    syscalls: [socketcall]
    args: [{index: 0, op: eq, value: [SYS_SOCKET, SYS_SOCKETPAIR]}]
  - {action: errno(EPERM), syscalls: [personality]}
  - action: allow
    syscalls: [personality]
    args: [{index: 0, op: masked_eq, mask: 0xfff9fff7, value: 0}]
  - action: errno(EPERM)
    syscalls: [clone]
    args: [{index: 0, op: masked_eq, mask: CLONE_NEWUSER, value: CLONE_NEWUSER}]
  - action: errno(EPERM)
    syscalls: [ioctl]
    args: [{index: 1, op: eq, value: 0x5412}]
""",
    "allow-by-args": """\
seccompiler: 1
name: base
abis: [x86_64, x86]
default: errno(EPERM)
unknown: errno(ENOSYS)
rules:
  - {action: allow, syscalls: [read, execve, exit_group]}
  - action: allow
    syscalls: [socket]
    args: [{index: 0, op: eq, value: [AF_UNIX, AF_INET]}]
  - action: allow
    syscalls: [socketcall]
    args: [{index: 0, op: eq, value: SYS_CONNECT}]
  - action: allow
    syscalls: [ioctl]
    args: [{index: 1, op: eq, value: 0x5401, width: 64}]
""",
}


@dataclass(frozen=True)
class Ev:
    pid: int
    abi: str
    nr: int
    name: str
    args: tuple[int, ...]


@st.composite
def events(draw: st.DrawFn) -> Ev:
    abi = draw(st.sampled_from(ABIS))
    table = tables.table(abimod.ABIS[abi])
    name = draw(st.sampled_from([n for n in NAMES if n in table.by_name]))
    value = st.one_of(st.sampled_from(POOL), st.integers(0, (1 << 64) - 1))
    args = tuple(draw(value) for _ in range(6))
    return Ev(1, abi, table.by_name[name], name, args)


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Program]]:
    d = tmp_path_factory.mktemp("bases")
    out = {}
    for key, text in BASES.items():
        path = d / f"{key}.yaml"
        path.write_text(text)
        out[key] = (path, load_program(str(path)))
    return out


def _vectors(
    base: Program, rec: Program, abi: str, nr: int, seen: list[Ev]
) -> Iterator[tuple[int, ...]]:
    for prog in (base, rec):
        p = prog.abi(abi)
        if p is not None:
            yield from arg_vectors(p, nr)
    for e in seen:
        yield e.args
        for i in range(6):
            for v in POOL:
                yield (*e.args[:i], v, *e.args[i + 1 :])


def _allows(prog: Program, abi: str, nr: int, args: tuple[int, ...]) -> bool:
    return prog.decide(abimod.ABIS[abi].audit_arch, nr, args).kind in ALLOWING


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(workload=st.lists(events(), min_size=1, max_size=8), which=st.sampled_from(sorted(BASES)))
def test_recorded_is_within_base_and_observed(
    tmp_path: Path, bases: dict[str, tuple[Path, Program]], workload: list[Ev], which: str
) -> None:
    base_path, base = bases[which]
    rec = aggregate(workload, base=base)
    text = render_policy(rec, name="rec", base_ref=str(base_path), base=base)
    out = tmp_path / "rec.yaml"
    out.write_text(text)
    recorded = load_program(str(out))
    for e in workload:  # everything the workload did runs under the recorded policy
        assert _allows(recorded, e.abi, e.nr, e.args), (e, text)
    for abi in ABIS:
        table = tables.table(abimod.ABIS[abi])
        for name in NAMES:
            nr = table.by_name.get(name)
            if nr is None:
                continue
            seen = [e for e in workload if e.abi == abi and e.nr == nr]
            widths = base_widths(base, abi, nr)
            for v in _vectors(base, recorded, abi, nr, seen):
                if not _allows(recorded, abi, nr, v) or _allows(base, abi, nr, v):
                    continue
                # allowed only by the recording: it must be a call the workload made, as the
                # base reads it
                assert any(
                    all((o.args[i] ^ v[i]) & ((1 << w) - 1) == 0 for i, w in widths.items())
                    for o in seen
                ), (abi, name, [hex(a) for a in v], text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    workload=st.lists(events(), min_size=1, max_size=12),
    which=st.sampled_from([None, *sorted(BASES)]),
)
def test_counting_by_the_kept_arguments_loses_nothing(
    bases: dict[str, tuple[Path, Program]], workload: list[Ev], which: str | None
) -> None:
    """The launcher counts calls with every argument ``keep_list`` does not name set to zero:
    the recording made of those counts is the recording made of the calls one by one."""
    base = bases[which][1] if which is not None else None
    entries = keep_list(base, ABIS).split(",")
    masks = {(int(a), int(n)): int(m) for a, n, m in (e.split(":") for e in entries if e)}
    counts: Counter[tuple[str, int, str, tuple[int, ...]]] = Counter()
    for e in workload:
        mask = masks.get((abimod.ABIS[e.abi].audit_arch, e.nr), 0)
        kept = tuple(v if mask >> i & 1 else 0 for i, v in enumerate(e.args))
        counts[(e.abi, e.nr, e.name, kept)] += 1
    seen = [Seen(abi, nr, name, args, n) for (abi, nr, name, args), n in counts.items()]
    one_by_one = aggregate(workload, base=base)
    counted = aggregate_counts(seen, base=base, tasks=one_by_one.tasks)
    assert counted == one_by_one
