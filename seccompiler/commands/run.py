"""``seccompiler run``: run a program under a policy's filter, optionally auditing refusals.

The options and help live here; the work, and a click-free parser for the plain form that
``cli.main`` tries first, in ``commands/runfast.py``.
"""

from __future__ import annotations

import click

from seccompiler.commands.options import (
    ProgramCommand,
    caps_option,
    not_stdout,
    profile_option,
)
from seccompiler.commands.runfast import OWN_FAILURE, RunArgs, execute, report_table

__all__ = ["OWN_FAILURE", "report_table", "run_cmd"]


@click.command(
    "run",
    short_help="Run a program under a policy's filter, optionally audited.",
    cls=ProgramCommand,
)
@profile_option("Policy to compile and run the program under.")
@click.option(
    "--audit",
    is_flag=True,
    help="Report every syscall the policy refuses (answered as the policy says).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False),
    callback=not_stdout("the program's own output goes there"),
    help="Write the audit report as JSON to this file (implies --audit).",
)
@caps_option("Capabilities, as for compile.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_cmd(
    policy: str, audit: bool, report: str | None, caps: tuple[str, ...], command: tuple[str, ...]
) -> int:
    """Run COMMAND under POLICY's filter and return its exit status.

    COMMAND starts at the first argument that is not an option of run, or after --; what
    follows it is its own, options included.

    Exit status: the program's; 2 for a wrong command line (e.g. an unknown option); 125
    when seccompiler fails (e.g. the policy is missing or does not compile); 126 when the
    program cannot be executed; 127 when it is not found; 128+N when it is killed by signal
    N (159 for the policy's kill actions, SIGSYS).
    """
    return execute(RunArgs(policy, audit, report, caps, command))
