"""``seccompiler diff``: which syscalls two policies, profiles or filters answer differently."""

from __future__ import annotations

import json

import click

from seccompiler.commands.options import abi_option, caps_option, format_option, kernel_option
from seccompiler.commands.sources import Source, load, parse_abis
from seccompiler.prove.diff import Side, diff, side_from_filters


def _side(label: str, src: Source) -> Side:
    if src.program is not None:
        return Side(label, src.abis, src.program, None, src.bad_arch)
    return side_from_filters(label, src.abis, src.filters)


@click.command("diff", short_help="Show the syscalls two policies or filters answer differently.")
@click.argument("a", type=click.Path(dir_okay=False))
@click.argument("b", type=click.Path(dir_okay=False))
@abi_option("Compare these ABIs.")
@caps_option()
@kernel_option("Kernel for JSON profiles' minKernel.")
@format_option()
def diff_cmd(
    a: str, b: str, abis: tuple[str, ...], caps: tuple[str, ...], kernel: str | None, fmt: str
) -> int:
    """Print, per ABI, each syscall whose action differs between A and B.

    A and B may each be a policy, a JSON profile (ours, Docker's or Podman's; includes and
    excludes resolved for --caps, --abi, --kernel) or raw BPF (with --abi). Exit 0 when they
    agree everywhere, 1 when they differ.
    """
    sa = load(a, abis=abis, caps=caps, kernel=kernel)
    sb = load(b, abis=abis, caps=caps, kernel=kernel)
    result = diff(_side("A", sa), _side("B", sb), parse_abis(abis) or None)
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        click.echo(f"A: {a}\nB: {b}")
        if result.equal:
            click.echo("no differences" + (" on the ABIs both cover" if result.lines() else ""))
        click.echo("\n".join(result.lines()), nl=bool(result.lines()))
    return 0 if result.equal else 1
