"""``run`` ends as its workload does: signals are passed on, descendants are served to the end.

- SIGTERM/SIGINT to ``seccompiler run`` reach the workload through the launcher; the run
  waits for it, writes the report and exits with its status; no launcher, workload or
  descendant is left behind.
- Under ``--audit`` the launcher is the subreaper of the workload's descendants: a child
  that outlives the workload still gets the policy's answer (audited), not ENOSYS.
- ``--namespaces`` (``image test``) brings loopback up in the new network namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from livekit import DEFAULT

from seccompiler.program import Program
from seccompiler.runner.supervise import Launch, run_supervised

pytestmark = pytest.mark.live

PY = shutil.which("python3") or sys.executable
SECCOMPILER = [sys.executable, "-m", "seccompiler.commands.cli"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(x) for x in (task / "children").read_text().split()]
    return out


def _wait_for(path: Path, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
@pytest.mark.parametrize("audit", [True, False], ids=["audit", "plain"])
def test_signal_to_run_reaches_the_workload_and_the_report_is_written(
    tmp_path: Path, sig: signal.Signals, audit: bool
) -> None:
    report = tmp_path / "report.json"
    child, shell = tmp_path / "child.pid", tmp_path / "shell.pid"
    # Under audit the workload leaves a child behind when it dies: it must go too.
    script = (
        f"echo $$ > {shell}; sleep 300 & echo $! > {child}; wait"
        if audit
        else f"echo $$ > {shell}; echo $$ > {child}; exec sleep 300"
    )
    opts = ["--report", str(report)] if audit else []
    errors = tmp_path / "stderr"
    with errors.open("wb") as err:
        proc = subprocess.Popen(
            [*SECCOMPILER, "run", "--profile", str(DEFAULT), *opts, "--", "sh", "-c", script],
            stderr=err,
            start_new_session=True,  # no terminal: the signal comes from a process, like kill
        )
    try:
        _wait_for(child)
        launchers = _children(proc.pid)
        pids = [int(shell.read_text()), int(child.read_text()), *launchers]
        assert len(launchers) == 1 and all(_alive(p) for p in pids)
        proc.send_signal(sig)
        status = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert status == 128 + sig, errors.read_text()
    assert not [p for p in pids if _alive(p)]
    if audit:
        assert json.loads(report.read_text())["status"] == 128 + sig


def test_a_signal_that_comes_as_the_launcher_starts_is_passed_on() -> None:
    """SIGTERM right after the launcher was started, before the run knows it, at delays that
    land before the launcher set its handlers, while it starts the workload, and after: each
    time the run must pass it on and end as the workload does (143), where it died with the
    workload left running, or the workload never got the signal and ran on."""
    code = (
        "import os, signal, subprocess, sys, time\n"
        "from seccompiler.compile import load_program\n"
        "from seccompiler.runner import supervise\n"
        "program = load_program(sys.argv[1])\n"
        "real = subprocess.Popen\n"
        "for delay in (0, 0, 0.0002, 0.0005, 0.0005, 0.001, 0.002, 0.005, 0.02):\n"
        "    def popen(*args, delay=delay, **kwargs):\n"
        "        proc = real(*args, **kwargs)\n"
        "        time.sleep(delay)\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        return proc\n"
        "    subprocess.Popen = popen\n"
        "    print(supervise.run_supervised(['sleep', '60'], program).status, flush=True)\n"
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(DEFAULT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a failure leaves nothing running: the group is killed
    )
    try:
        out, err = proc.communicate(timeout=50)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("a run did not end: its workload never got the signal")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err  # not killed by the signal (-15)
    assert out.split() == [str(128 + signal.SIGTERM)] * 9  # the workload's end
    assert time.monotonic() - started < 30  # each sleep 60 was stopped, not waited out


def test_a_daemonised_child_gets_the_policy_answer_and_is_audited(
    tmp_path: Path, default_program: Program
) -> None:
    out = tmp_path / "out"
    script = f"(sleep 0.5; unshare -U true 2> {out}; echo $? >> {out}) &"
    result = run_supervised(["sh", "-c", script], default_program)
    assert result.status == 0
    lines = out.read_text().splitlines()
    assert "Operation not permitted" in lines[0]  # EPERM, the policy's errno; not ENOSYS
    assert lines[-1] == "1"
    refused = [(e.name, str(e.action)) for e in result.events]
    assert refused == [("unshare", "errno(EPERM)")]


def test_loopback_is_up_in_the_new_network_namespace(default_program: Program) -> None:
    code = (
        "import socket\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "c = socket.create_connection(s.getsockname(), timeout=5)\n"
        "a, _ = s.accept(); c.sendall(b'ok'); assert a.recv(2) == b'ok'\n"
    )
    result = run_supervised(
        [PY, "-c", code], default_program, audit=False, where=Launch(namespaces=True)
    )
    assert result.status == 0, result
