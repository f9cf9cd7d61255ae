"""Run commands inside an image root, with and without a profile, and compare what they did.

The execution itself is ``supervise.run_supervised`` (chroot into the root, fresh mount, PID,
UTS, IPC and network namespaces, the filter, audit by user notification). This module
decides what to run (``plan``), runs each test both ways, and judges: a test *passes* when
its run under the profile gives the expected status and output; it *differs* when the
profile changes the status or whether the expected output appears; it *fails* when even the
run without the profile does not do what the test file says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from seccompiler.image.plan import ExecPlan
from seccompiler.image.testfile import ImageTest

OUTPUT_TAIL = 4096


@dataclass(frozen=True)
class Refusal:
    """One refused syscall as the audit saw it, with how many times."""

    pid: int
    exe: str
    abi: str
    name: str
    args: tuple[int, ...]
    action: str
    count: int = 1


@dataclass(frozen=True)
class Outcome:
    """What one run did: exit status, the tail of its output, and what the filter refused."""

    status: int
    output: bytes = b""
    refused: tuple[Refusal, ...] = ()
    seconds: float = 0.0

    def text(self) -> str:
        return self.output.decode("utf-8", "replace")


# (plan, with_profile, timeout) -> Outcome
Execute = Callable[[ExecPlan, bool, float], Outcome]


@dataclass(frozen=True)
class TestResult:
    test: ImageTest
    baseline: Outcome
    profiled: Outcome
    verdict: str  # pass | differs | fails
    why: str = ""


@dataclass
class Summary:
    results: list[TestResult] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "differs": 0, "fails": 0}
        for r in self.results:
            out[r.verdict] += 1
        return out

    @property
    def ok(self) -> bool:
        return all(r.verdict == "pass" for r in self.results)


def _meets(test: ImageTest, outcome: Outcome) -> tuple[bool, bool]:
    status_ok = outcome.status == test.status
    output_ok = test.output is None or test.output in outcome.text()
    return status_ok, output_ok


def judge(test: ImageTest, baseline: Outcome, profiled: Outcome) -> TestResult:
    """Compare a test's two runs with each other and with what the test file expects."""
    b_status, b_output = _meets(test, baseline)
    _, p_output = _meets(test, profiled)
    if baseline.status != profiled.status:
        why = f"exit {baseline.status} without the profile, {profiled.status} with it"
        return TestResult(test, baseline, profiled, "differs", why)
    if b_output != p_output:
        why = "expected output " + ("missing" if b_output else "present") + " under the profile"
        return TestResult(test, baseline, profiled, "differs", why)
    if not (b_status and b_output):
        parts = []
        if not b_status:
            parts.append(f"exit {baseline.status}, expected {test.status}")
        if not b_output:
            parts.append(f"output lacks {test.output!r}")
        why = "; ".join(parts) + " (without the profile too)"
        return TestResult(test, baseline, profiled, "fails", why)
    return TestResult(test, baseline, profiled, "pass", "")


def run_tests(
    tests: Sequence[ImageTest], plans: Sequence[ExecPlan | Outcome], execute: Execute
) -> Summary:
    """Run every test without, then with, the profile; judge each.

    A plan that is already an ``Outcome`` (the program is not in the image, say) stands for
    both runs: nothing is started.
    """
    summary = Summary()
    for test, plan in zip(tests, plans, strict=True):
        if isinstance(plan, Outcome):
            summary.results.append(judge(test, plan, plan))
            continue
        baseline = execute(plan, False, test.timeout)
        profiled = execute(plan, True, test.timeout)
        summary.results.append(judge(test, baseline, profiled))
    return summary


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_summary(summary: Summary) -> str:
    """The summary table, then the refusals of every test that did not pass."""
    rows = [("TEST", "EXPECT", "WITHOUT", "WITH", "REFUSED", "VERDICT")]
    for r in summary.results:
        rows.append(
            (
                _cell(r.test.name, 40),
                str(r.test.status),
                str(r.baseline.status),
                str(r.profiled.status),
                ",".join(sorted({f.name for f in r.profiled.refused})) or "-",
                r.verdict.upper(),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    c = summary.counts
    lines.append(
        f"{len(summary.results)} tests: {c['pass']} pass, {c['differs']} differ under "
        f"the profile, {c['fails']} fail without it too"
    )
    for r in summary.results:
        if r.verdict == "pass":
            continue
        lines.append("")
        lines.append(f"{r.test.name}: {r.why}")
        if r.test.location is not None:
            lines.append(f"  defined at {r.test.location}")
        lines += render_refusals(r.profiled.refused, indent="  ")
        tail = r.profiled.text().rstrip().splitlines()[-5:]
        if tail:
            lines.append("  output under the profile (last lines):")
            lines += [f"    | {ln}" for ln in tail]
    return "\n".join(lines)


def render_refusals(refused: Sequence[Refusal], indent: str = "") -> list[str]:
    """Refused syscalls as a table: count, syscall, ABI, action, process, arguments."""
    if not refused:
        return [f"{indent}no syscall was refused"]
    rows = [("COUNT", "SYSCALL", "ABI", "ACTION", "PID", "EXECUTABLE", "ARGS")]
    for f in sorted(refused, key=lambda f: (-f.count, f.name, f.pid)):
        args = ", ".join(f"{a:#x}" for a in f.args)
        rows.append((str(f.count), f.name, f.abi, f.action, str(f.pid), f.exe, args))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def outcome_json(o: Outcome) -> dict[str, Any]:
    return {
        "status": o.status,
        "seconds": round(o.seconds, 3),
        "output_tail": o.text()[-OUTPUT_TAIL:],
        "refused": [
            {
                "pid": f.pid,
                "exe": f.exe,
                "abi": f.abi,
                "syscall": f.name,
                "args": list(f.args),
                "action": f.action,
                "count": f.count,
            }
            for f in o.refused
        ],
    }


def summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "ok": summary.ok,
        "counts": summary.counts,
        "tests": [
            {
                "name": r.test.name,
                "command": list(r.test.argv),
                "expect": {"status": r.test.status, "output": r.test.output},
                "verdict": r.verdict,
                "why": r.why,
                "without_profile": outcome_json(r.baseline),
                "with_profile": outcome_json(r.profiled),
            }
            for r in summary.results
        ],
    }
