"""The ``seccompiler`` command: the only place where errors become text and exit codes.

Exit codes, the same for every command: 0 success; 1 the input was read and found wanting;
2 usage errors. Commands that run a program return its status, or 125/126/127 as
``docker run`` does. Commands are loaded lazily so that start-up stays fast: this module
imports neither click nor any command, and ``run ... -- PROGRAM`` in its plain form is
parsed without click (``commands/runfast.py``), since a user pays its start-up on every
launch of the program it wraps: on that path this module imports nothing itself, and
the error types are loaded when an error is to be rendered.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing itself is not imported on this path
if TYPE_CHECKING:
    from collections.abc import Callable

    from seccompiler.base.errors import SeccompilerError

# name -> "module:attribute"; each module lives in seccompiler/commands/.
COMMANDS: dict[str, str] = {
    "compile": "seccompiler.commands.compile:compile_cmd",
    "build": "seccompiler.commands.build:build_cmd",
    "syscalls": "seccompiler.commands.syscalls:syscalls_cmd",
    "bpf": "seccompiler.commands.bpf:bpf_group",
    "verify": "seccompiler.commands.verify:verify_cmd",
    "diff": "seccompiler.commands.diff:diff_cmd",
    "stats": "seccompiler.commands.stats:stats_cmd",
    "lint": "seccompiler.commands.lint:lint_cmd",
    "import": "seccompiler.commands.importer:import_cmd",
    "test": "seccompiler.commands.test:test_cmd",
    "run": "seccompiler.commands.run:run_cmd",
    "record": "seccompiler.commands.record:record_cmd",
    "image": "seccompiler.commands.image:image_group",
    "pss": "seccompiler.commands.pss:pss_group",
    "yama": "seccompiler.commands.yama:yama_group",
    "node": "seccompiler.commands.node:node_group",
}


def render_error(err: SeccompilerError) -> str:
    """Render an error the way compilers do: ``file:line:col: error: message``."""
    from seccompiler.base.errors import ErrorList, InputError

    if isinstance(err, ErrorList) and err.errors:
        return "\n".join(render_error(e) for e in err.errors)
    where = ""
    if isinstance(err, InputError) and err.location is not None:
        where = f"{err.location}: "
    text = f"{where}error: {err.message}"
    if err.hint:
        text += f"\n  hint: {err.hint}"
    return text


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status (the console script exits with it)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["run"]:
        from seccompiler.commands import runfast

        plain = runfast.parse(args[1:])
        if plain is not None:
            return _guarded(lambda: runfast.execute(plain))
    return _guarded(lambda: _click_main(args))


def _click_main(args: list[str]) -> object:
    import click

    from seccompiler.commands.group import cli

    try:
        return cli.main(args=args, prog_name="seccompiler", standalone_mode=False)
    except click.exceptions.UsageError as exc:
        exc.show()
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code


def _guarded(run: Callable[[], object]) -> int:
    try:
        rv = run()
    except BrokenPipeError:
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from seccompiler.base.errors import SeccompilerError, UsageError

        if not isinstance(exc, SeccompilerError):
            raise
        print(render_error(exc), file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    if isinstance(rv, int):
        return rv
    return 0


def entry() -> None:
    from seccompiler.runner import frontentry

    frontentry.take_env()  # the native front's variables: never the workload's
    status = main()
    if sys.argv[1:2] == ["run"]:
        # run wraps a program and its work is done: nothing of it is left to flush or close
        # but the standard streams, so the interpreter's teardown is skipped (a tenth of a
        # cached run's own time here)
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)
        os._exit(status)
    sys.exit(status)


def _flush(stream: object) -> None:
    try:
        stream.flush()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # None, or closed: nothing more to say there
        return


if __name__ == "__main__":
    entry()
