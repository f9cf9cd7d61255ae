"""``seccompiler run``: run a program under a policy's filter, optionally auditing refusals."""

from __future__ import annotations

import json
import signal

import click

from seccompiler.base.errors import SeccompilerError
from seccompiler.base.fsio import write_atomic
from seccompiler.compile import load_program
from seccompiler.runner.supervise import RunResult, run_supervised

OWN_FAILURE = 125  # as docker run: the tool itself failed, the program never ran


def _signame(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def report_table(result: RunResult) -> list[str]:
    """The audit report as aligned text, one line per (program, syscall, action)."""
    counts = result.counts()
    if not counts:
        return ["audit: no syscall was refused"]
    rows = [("COUNT", "SYSCALL", "ABI", "ACTION", "PIDS", "EXECUTABLE")]
    for (exe, abi_name, name, action), n in sorted(counts.items(), key=lambda kv: -kv[1]):
        pids = sorted({e.pid for e in result.events if (e.exe, e.name) == (exe, name)})
        shown = ",".join(map(str, pids[:4])) + ("…" if len(pids) > 4 else "")
        rows.append((str(n), name, abi_name, action, shown, exe))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [f"audit: {sum(counts.values())} refused syscalls"]
    for r in rows:
        lines.append(
            "  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5]
        )
    return lines


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.option(
    "--profile",
    "policy",
    required=True,
    type=click.Path(dir_okay=False),
    help="Policy to compile and run the program under.",
)
@click.option(
    "--audit",
    is_flag=True,
    help="Report every syscall the policy refuses (answered as the policy says).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False),
    help="Write the audit report as JSON to this file (implies --audit).",
)
@click.option("--caps", multiple=True, metavar="CAP[,CAP…]", help="Capabilities, as for compile.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_cmd(
    policy: str, audit: bool, report: str | None, caps: tuple[str, ...], command: tuple[str, ...]
) -> int:
    """Run COMMAND under POLICY's filter and return its exit status.

    Exit status: the program's; 125 when seccompiler fails (e.g. the policy does not
    compile); 126 when the program cannot be executed; 127 when it is not found; 128+N when
    it is killed by signal N (159 for the policy's kill actions, SIGSYS). Use -- before
    COMMAND when it has options of its own.
    """
    audit = audit or report is not None
    try:
        program = load_program(policy, caps=caps or None)
    except SeccompilerError as exc:
        from seccompiler.commands.cli import render_error

        click.echo(render_error(exc), err=True)
        click.echo(f"seccompiler: the policy {policy} does not compile; not running", err=True)
        return OWN_FAILURE
    try:
        result = run_supervised(list(command), program, audit=audit)
    except SeccompilerError as exc:  # e.g. no x86_64 ABI in the policy, native parts missing
        from seccompiler.commands.cli import render_error

        click.echo(render_error(exc), err=True)
        return OWN_FAILURE
    if result.error:
        what = {"notfound": "command not found", "exec": "cannot execute"}.get(
            result.error_stage, f"cannot start ({result.error_stage})"
        )
        click.echo(f"seccompiler: {command[0]}: {what}: {result.error}", err=True)
    elif result.status > 128:
        cause = " (the policy's kill action)" if result.killed_by_policy else ""
        sig = result.status - 128
        click.echo(f"seccompiler: {command[0]} killed by {_signame(sig)}{cause}", err=True)
    if audit:
        for line in report_table(result):
            click.echo(line, err=True)
    if report is not None:
        write_atomic(report, json.dumps(result.to_json(), indent=2) + "\n")
    return result.status
