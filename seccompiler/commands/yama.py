"""``seccompiler yama status|apply|check``: the ptrace_scope the platform relies on."""

from __future__ import annotations

import click

from seccompiler.base.fsio import check_writable, write_atomic
from seccompiler.commands.cli import render_error
from seccompiler.commands.group import HelpGroup
from seccompiler.commands.options import DirPath, file_option, stdout_or_file
from seccompiler.platform import yama

_proc_root = click.option(
    "--proc-root",
    default="/proc",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where proc is mounted (a fake tree in tests).",
)
_scope = click.option("--scope", type=click.IntRange(0, 3), help="The ptrace_scope wanted (0-3).")


def _absent(err: yama.YamaAbsent) -> int:
    click.echo(render_error(err).replace("error: ", "", 1), err=True)
    return yama.ABSENT_EXIT


@click.group("yama", cls=HelpGroup)
def yama_group() -> None:
    """YAMA ptrace_scope: report, set, persist and check it.

    Exit status 3 means YAMA is not active on this kernel.
    """


@yama_group.command("status")
@_proc_root
def status_cmd(proc_root: str) -> int:
    """Print the running ptrace_scope and what it means."""
    try:
        scope = yama.read_scope(proc_root)
    except yama.YamaAbsent as err:
        return _absent(err)
    click.echo(f"{yama.SYSCTL} = {yama.describe(scope)}")
    return 0


@yama_group.command("apply", short_help="Set ptrace_scope now and, with --persist, at every boot.")
@click.option("--scope", type=click.IntRange(0, 3), required=True, help="ptrace_scope to set.")
@click.option("--persist", is_flag=True, help="Also write the sysctl.d drop-in (atomically).")
@_proc_root
@click.option(
    "--root",
    type=DirPath(),
    help="Node image root: write only the drop-in under it, leave the running kernel alone.",
)
@file_option(
    "-o",
    "--output",
    help="Write only the drop-in, to this file ('-': standard output); leave the kernel alone.",
)
def apply_cmd(
    scope: int, persist: bool, proc_root: str, root: str | None, output: str | None
) -> int:
    """Set ptrace_scope now (needs CAP_SYS_PTRACE) and, with --persist, at every boot."""
    if output is not None:
        if root is not None or persist:
            raise click.UsageError(
                "-o writes the drop-in alone; it cannot be used with --root or --persist"
            )
        target = stdout_or_file(output)
        data = yama.sysctl_dropin(scope)
        if target is None:
            click.echo(data.decode(), nl=False)
            return 0
        check_writable(target)
        write_atomic(target, data)
        click.echo(f"wrote {target}")
        return 0
    if root is None:
        try:
            before = yama.write_scope(scope, proc_root)
        except yama.YamaAbsent as err:
            return _absent(err)
        click.echo(f"{yama.SYSCTL}: {before} -> {scope}")
    if persist or root is not None:
        path = yama.persist(scope, root)
        click.echo(f"wrote {path}")
    return 0


@yama_group.command("check", short_help="Check ptrace_scope, or show it working with --live.")
@_scope
@click.option("--live", is_flag=True, help="Demonstrate the policy with real attach attempts.")
@_proc_root
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    help="Check the node image's sysctl configuration instead of the running kernel.",
)
def check_cmd(scope: int | None, live: bool, proc_root: str, root: str | None) -> int:
    """Exit 0 when ptrace_scope is SCOPE (or, with --live, behaves as it claims), else 1."""
    if scope is None and not live:
        raise click.UsageError("give --scope N, --live, or both")
    if live and root is not None:
        raise click.UsageError("--live tests the running kernel; it cannot be used with --root")
    try:
        ok = True
        if scope is not None:
            result = yama.check_scope(scope, proc_root, root)
            click.echo(("ok: " if result.ok else "mismatch: ") + result.reason)
            ok = result.ok
        if live:
            outcome = yama.live_check(proc_root)
            for probe in outcome.probes:
                who = "declared tracer" if probe.declared else "sibling"
                want = yama.expected_attach(outcome.scope, probe.declared)
                verdict = "as expected" if (probe.errno == 0) == want else "UNEXPECTED"
                click.echo(
                    f"scope {outcome.scope}: {who} attach {yama.errno_text(probe.errno)} "
                    f"({verdict})"
                )
            ok = ok and outcome.ok
    except yama.YamaAbsent as err:
        return _absent(err)
    return 0 if ok else 1
