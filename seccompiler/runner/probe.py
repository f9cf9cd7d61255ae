"""Run ``seccompiler-probe`` and read what the kernel did with each call.

The probe (native/probe.c) makes each call in a child of its own under the filter and prints
one JSON line per call; this module writes the call list, runs it, and parses the lines.
Calls on an ABI the main probe cannot enter (arm, from a 64-bit aarch64 process) go to the
probe its record names (``native.probe_for``), under the same filter; the answers come back
in the order of the calls.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from seccompiler.base.errors import InputError, Location
from seccompiler.runner import native

Kind = Literal["plain", "fork", "sigreturn"]
ZERO_PAGE = -1  # an argument standing for the probe's zeroed page ("Z")

OUTCOMES = ("returned", "trapped", "signaled", "blocked", "exited", "error")


@dataclass(frozen=True)
class Call:
    """One system call to make: ABI, number as the kernel sees it, six arguments."""

    abi: str
    nr: int
    args: tuple[int, ...] = (0, 0, 0, 0, 0, 0)
    kind: Kind = "plain"

    def line(self) -> str:
        args = " ".join("Z" if a == ZERO_PAGE else str(a) for a in self.args)
        return f"{self.abi} {self.nr} {self.kind} {args}"


@dataclass(frozen=True)
class Trap:
    """The ``siginfo`` of a SIGSYS sent by SECCOMP_RET_TRAP."""

    errno: int
    syscall: int
    arch: int


@dataclass(frozen=True)
class Observation:
    """What happened to one call."""

    call: Call
    outcome: str
    ret: int
    errno: int
    signal: int
    status: int
    trap: Trap | None

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "ret": self.ret,
            "errno": self.errno,
            "signal": self.signal,
            "status": self.status,
            "trap": None if self.trap is None else vars(self.trap),
        }


def parse_line(line: str, call: Call, where: str = "<probe>") -> Observation:
    """Parse one probe output line, checked against the call it answers."""
    try:
        d = json.loads(line)
        if d["abi"] != call.abi or int(d["nr"]) != call.nr or d["outcome"] not in OUTCOMES:
            raise ValueError("answer does not match the call")
        t = d["trap"]
        return Observation(
            call,
            str(d["outcome"]),
            int(d["ret"]),
            int(d["errno"]),
            int(d["signal"]),
            int(d["status"]),
            None if t is None else Trap(int(t["errno"]), int(t["syscall"]), int(t["arch"])),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"unreadable probe output {line[:120]!r}: {exc}", location=Location(where)
        ) from None


def parse_output(text: str, calls: Sequence[Call], where: str = "<probe>") -> list[Observation]:
    """Parse the probe's whole output; every call must be answered, in order."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) != len(calls):
        raise InputError(
            f"the probe answered {len(lines)} of {len(calls)} calls",
            hint="see its standard error",
            location=Location(where),
        )
    return [parse_line(ln, c, where) for ln, c in zip(lines, calls, strict=True)]


def call_list(calls: Iterable[Call]) -> str:
    """The probe's input: one call per line."""
    return "".join(c.line() + "\n" for c in calls)


def run(
    calls: Sequence[Call],
    bpf: bytes | None,
    *,
    sandbox: bool = True,
    timeout_ms: int = 300,
    progress: Callable[[int, int], None] | None = None,
) -> list[Observation]:
    """Run the probe on ``calls`` under ``bpf`` (None: no filter of its own)."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(calls):
        groups.setdefault(native.probe_for(c.abi), []).append(i)
    if len(groups) <= 1:
        name = next(iter(groups), native.PROBE)
        return _run_probe(name, calls, bpf, sandbox, timeout_ms, progress)
    out: list[Observation | None] = [None] * len(calls)
    done = 0
    for name, where in groups.items():
        step = None
        if progress is not None:
            step = _offset(progress, done, len(calls))
        got = _run_probe(name, [calls[i] for i in where], bpf, sandbox, timeout_ms, step)
        for i, o in zip(where, got, strict=True):
            out[i] = o
        done += len(where)
    return [o for o in out if o is not None]


def _offset(
    progress: Callable[[int, int], None], base: int, total: int
) -> Callable[[int, int], None]:
    return lambda n, _of: progress(base + n, total)


def _run_probe(
    name: str,
    calls: Sequence[Call],
    bpf: bytes | None,
    sandbox: bool,
    timeout_ms: int,
    progress: Callable[[int, int], None] | None,
) -> list[Observation]:
    exe = native.executable(name)
    with tempfile.TemporaryDirectory(prefix="seccompiler-probe-") as tmp:
        cmd = [str(exe), "--timeout-ms", str(timeout_ms)]
        if bpf is not None:
            path = os.path.join(tmp, "filter.bpf")
            with open(path, "wb") as fh:
                fh.write(bpf)
            cmd += ["--filter", path]
        if not sandbox:
            cmd.append("--no-sandbox")
        out: list[Observation] = []
        with subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc:
            assert proc.stdin is not None and proc.stdout is not None
            assert proc.stderr is not None
            proc.stdin.write(call_list(calls))
            proc.stdin.close()
            for line in proc.stdout:
                if not line.strip():
                    continue
                if len(out) >= len(calls):
                    break
                out.append(parse_line(line, calls[len(out)]))
                if progress is not None:
                    progress(len(out), len(calls))
            err = proc.stderr.read()
            rc = proc.wait()
    if rc != 0 or len(out) != len(calls):
        raise InputError(
            f"the probe stopped after {len(out)} of {len(calls)} calls (status {rc})",
            hint=err.strip()[:300] or "run it by hand to see why",
            location=Location(str(exe)),
        )
    return out
