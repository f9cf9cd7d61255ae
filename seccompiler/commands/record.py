"""``seccompiler record``: run a workload, observe every syscall, write the policy it needs."""

from __future__ import annotations

import os
from pathlib import Path

import click

from seccompiler.base.errors import SeccompilerError, UsageError
from seccompiler.base.fsio import check_file_output, check_output, write_output
from seccompiler.commands.options import (
    Failed,
    ProgramCommand,
    record_options,
    shown,
    timeout_option,
)
from seccompiler.compile import load_program
from seccompiler.image.live import LiveRun, execute
from seccompiler.image.plan import ExecPlan
from seccompiler.program import Program
from seccompiler.runner.recorder import aggregate_counts, keep_list
from seccompiler.runner.recpolicy import POLICY_FILE, default_name, plural, render_policy


def check_record_output(output: str | None, base: str | None) -> None:
    """Refuse an output that would overwrite the base policy or anything but a policy of
    ours, or that cannot be written."""
    if output:
        check_file_output(output, POLICY_FILE, [base] if base else [])


def load_base(base: str | None) -> Program | None:
    """The compiled base policy, or None; a base that does not compile stops the command."""
    if base is None:
        return None
    try:
        return load_program(base)
    except SeccompilerError as exc:
        failed = shown(exc)
        click.echo(f"seccompiler: the base policy {base} does not compile", err=True)
        raise failed from None


def check_base_sources(output: str | None, base: Program | None) -> None:
    """Refuse (exit 2, before the workload runs) an output that is a file the base extends."""
    if output and base is not None:
        try:
            check_output(output, base.sources)
        except UsageError as exc:
            raise shown(exc, 2) from None


def relative_ref(base: str, output: str | None) -> str:
    """How the output names ``base`` in ``extends:``: relative to the output's directory."""
    start = os.path.dirname(os.path.abspath(output)) if output else os.getcwd()
    return os.path.relpath(os.path.abspath(base), start)


def finish_recording(
    live: LiveRun,
    argv: list[str],
    *,
    output: str | None,
    base: str | None,
    base_prog: Program | None,
    name: str | None,
) -> int:
    """Write the recorded policy (file or stdout) and return the workload's status."""
    result = live.result
    if result is None:
        click.echo(f"seccompiler: {live.outcome.text().strip()}; nothing written", err=True)
        return live.outcome.status
    if result.error:
        click.echo(f"seccompiler: {argv[0]}: {result.error_stage}: {result.error}", err=True)
        return result.status
    rec = aggregate_counts(result.seen, base=base_prog, tasks=result.tasks, unkept=result.unkept)
    text = render_policy(
        rec,
        name=name or default_name(argv),
        command=argv,
        base_ref=relative_ref(base, output) if base else None,
        base=base_prog,
    )
    if output:
        write_output(output, text, POLICY_FILE)
        click.echo(
            f"recorded {plural(rec.total, 'syscall')} in {plural(rec.tasks, 'process')}; "
            f"{plural(len({n for _, n in rec.uses}), 'syscall name')} written to {output}",
            err=True,
        )
    else:
        click.echo(text, nl=False)
    if rec.unkept:
        click.echo(
            f"seccompiler: {plural(rec.unkept, 'call')} counted but not kept (more different "
            "calls than the recorder keeps): the policy does not cover them",
            err=True,
        )
    if result.status:
        click.echo(
            f"seccompiler: the workload exited with status {result.status}; the policy covers "
            "only what this run did",
            err=True,
        )
    return result.status


def record(
    root: Path | None,
    plan: ExecPlan,
    *,
    output: str | None,
    base: str | None,
    base_prog: Program | None,
    name: str | None,
    timeout: float | None,
) -> int:
    """Run ``plan`` (in ``root``) with every syscall observed; write the policy it needed.

    The flow of ``record`` and ``image record``; ``base_prog`` is ``load_base(base)``.
    """
    from seccompiler.runner import host

    keep = keep_list(base_prog, host.program_abis())
    live = execute(
        root, plan, None, record=keep, timeout=timeout, capture=False, stdout_free=output is None
    )
    return finish_recording(
        live, list(plan.argv), output=output, base=base, base_prog=base_prog, name=name
    )


@click.command(
    "record",
    short_help="Observe a workload's syscalls and write the policy it needs.",
    cls=ProgramCommand,
)
@record_options
@timeout_option("Seconds before the workload is killed.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def record_cmd(
    output: str | None,
    base: str | None,
    name: str | None,
    timeout: float | None,
    command: tuple[str, ...],
) -> int:
    """Run COMMAND with every syscall observed and write the allow-list policy it needs.

    Threads and children are followed, on every ABI the machine runs (x86_64, i386). The
    policy goes to OUTPUT (or stdout): sorted, grouped, each syscall commented with its call
    count. COMMAND starts at the first argument that is not an option of record, or after --.
    Exit status: the workload's; 125/126/127 when it could not be run; 2 for a wrong command
    line.
    """
    check_record_output(output, base)
    try:
        base_prog = load_base(base)
        check_base_sources(output, base_prog)
        plan = ExecPlan(tuple(command), dict(os.environ))
        return record(
            None, plan, output=output, base=base, base_prog=base_prog, name=name, timeout=timeout
        )
    except Failed as failed:
        return failed.status
    except SeccompilerError as exc:  # e.g. the native launcher is not built
        return shown(exc).status
