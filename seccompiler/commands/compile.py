"""``seccompiler compile``: one policy → OCI JSON, raw BPF and PFC per kernel family."""

from __future__ import annotations

from pathlib import Path

import click

from seccompiler.base.fsio import check_output, check_writable, write_atomic
from seccompiler.commands.options import DirPath, abi_option, caps_option
from seccompiler.compile import (
    FORMATS,
    load_program,
    notes,
    parse_formats,
    prove_outputs,
    render_outputs,
)


@click.command("compile", short_help="Compile a policy into OCI JSON, raw BPF and PFC.")
@click.argument("policy", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    "outdir",
    required=True,
    type=DirPath(),
    help="Directory to write into (created if missing).",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    metavar="oci,bpf,pfc",
    help=f"Formats to emit (default: all of {', '.join(FORMATS)}).",
)
@abi_option("Only these ABIs of the policy (default: all it names).")
@caps_option(
    "Capabilities granted to the container: names, 'default' or 'none' "
    "(default: the container runtimes' default set)."
)
def compile_cmd(
    policy: str, outdir: str, formats: tuple[str, ...], abis: tuple[str, ...], caps: tuple[str, ...]
) -> int:
    """Compile POLICY into OCI JSON, raw BPF and PFC under OUTPUT.

    Every BPF filter is checked against the policy by exhaustive emulation before anything
    is written; nothing is written unless every output is ready.
    """
    program = load_program(policy, caps=caps or None, abis=abis or None)
    files = render_outputs(program, parse_formats(formats))
    summary = prove_outputs(program, files)
    out = Path(outdir)
    for rel in sorted(files):  # all or nothing: every target is checked before any is written
        check_output(out / rel, [policy])
        check_writable(out / rel)
    for rel, data in sorted(files.items()):
        write_atomic(out / rel, data)
    for rel in sorted(files):
        click.echo(f"wrote {out / rel}")
    for line in summary:
        click.echo(line)
    for line in notes(program, files):
        click.echo(line, err=True)
    return 0
