"""Click options several commands share, spelled once, and how a command stops with a status."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.decorators import FC

from seccompiler.base.errors import SeccompilerError
from seccompiler.commands.runfast import OWN_FAILURE

Decorator = Callable[[FC], FC]


class Failed(Exception):
    """Stop a command with an exit status after its message was shown."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def shown(exc: SeccompilerError, status: int = OWN_FAILURE) -> Failed:
    """Print the error as the CLI renders errors; the ``Failed`` to raise."""
    from seccompiler.commands.cli import render_error  # cli imports every command

    click.echo(render_error(exc), err=True)
    return Failed(status)


class ProgramCommand(click.Command):
    """A command that runs a program: everything from the program's name on is its own.

    The program's arguments start at the first argument after the command's own (``IMAGE``
    for ``image test``), or after ``--``. An option before that is the command's, and one it
    does not know is a usage error (exit 2), never the program to run; one after it is the
    program's, as for ``docker run`` and ``env``.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        start = self._program_start(ctx, args)
        if start is not None:  # click stops reading options at the first "--"
            args = [*args[:start], "--", *args[start:]]
        return super().parse_args(ctx, args)

    def _program_start(self, ctx: click.Context, args: list[str]) -> int | None:
        """Where the program's name stands in ``args``; None if "--" comes first, or none."""
        takes_value: set[str] = set()
        leading = 0  # the command's own arguments, before the program's
        for param in self.get_params(ctx):
            if isinstance(param, click.Option) and not (param.is_flag or param.count):
                takes_value.update(param.opts)
            elif isinstance(param, click.Argument) and param.nargs != -1:
                leading += 1
        i = 0
        while i < len(args):
            word = args[i]
            if word == "--":
                return None
            if word.startswith("-") and word != "-":
                if word in takes_value:  # not --name=value, nor -oVALUE
                    i += 1
            elif leading:
                leading -= 1
            else:
                return i
            i += 1
        return None


STDOUT = "-"  # as an output file: standard output


def file_option(*decls: str, help: str, required: bool = False) -> Decorator[Any]:
    """An option naming a file (not a directory)."""
    return click.option(*decls, type=click.Path(dir_okay=False), required=required, help=help)


def stdout_or_file(output: str | None) -> str | None:
    """The file an output option names, or None for standard output (no option, or '-')."""
    return None if output in (None, STDOUT) else output


class DirPath(click.Path):
    """A directory to write into: '-' (standard output) cannot hold one and is refused."""

    def __init__(self) -> None:
        super().__init__(file_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == STDOUT:
            opt = param.opts[0] if param is not None and param.opts else "the option"
            self.fail(
                f"'{opt} -' means standard output, which cannot hold a directory of files; "
                f"name a directory (e.g. {opt} out/)",
                param,
                ctx,
            )
        return super().convert(value, param, ctx)


def not_stdout(why: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """An option callback refusing '-' for a file that cannot go to standard output."""

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value == STDOUT:
            raise click.BadParameter(f"'-' (standard output) is not possible here: {why}")
        return value

    return check


def read_file_option(*decls: str, help: str, required: bool = False) -> Decorator[Any]:
    """An option naming a file a command that runs a program reads: a directory or a missing
    file there is the command's own failure (125, as docker run), found when it is read."""
    return click.option(*decls, type=click.Path(), required=required, help=help)


def profile_option(help: str) -> Decorator[Any]:
    """``--profile POLICY``: the policy a program runs under."""
    return read_file_option("--profile", "policy", required=True, help=help)


def abi_option(help: str = "Only these ABIs.", metavar: str = "ABI[,ABI…]") -> Decorator[Any]:
    """``--abi``, repeatable and comma-separated (see ``sources.split_list``)."""
    return click.option("--abi", "abis", multiple=True, metavar=metavar, help=help)


def caps_option(help: str = "Granted capabilities.") -> Decorator[Any]:
    return click.option("--caps", multiple=True, metavar="CAP[,CAP…]", help=help)


def kernel_option(help: str = "Kernel for a JSON profile's minKernel.") -> Decorator[Any]:
    return click.option("--kernel", metavar="VERSION", help=help)


REPORT_FORMATS = ("text", "json")


def format_option(*, show_default: bool = False) -> Decorator[Any]:
    """``--format text|json``: the report as text, or as one JSON document on stdout."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(REPORT_FORMATS),
        default="text",
        show_default=show_default,
        help="text, or json: one JSON document on standard output (notes stay on stderr).",
    )


def echo_json(doc: object) -> None:
    """A ``--format json`` result: one document, keys sorted, on standard output."""
    click.echo(json.dumps(doc, indent=2, sort_keys=True))


def file_json(path: str | Path, data: bytes) -> dict[str, object]:
    """A written file as ``--format json`` lists it: where it is, its size and sha256."""
    return {"path": str(path), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


MAX_SECONDS = 7 * 24 * 3600.0  # a week: beyond it a timer cannot be armed on every platform


class Seconds(click.ParamType[float, Any]):
    """A duration in seconds: a finite number above 0, at most a week."""

    name = "SECONDS"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            number = value
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                self.fail(f"'{value}' is not a number of seconds", param, ctx)
        if not math.isfinite(number) or not 0 < number <= MAX_SECONDS:
            self.fail(
                f"{value} is not a duration: give seconds above 0 and at most {MAX_SECONDS:.0f}",
                param,
                ctx,
            )
        return number


SECONDS = Seconds()


def timeout_option(help: str) -> Decorator[Any]:
    return click.option("--timeout", type=SECONDS, help=help)


def record_options(f: FC) -> FC:
    """``-o``, ``--base`` and ``--name`` of ``record`` and ``image record``."""
    f = click.option("--name", help="Name of the recorded policy (default: recorded-PROGRAM).")(f)
    f = read_file_option(
        "--base", help="Write only what this policy does not already allow (the output extends it)."
    )(f)
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False),
        callback=lambda ctx, param, value: stdout_or_file(value),
        help="Policy file to write (default, or '-': standard output).",
    )(f)
