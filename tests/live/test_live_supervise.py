"""``run --audit`` and the supervisor on real programs: python3, tar, git, sh, busybox."""

from __future__ import annotations

import io
import json
import shutil
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit import DEFAULT, NO_MKDIR

from seccompiler.commands import cli
from seccompiler.program import Action, ActionKind, Program
from seccompiler.runner.supervise import Launch, RunResult, run_supervised

pytestmark = pytest.mark.live

EPERM = Action(ActionKind.ERRNO, 1)
PY = shutil.which("python3") or sys.executable


def _tarball(path: Path) -> Path:
    with tarfile.open(path, "w") as tf:
        info = tarfile.TarInfo("made-by-tar")
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tf.addfile(info)
        data = b"hello\n"
        f = tarfile.TarInfo("made-by-tar/file")
        f.size = len(data)
        tf.addfile(f, io.BytesIO(data))
    return path


def _programs(tmp: Path) -> dict[str, tuple[list[str], Path]]:
    """Each real program, and the directory it makes when nothing stops it."""
    return {
        "python3": ([PY, "-c", f"import os; os.mkdir({str(tmp / 'py')!r})"], tmp / "py"),
        "tar": (["tar", "-C", str(tmp), "-xf", str(_tarball(tmp / "a.tar"))], tmp / "made-by-tar"),
        "git": (["git", "init", "-q", str(tmp / "repo")], tmp / "repo"),
    }


def _refused(result: RunResult) -> set[tuple[str, str]]:
    return {(Path(e.exe).name, e.name) for e in result.events}


@pytest.mark.parametrize("prog", ["python3", "tar", "git"])
def test_audit_reports_what_the_policy_refuses(
    tmp_path: Path, make_program: Callable[[str], Program], prog: str
) -> None:
    argv, made = _programs(tmp_path)[prog]
    result = run_supervised(argv, make_program(NO_MKDIR))
    assert result.status != 0  # the program saw EPERM, as it would in production
    assert not made.exists()
    names = {e.name for e in result.events}
    assert names & {"mkdir", "mkdirat"}
    assert all(e.action == EPERM for e in result.events)
    assert all(e.abi == "x86_64" and e.pid > 0 and e.exe != "?" for e in result.events)


@pytest.mark.parametrize("prog", ["python3", "tar", "git"])
def test_audit_under_the_default_profile_is_empty(
    tmp_path: Path, default_program: Program, prog: str
) -> None:
    argv, made = _programs(tmp_path)[prog]
    result = run_supervised(argv, default_program)
    assert (result.status, result.events) == (0, [])
    assert made.is_dir()


def test_threads_and_children_are_followed(
    tmp_path: Path, make_program: Callable[[str], Program]
) -> None:
    code = (
        "import os, threading\n"
        "def f():\n"
        "    try: os.mkdir({!r})\n"
        "    except PermissionError: print('thread refused')\n"
        "t = threading.Thread(target=f); t.start(); t.join()\n"
        "if os.fork() == 0:\n"
        "    try: os.mkdir({!r})\n"
        "    except PermissionError: os._exit(9)\n"
        "    os._exit(0)\n"
        "print(os.waitstatus_to_exitcode(os.wait()[1]))\n"
    ).format(str(tmp_path / "t"), str(tmp_path / "c"))
    result = run_supervised(["sh", "-c", f'{PY} -c "$0"', code], make_program(NO_MKDIR))
    assert result.status == 0
    pids = {e.pid for e in result.events if e.name == "mkdir"}
    assert len(pids) == 2  # the thread and the child, each with its own id
    assert result.pid not in pids  # neither is the shell the launcher started


def test_kill_action_ends_the_program_with_sigsys_status(
    tmp_path: Path, make_program: Callable[[str], Program]
) -> None:
    program = make_program("- action: kill-process\n  syscalls: [mkdir]\n  reason: test\n")
    result = run_supervised([PY, "-c", f"import os; os.mkdir({str(tmp_path / 'k')!r})"], program)
    assert (result.status, result.killed_by_policy) == (128 + 31, True)
    assert [e.name for e in result.events] == ["mkdir"]
    assert not (tmp_path / "k").exists()


def test_without_audit_the_real_filter_decides(
    tmp_path: Path, make_program: Callable[[str], Program]
) -> None:
    result = run_supervised(
        [PY, "-c", f"import os; os.mkdir({str(tmp_path / 'n')!r})"],
        make_program(NO_MKDIR),
        audit=False,
    )
    assert result.status == 1 and result.events == []
    assert not (tmp_path / "n").exists()


def test_root_namespaces_and_user(tmp_path: Path, default_program: Program) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "proc").mkdir()
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    result = run_supervised(
        ["/bin/busybox", "sh", "-c", "echo $$ $(/bin/busybox id -u) > /out; /bin/busybox ls /proc"],
        default_program,
        where=Launch(root=str(tmp_path / "root"), namespaces=True, user=(0, 0)),
    )
    assert result.status == 0, result
    assert (root / "out").read_text().split() == ["1", "0"]


@pytest.mark.parametrize(
    ("prog", "syscall"), [("python3", "mkdir"), ("tar", "mkdirat"), ("git", "mkdir")]
)
def test_run_audit_report_names_the_refused_syscall(
    tmp_path: Path,
    make_policy: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    prog: str,
    syscall: str,
) -> None:
    report = tmp_path / "report.json"
    argv, made = _programs(tmp_path)[prog]
    policy = make_policy(NO_MKDIR)
    rc = cli.main(
        ["run", "--profile", str(policy), "--audit", "--report", str(report), "--", *argv]
    )
    data = json.loads(report.read_text())
    assert rc != 0 and not made.exists()
    rows = [(Path(r["exe"]).name, r["syscall"], r["action"]) for r in data["refused"]]
    assert [(name, act) for _, name, act in rows] == [(syscall, "errno(EPERM)")]
    assert rows[0][0].startswith(Path(argv[0]).name)  # python3 runs as python3.11
    assert f" {syscall} " in capsys.readouterr().err  # the table on standard error


@pytest.mark.parametrize("prog", ["python3", "tar", "git"])
def test_run_audit_report_is_empty_under_the_default_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], prog: str
) -> None:
    report = tmp_path / "report.json"
    argv, made = _programs(tmp_path)[prog]
    rc = cli.main(
        ["run", "--profile", str(DEFAULT), "--audit", "--report", str(report), "--", *argv]
    )
    assert (rc, json.loads(report.read_text())["refused"]) == (0, [])
    assert made.is_dir()
    assert "no syscall was refused" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["sh", "-c", "exit 3"], 3),
        (["does-not-exist-anywhere"], 127),
        (["/etc/passwd"], 126),
        (["sh", "-c", "kill -9 $$"], 128 + 9),
        ([PY, "-c", "import os; os.mkdir('/nonexistent-dir/x')"], 128 + 31),
    ],
)
def test_run_command_exit_statuses(
    make_policy: Callable[[str], Path], argv: list[str], status: int
) -> None:
    policy = make_policy("- action: kill-process\n  syscalls: [mkdir]\n  reason: test\n")
    assert cli.main(["run", "--profile", str(policy), "--", *argv]) == status
    assert cli.main(["run", "--audit", "--profile", str(policy), "--", *argv]) == status


def test_run_command_policy_that_does_not_compile(
    make_policy: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    policy = make_policy("- action: errno(EPERM)\n  syscalls: [no_such_syscall]\n")
    assert cli.main(["run", "--profile", str(policy), "--", "true"]) == 125
    assert "no_such_syscall" in capsys.readouterr().err


def test_audit_labels_i386_calls_and_x32_numbers(
    make_program: Callable[[str], Program], capfd: pytest.CaptureFixture[str]
) -> None:
    """The probe as the workload: mkdir through int 0x80, then an x32 getpid."""
    from seccompiler.arch import tables
    from seccompiler.runner import native

    mkdir32 = tables.table("x86").by_name["mkdir"]
    getpid_x32 = tables.table("x32").by_name["getpid"]
    probe_exe = str(native.executable(native.PROBE))
    result = run_supervised(
        [probe_exe, "--no-sandbox", f"x86 {mkdir32}", f"x32 {getpid_x32}"],
        make_program(NO_MKDIR),
    )
    out = [json.loads(line) for line in capfd.readouterr().out.splitlines()]
    assert result.status == 0
    assert [(e.abi, e.name, str(e.action)) for e in result.events] == [
        ("x86", "mkdir", "errno(EPERM)"),
        ("x32", "getpid", "kill-process"),
    ]
    assert (out[0]["outcome"], out[0]["errno"]) == ("returned", 1)  # answered as the policy says
    assert (out[1]["outcome"], out[1]["signal"]) == ("signaled", 9)  # killed by the supervisor
