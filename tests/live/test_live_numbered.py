"""A rule by syscall number (``nr:``) in the kernel: the filter's answer, not the kernel's.

The numbers are beyond the syscall table (Linux 7.1), so this kernel has no such syscall and
would answer ENOSYS itself; the policy answers EACCES, and that is what comes back.
"""

from __future__ import annotations

import errno
import json
import textwrap
from pathlib import Path

import pytest

from seccompiler.arch import tables
from seccompiler.backends.bpf import compile_family
from seccompiler.compile import load_program
from seccompiler.runner import livetest, probe

pytestmark = pytest.mark.live

BEYOND = 32  # past the table's highest number: no kernel of the table's age has it
NUMBERS = {abi: tables.table(abi).max_nr + BEYOND for abi in ("x86_64", "x86")}


def _policy(tmp_path: Path, rules: str) -> Path:
    path = tmp_path / "numbered.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            seccompiler: 1
            name: live-numbered
            abis: [x86_64, x86]
            default: allow
            unknown: allow
            rules:
            """
        )
        + textwrap.indent(textwrap.dedent(rules), "  ")
    )
    return path


@pytest.mark.parametrize("abi", sorted(NUMBERS))
@pytest.mark.parametrize(
    ("rules", "ret"),
    [
        ("- {action: errno(EPERM), syscalls: [getpid]}\n", -errno.ENOSYS),  # the kernel's
        (
            f"- action: errno(EACCES)\n  nr: {{x86_64: {NUMBERS['x86_64']}, "
            f"x86: {NUMBERS['x86']}}}\n",
            -errno.EACCES,  # the filter's
        ),
    ],
    ids=["kernel-answers", "filter-answers"],
)
def test_the_number_gets_the_policy_answer(tmp_path: Path, abi: str, rules: str, ret: int) -> None:
    program = load_program(str(_policy(tmp_path, rules)))
    [obs] = probe.run([probe.Call(abi, NUMBERS[abi])], compile_family(program, "x86_64"))
    assert (obs.outcome, obs.ret) == ("returned", ret)


def test_seccompiler_test_probes_numbered_rules(tmp_path: Path) -> None:
    rules = (
        f"- action: errno(EACCES)\n  nr: {{x86_64: {NUMBERS['x86_64']}, x86: {NUMBERS['x86']}}}\n"
    )
    program = load_program(str(_policy(tmp_path, rules)))
    names = [f"#{NUMBERS['x86_64']}", f"#{NUMBERS['x86']}"]
    report = livetest.run_matrix(program, abis=["x86_64", "x86"], names=sorted(set(names)))
    rows = [(r.point.call.abi, r.point.name, r.real.ret) for r in report.rows]
    assert sorted(rows) == sorted((abi, f"#{nr}", -errno.EACCES) for abi, nr in NUMBERS.items())
    assert report.mismatches == []


@pytest.mark.parametrize("abi", sorted(NUMBERS))
def test_run_audit_names_a_refused_number_as_the_policy_writes_it(tmp_path: Path, abi: str) -> None:
    from seccompiler.commands import cli
    from seccompiler.runner import native

    nr = NUMBERS[abi]
    policy = _policy(tmp_path, f"- action: errno(EACCES)\n  nr: {{{abi}: {nr}}}\n")
    report = tmp_path / "report.json"
    workload = [str(native.executable(native.PROBE)), "--no-sandbox", f"{abi} {nr}"]
    argv = ["run", "--audit", "--profile", str(policy), "--report", str(report), "--"]
    assert cli.main([*argv, *workload]) == 0
    rows = json.loads(report.read_text())["refused"]
    assert [(r["abi"], r["syscall"], r["action"]) for r in rows] == [
        (abi, f"#{nr}", "errno(EACCES)")
    ]
