"""``seccompiler test`` on this machine: the whole matrix, a wrong filter, the command."""

from __future__ import annotations

import json
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit import DEFAULT

from seccompiler.arch import tables
from seccompiler.commands import cli
from seccompiler.program import ActionKind, Program
from seccompiler.runner import livetest

pytestmark = pytest.mark.live


def _machine_state(cwd: Path) -> dict[str, object]:
    """What a probe that escaped its sandbox could most easily change."""
    # Other tests running beside this one (pytest-xdist) mount under the temporary folder;
    # a probe that escaped would change the machine's own mounts.
    scratch = os.path.realpath(tempfile.gettempdir()) + "/"
    with open("/proc/self/mountinfo") as fh:
        mounts = sorted(p for p in (line.split()[4] for line in fh) if not p.startswith(scratch))
    return {
        "hostname": socket.gethostname(),
        "domainname": Path("/proc/sys/kernel/domainname").read_text(),
        "links": sorted(os.listdir("/sys/class/net")),
        "mounts": mounts,
        "cwd": sorted(os.listdir(cwd)),
        "umask": os.umask(0o022),
        "ids": (os.getuid(), os.getgid(), os.getgroups()),
        "nice": os.nice(0),
    }


@pytest.fixture(scope="module")
def default_report(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[livetest.Report, dict[str, object], dict[str, object]]:
    from seccompiler.compile import load_program

    # the matrix runs from a folder of its own, which nothing else beside it writes to
    cwd = tmp_path_factory.mktemp("matrix-cwd")
    (cwd / "untouched").write_text("x")
    old = os.getcwd()
    os.chdir(cwd)
    try:
        before = _machine_state(cwd)
        report = livetest.run_matrix(load_program(str(DEFAULT)))
        return report, before, _machine_state(cwd)
    finally:
        os.chdir(old)


def test_default_profile_has_no_mismatch(default_report: tuple[livetest.Report, ...]) -> None:
    report = default_report[0]
    assert isinstance(report, livetest.Report)
    assert [r.to_json() for r in report.mismatches] == []
    assert report.proof == "structural"
    assert report.unprobed == []


@pytest.mark.parametrize("abi", ["x86_64", "x86", "x32"])
def test_every_syscall_of_every_abi_is_probed(
    default_report: tuple[livetest.Report, ...], abi: str
) -> None:
    report = default_report[0]
    assert isinstance(report, livetest.Report)
    probed = {r.point.name for r in report.rows if r.point.call.abi == abi}
    assert set(tables.table(abi).by_name) <= probed


def test_x32_numbers_are_refused_by_the_kernel(default_report: tuple[livetest.Report, ...]) -> None:
    report = default_report[0]
    assert isinstance(report, livetest.Report)
    x32 = [r for r in report.rows if r.point.call.abi == "x32"]
    assert len(x32) > 300
    assert all(r.seen is not None and r.seen.kind is ActionKind.KILL_PROCESS for r in x32)
    assert all(r.real.outcome == "signaled" and r.real.signal == 31 for r in x32)


def test_refusals_are_seen_as_refusals(default_report: tuple[livetest.Report, ...]) -> None:
    """Guards against a vacuous pass: the twin run did decode refusals."""
    report = default_report[0]
    assert isinstance(report, livetest.Report)
    refused = [r for r in report.rows if r.point.call.abi == "x86_64" and r.seen is not None]
    names = {r.point.name for r in refused}
    assert {"uselib", "kexec_load", "mount"} <= names
    assert len(refused) > 50


def test_the_machine_comes_out_unchanged(default_report: tuple[object, ...]) -> None:
    _, before, after = default_report
    assert before == after


@pytest.mark.parametrize(
    ("abi", "name"),
    [("x86_64", "getpid"), ("x86_64", "uselib"), ("x86", "mount"), ("x86", "getppid")],
)
def test_a_filter_with_one_syscall_flipped_is_caught(
    default_program: Program, abi: str, name: str
) -> None:
    wrong = livetest.flip(default_program, abi, name)
    report = livetest.run_matrix(
        default_program, abis=[abi], names=[name, "getuid"], filter_program=wrong
    )
    bad = [(r.point.call.abi, r.point.name) for r in report.mismatches]
    assert bad == [(abi, name)]


def test_command_json_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(
        ["test", str(DEFAULT), "--syscalls", "getpid,uselib,personality", "--format", "json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["mismatches"] == 0
    rows = {(r["abi"], r["name"], tuple(r["args"])): r for r in out["rows"]}
    assert rows[("x86_64", "uselib", (0,) * 6)]["seen"] == "errno(EPERM)"
    assert rows[("x86_64", "getpid", (0,) * 6)]["seen"] == "allow"
    assert len([k for k in rows if k[:2] == ("x86_64", "personality")]) == 2


def test_command_text_and_bad_abi(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["test", str(DEFAULT), "--abi", "x86", "--syscalls", "getpid"]) == 0
    assert "x86 " in capsys.readouterr().out
    assert cli.main(["test", str(DEFAULT), "--abi", "arm"]) == 2


KINDS = """\
- {action: log, syscalls: [getppid], reason: t}
- {action: trace(3), syscalls: [getuid], reason: t}
- {action: trap(4), syscalls: [getgid], reason: t}
- {action: kill-thread, syscalls: [geteuid], reason: t}
- {action: kill-process, syscalls: [getegid], reason: t}
- {action: errno(EACCES), syscalls: [getpgrp], reason: t}
- action: errno(EPERM)
  syscalls: [socket]
  args: [{index: 0, op: eq, value: 38}]
  reason: t
"""

# syscall → (what the twin run decodes on x86_64, outcome of the real run)
KIND_ROWS = {
    "getppid": ("log", "returned"),
    "getuid": ("trace(3)", "returned"),
    "getgid": ("trap(4)", "trapped"),
    "geteuid": ("kill-thread", "signaled"),
    "getegid": ("kill-process", "signaled"),
    "getpgrp": ("errno(EACCES)", "returned"),
    "getpid": ("allow", "returned"),
}


def test_every_action_kind_is_enforced_and_told_apart(
    make_program: Callable[[str], Program],
) -> None:
    program = make_program(KINDS)
    report = livetest.run_matrix(program, names=[*KIND_ROWS, "socket"])
    assert report.mismatches == []
    seen = {
        r.point.name: ("allow" if r.seen is None else str(r.seen), r.real.outcome)
        for r in report.rows
        if r.point.call.abi == "x86_64" and r.point.name in KIND_ROWS
    }
    assert seen == KIND_ROWS
    socket_rows = {
        r.point.call.args[0]: str(r.seen or "allow")
        for r in report.rows
        if r.point.call.abi == "x86" and r.point.name == "socket"
    }
    assert socket_rows == {0: "allow", 38: "errno(EPERM)"}
