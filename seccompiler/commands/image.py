"""``seccompiler image test`` and ``image record``: profiles against real container images."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from seccompiler.base.errors import Location, SeccompilerError
from seccompiler.base.fsio import check_file_output, json_report, write_output
from seccompiler.commands.group import HelpGroup
from seccompiler.commands.options import (
    Failed,
    ProgramCommand,
    not_stdout,
    profile_option,
    read_file_option,
    record_options,
    shown,
    timeout_option,
)
from seccompiler.compile import load_program
from seccompiler.image import Prepared, prepared
from seccompiler.image.live import execute
from seccompiler.image.plan import CommandError, ExecPlan, make_plan
from seccompiler.image.runner import Outcome, outcome_json, render_summary, run_tests, summary_json
from seccompiler.image.testfile import load_tests
from seccompiler.program import Program

TAIL_LINES = 20
# Both reports (one command's, or --tests') name the image and the profile first.
REPORT = json_report("image test report", "image", "profile")


@contextmanager
def _image(image: str, ref: str | None) -> Iterator[Prepared]:
    """Unpack the image; its notes (skipped devices, cleared setuid bits) go to stderr."""
    try:
        with prepared(image, ref=ref) as prep:
            for note in prep.report.notes[:20]:
                click.echo(f"note: {note}", err=True)
            if len(prep.report.notes) > 20:
                click.echo(f"note: {len(prep.report.notes) - 20} more notes", err=True)
            yield prep
    except SeccompilerError as exc:
        raise shown(exc) from None


def _plan(image: str, prep: Prepared, argv: tuple[str, ...]) -> ExecPlan:
    try:
        plan = make_plan(prep.root, prep.config, argv)
    except CommandError as exc:
        exc.location = Location(image)  # not the temporary directory it was unpacked in
        raise shown(exc, exc.status) from None
    return plan


def _program(policy: str) -> Program:
    try:
        return load_program(policy)
    except SeccompilerError as exc:
        click.echo(f"seccompiler: the policy {policy} does not compile; not running", err=True)
        raise shown(exc) from None


@click.group(
    "image", cls=HelpGroup, short_help="Test and record profiles against container images."
)
def image_group() -> None:
    """Test profiles against container images, and record profiles from them.

    IMAGE is an OCI image layout (directory or tar), a `docker save` archive or an unpacked
    root filesystem directory. See docs/image.md.
    """


_image_arg = click.argument("image", type=click.Path())  # a missing one is 125, as docker run
_ref_opt = click.option(
    "--ref", help="Which image of a layout or archive holding several (ref name or tag)."
)
_cmd_arg = click.argument("command", nargs=-1, type=click.UNPROCESSED)


@image_group.command(
    "test",
    short_help="Run a command in an image under a profile, audited.",
    cls=ProgramCommand,
)
@_image_arg
@profile_option("Policy to compile and run the programs under.")
@read_file_option(
    "--tests",
    "tests_path",
    help="YAML file of commands with expected status and output; each is run with and "
    "without the profile.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False),
    callback=not_stdout("the summary goes there"),
    help="Also write the report as JSON to this file.",
)
@_ref_opt
@timeout_option("Seconds before a single COMMAND is killed.")
@_cmd_arg
def image_test_cmd(
    image: str,
    policy: str,
    tests_path: str | None,
    report: str | None,
    ref: str | None,
    timeout: float | None,
    command: tuple[str, ...],
) -> int:
    """Run COMMAND (or the image's Entrypoint and Cmd) in IMAGE under POLICY, audited.

    COMMAND starts at the first argument after IMAGE, or after --; its options are its own.

    Exit status: the program's; 125 when seccompiler fails (a missing or bad image, policy
    or tests file); 126 when the program cannot be executed; 127 when it is not found; 2
    for a wrong command line. With --tests: 0 when every test passes, 1 when any behaves
    differently under the profile or fails its expectation.
    """
    if tests_path and command:
        raise click.UsageError("give either --tests or a COMMAND, not both")
    if report is not None:
        inputs = [image, policy, *([tests_path] if tests_path else [])]
        check_file_output(report, REPORT, inputs, "report")
    try:
        program = _program(policy)
        if tests_path:
            try:
                tests = load_tests(tests_path)
            except SeccompilerError as exc:
                raise shown(exc) from None
            with _image(image, ref) as prep:
                plans: list[ExecPlan | Outcome] = []
                for t in tests:
                    try:
                        plans.append(make_plan(prep.root, prep.config, t.argv))
                    except CommandError as exc:
                        plans.append(Outcome(exc.status, exc.message.encode()))

                def run(plan: ExecPlan, with_profile: bool, limit: float) -> Outcome:
                    prof = program if with_profile else None
                    return execute(prep.root, plan, prof, timeout=limit).outcome

                summary = run_tests(tests, plans, run)
            click.echo(render_summary(summary))
            if report:
                doc = {"image": image, "profile": policy, **summary_json(summary)}
                write_output(report, json.dumps(doc, indent=2) + "\n", REPORT)
            return 0 if summary.ok else 1
        with _image(image, ref) as prep:
            plan = _plan(image, prep, command)
            live = execute(prep.root, plan, program, timeout=timeout)
        _single_report(live.outcome, live.result, plan, policy)
        if report:
            doc = _single_json(image, policy, plan, live.outcome, live.result)
            write_output(report, json.dumps(doc, indent=2) + "\n", REPORT)
        return live.outcome.status
    except Failed as failed:
        return failed.status
    except SeccompilerError as exc:  # e.g. the native launcher is not built
        return shown(exc).status


def _single_report(outcome: Outcome, result: Any, plan: ExecPlan, policy: str) -> None:
    from seccompiler.commands.run import report_table

    tail = outcome.text().rstrip("\n").splitlines()[-TAIL_LINES:]
    click.echo(f"output of {' '.join(plan.argv)} (last {TAIL_LINES} lines):")
    for line in tail:
        click.echo(f"  | {line}")
    if not tail:
        click.echo("  (no output)")
    click.echo(f"exit status {outcome.status} under {policy}")
    if result is not None:
        for line in report_table(result):
            click.echo(line)


def _single_json(
    image: str, policy: str, plan: ExecPlan, outcome: Outcome, result: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "image": image,
        "profile": policy,
        "command": list(plan.argv),
        "user": f"{plan.uid}:{plan.gid}",
        **outcome_json(outcome),
    }
    if result is not None:
        doc["audit"] = result.to_json()
    return doc


@image_group.command(
    "record",
    short_help="Record the policy a command in an image needs.",
    cls=ProgramCommand,
)
@_image_arg
@record_options
@_ref_opt
@timeout_option("Seconds before the workload is killed.")
@_cmd_arg
def image_record_cmd(
    image: str,
    output: str | None,
    base: str | None,
    name: str | None,
    ref: str | None,
    timeout: float | None,
    command: tuple[str, ...],
) -> int:
    """Record the syscalls of COMMAND (or Entrypoint and Cmd) in IMAGE as a policy.

    Exit status: the workload's (the policy is written whatever it is), or 125/126/127 as
    for `image test`.
    """
    from seccompiler.commands.record import (
        check_base_sources,
        check_record_output,
        load_base,
        record,
    )

    check_record_output(output, base)
    try:
        base_prog = load_base(base)
        check_base_sources(output, base_prog)
        with _image(image, ref) as prep:
            plan = _plan(image, prep, command)
            return record(
                prep.root,
                plan,
                output=output,
                base=base,
                base_prog=base_prog,
                name=name,
                timeout=timeout,
            )
    except Failed as failed:
        return failed.status
    except SeccompilerError as exc:
        return shown(exc).status
