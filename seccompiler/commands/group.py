"""The click group behind ``seccompiler``: each subcommand is imported only when used."""

from __future__ import annotations

import importlib
import sys

import click

from seccompiler import __version__
from seccompiler.commands.cli import COMMANDS


class HelpGroup(click.Group):
    """A group whose command listing shows each command's one-line help whole.

    click cuts a short help to fit the line and ends it with "..."; here a long one is
    wrapped instead, and every command carries a ``short_help`` that fits in 80 columns.
    """

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=sys.maxsize)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class LazyGroup(HelpGroup):
    """A group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        cmd = getattr(importlib.import_module(module_name), attr)
        assert isinstance(cmd, click.Command)
        return cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="seccompiler")
def cli() -> None:
    """Compile YAML syscall policies into seccomp filters and prove what they block."""
