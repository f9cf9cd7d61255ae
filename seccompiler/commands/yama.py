"""``seccompiler yama status|apply|check``: the ptrace_scope the platform relies on."""

from __future__ import annotations

import errno

import click

from seccompiler.base.fsio import check_file_output, write_output
from seccompiler.commands.cli import render_error
from seccompiler.commands.group import HelpGroup
from seccompiler.commands.options import (
    DirPath,
    echo_json,
    file_option,
    format_option,
    stdout_or_file,
)
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


def _scope_json(scope: int) -> dict[str, object]:
    name, meaning = yama.SCOPES[scope]
    return {"scope": scope, "name": name, "meaning": meaning}


@yama_group.command("status")
@_proc_root
@format_option()
def status_cmd(proc_root: str, fmt: str) -> int:
    """Print the running ptrace_scope and what it means."""
    try:
        scope = yama.read_scope(proc_root)
    except yama.YamaAbsent as err:
        return _absent(err)
    if fmt == "json":
        echo_json({"sysctl": yama.SYSCTL, **_scope_json(scope)})
    else:
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
@format_option()
def apply_cmd(
    scope: int, persist: bool, proc_root: str, root: str | None, output: str | None, fmt: str
) -> int:
    """Set ptrace_scope now (needs CAP_SYS_PTRACE) and, with --persist, at every boot."""
    before: int | None = None
    wrote: str | None = None
    if output is not None:
        if root is not None or persist:
            raise click.UsageError(
                "-o writes the drop-in alone; it cannot be used with --root or --persist"
            )
        target = stdout_or_file(output)
        data = yama.sysctl_dropin(scope)
        if target is None:
            if fmt == "json":
                raise click.UsageError("-o - and --format json both want standard output")
            click.echo(data.decode(), nl=False)
            return 0
        check_file_output(target, yama.DROPIN_KIND)
        write_output(target, data, yama.DROPIN_KIND)
        wrote = target
    else:
        if root is None:
            try:
                before = yama.write_scope(scope, proc_root)
            except yama.YamaAbsent as err:
                return _absent(err)
        if persist or root is not None:
            wrote = str(yama.persist(scope, root))
    if fmt == "json":
        echo_json({"sysctl": yama.SYSCTL, "before": before, "wrote": wrote, **_scope_json(scope)})
        return 0
    if before is not None:
        click.echo(f"{yama.SYSCTL}: {before} -> {scope}")
    if wrote is not None:
        click.echo(f"wrote {wrote}")
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
@format_option()
def check_cmd(scope: int | None, live: bool, proc_root: str, root: str | None, fmt: str) -> int:
    """Exit 0 when ptrace_scope is SCOPE (or, with --live, behaves as it claims), else 1."""
    if scope is None and not live:
        raise click.UsageError("give --scope N, --live, or both")
    if live and root is not None:
        raise click.UsageError("--live tests the running kernel; it cannot be used with --root")
    doc: dict[str, object] = {"sysctl": yama.SYSCTL, "scope": None, "live": None}
    lines: list[str] = []
    try:
        ok = True
        if scope is not None:
            result = yama.check_scope(scope, proc_root, root)
            lines.append(("ok: " if result.ok else "mismatch: ") + result.reason)
            doc["scope"] = {"wanted": scope, "ok": result.ok, "reason": result.reason}
            ok = result.ok
        if live:
            outcome = yama.live_check(proc_root)
            probes = []
            for probe in outcome.probes:
                who = "declared tracer" if probe.declared else "sibling"
                want = yama.expected_attach(outcome.scope, probe.declared)
                verdict = "as expected" if (probe.errno == 0) == want else "UNEXPECTED"
                lines.append(
                    f"scope {outcome.scope}: {who} attach {yama.errno_text(probe.errno)} "
                    f"({verdict})"
                )
                probes.append(
                    {
                        "tracer": "declared" if probe.declared else "sibling",
                        "attached": probe.errno == 0,
                        "expected": want,
                        "errno": errno.errorcode.get(probe.errno) if probe.errno else None,
                    }
                )
            doc["live"] = {"scope": outcome.scope, "ok": outcome.ok, "probes": probes}
            ok = ok and outcome.ok
    except yama.YamaAbsent as err:
        return _absent(err)
    if fmt == "json":
        echo_json({**doc, "ok": ok})
    else:
        click.echo("\n".join(lines))
    return 0 if ok else 1
