"""``run --audit`` answers refusals in the launcher (native/answer.h), by the policy's real
filter: the workload sees exactly what the program (``Program.decide``) says, and the report
names exactly the calls the program refuses, for every action, on every ABI the probe can
enter, with argument conditions on both halves of a 64-bit word; a cached ``run`` and
``run_supervised`` (compiling afresh) agree call by call.

And ``run`` on a cached filter loads nothing but its own few modules: no compiler, YAML,
JSON, click or cffi.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from livekit import DEFAULT, policy_text

from seccompiler.arch import abi as abimod
from seccompiler.arch import tables
from seccompiler.commands import cli
from seccompiler.compile import load_program
from seccompiler.program import Action, ActionKind, Program
from seccompiler.runner import native
from seccompiler.runner.supervise import run_supervised

pytestmark = pytest.mark.live

RULES = """\
- action: errno(EPERM)
  syscalls: [mkdir]
  reason: test
- action: errno(0)
  syscalls: [rmdir]
  reason: test
- action: trap(7)
  syscalls: [getppid]
  reason: test
- action: kill-thread
  syscalls: [getpid]
  reason: test
- action: kill-process
  syscalls: [getuid]
  reason: test
- action: log
  syscalls: [getgid]
  reason: test
- action: errno(EACCES)
  syscalls: [personality]
  args: [{index: 0, op: eq, value: 8}]
  reason: test
- action: errno(E2BIG)
  syscalls: [prctl]
  args: [{index: 1, op: masked_eq, mask: 0xff00000000, value: 0x100000000}]
  reason: test
- action: errno(EDOM)
  syscalls: [getpriority]
  args: [{index: 0, op: masked_eq, mask: 4, value: 4}]
  reason: test
"""


def _calls() -> list[str]:
    def nr(abi: str, name: str) -> int:
        return tables.table(abi).by_name[name]

    calls = []
    for abi in ("x86_64", "x86"):
        calls += [f"{abi} {nr(abi, n)} plain Z" for n in ("mkdir", "rmdir")]
        calls += [f"{abi} {nr(abi, n)}" for n in ("getppid", "getpid", "getuid", "getgid")]
        calls += [f"{abi} {nr(abi, 'personality')} plain {v}" for v in (8, 0xFFFFFFFF)]
    prctl = nr("x86_64", "prctl")
    calls += [f"x86_64 {prctl} plain 3 {v}" for v in (0x100000000, 0x1, 0x200000000)]
    getpriority = nr("x86_64", "getpriority")
    calls += [f"x86_64 {getpriority} plain {which} 0" for which in (4, 0, 5, 1)]
    calls.append(f"x32 {nr('x32', 'getpid')}")
    return calls


def _expected(program: Program, outcome: dict[str, Any]) -> Action:
    a = abimod.ABIS[outcome["abi"]]
    nr = outcome["nr"] | (abimod.X32_SYSCALL_BIT if a.is_x32 else 0)
    return program.decide(a.audit_arch, nr, outcome["args"])


def _as_program_says(outcome: dict[str, Any], action: Action) -> bool:
    kind = action.kind
    if kind is ActionKind.ERRNO:
        return (outcome["outcome"], outcome["errno"]) == ("returned", action.data)
    if kind is ActionKind.TRAP:
        return bool(outcome["outcome"] == "trapped")
    if kind in (ActionKind.KILL_PROCESS, ActionKind.KILL_THREAD):
        return (outcome["outcome"], outcome["signal"]) == ("signaled", 9)
    return bool(outcome["outcome"] == "returned") and not action.blocks


def test_the_launcher_answers_as_the_program_decides(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(policy_text(RULES))
    program = load_program(str(policy))
    argv = [str(native.executable(native.PROBE)), "--no-sandbox", *_calls()]
    report = tmp_path / "report.json"
    capfd.readouterr()

    status = cli.main(["run", "--profile", str(policy), "--report", str(report), "--", *argv])
    cached_out = capfd.readouterr().out.splitlines()
    supervised = run_supervised(argv, program)
    supervised_out = capfd.readouterr().out.splitlines()

    assert (status, supervised.status) == (0, 0)
    assert len(cached_out) == len(_calls())
    assert cached_out == supervised_out  # what every call returned, or how it ended
    outcomes = [json.loads(line) for line in cached_out]
    decided = [_expected(program, o) for o in outcomes]
    assert {o["outcome"] for o in outcomes} >= {"returned", "trapped", "signaled"}
    pairs = list(zip(outcomes, decided, strict=True))
    assert all(_as_program_says(o, d) for o, d in pairs)
    refused = [(o["abi"], o["args"], str(d)) for o, d in pairs if d.blocks]
    reported = [
        (e["abi"], e["args"], e["action"]) for e in json.loads(report.read_text())["events"]
    ]
    assert reported == refused
    assert [(e.abi, list(e.args), str(e.action)) for e in supervised.events] == refused
    assert [a for *_, a in reported].count("errno(E2BIG)") == 1  # only the high word matched
    assert [a for *_, a in reported].count("errno(EDOM)") == 2  # a one-bit mask: jset


def test_a_cached_run_imports_only_its_own_modules(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from seccompiler.commands import cli\n"
        "rc = cli.main(['run', '--profile', sys.argv[1], '--audit', '--', 'true'])\n"
        "print(rc, *sorted(set(sys.modules) - before))\n"
    )
    run = [sys.executable, "-c", code, str(DEFAULT)]
    subprocess.run(run, env=env, check=True, capture_output=True)  # fills the cache
    proc = subprocess.run(run, env=env, check=True, capture_output=True, text=True)
    rc, *loaded = proc.stdout.split()
    assert proc.stderr == "audit: no syscall was refused\n"
    assert rc == "0"
    ours = {
        "seccompiler",
        "seccompiler.commands",
        "seccompiler.commands.cli",
        "seccompiler.commands.runfast",
        "seccompiler.runner",
        "seccompiler.runner.filtercache",
        "seccompiler.runner.frontentry",
        "seccompiler.runner.launcher",
    }
    assert set(loaded) - ours <= {"__future__", "_sha2", "_sha256"}, sorted(set(loaded) - ours)


@pytest.mark.parametrize(
    ("script", "closed", "status", "err"),
    [
        ("exit 7", False, 7, "audit: no syscall was refused\n"),
        ("exit 7", True, 7, ""),  # no standard error at all: the status all the same
        ("kill -TERM $$", False, 143, "seccompiler: sh killed by SIGTERM\naudit: no syscall"),
    ],
)
def test_the_console_script_ends_with_the_workload(
    tmp_path: Path, script: str, closed: bool, status: int, err: str
) -> None:
    """The console script skips the interpreter's teardown after run: what it said is out."""
    cli_exe = Path(sys.executable).with_name("seccompiler")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    argv = [str(cli_exe), "run", "--profile", str(DEFAULT), "--audit", "--", "sh", "-c", script]
    proc = subprocess.run(
        argv,
        env=env,
        capture_output=not closed,
        stdout=subprocess.PIPE if closed else None,
        preexec_fn=(lambda: os.close(2)) if closed else None,  # Python starts without stderr
        text=True,
    )
    assert proc.returncode == status
    if not closed:
        assert proc.stderr.startswith(err) and proc.stdout == ""


def test_a_daemonised_child_is_answered_by_the_launcher_to_the_end(tmp_path: Path) -> None:
    """The launcher answers until the last descendant is gone, not just the workload."""
    out, report = tmp_path / "out", tmp_path / "report.json"
    script = f"(sleep 0.5; unshare -U true 2> {out}; echo $? >> {out}) &"
    argv = ["run", "--profile", str(DEFAULT), "--report", str(report), "--", "sh", "-c", script]
    assert cli.main(argv) == 0
    lines = out.read_text().splitlines()
    assert "Operation not permitted" in lines[0] and lines[-1] == "1"  # EPERM, not ENOSYS
    refused = [(r["syscall"], r["action"]) for r in json.loads(report.read_text())["refused"]]
    assert refused == [("unshare", "errno(EPERM)")]
