"""``seccompiler compile``: one policy → OCI JSON, raw BPF and PFC per kernel family."""

from __future__ import annotations

from pathlib import Path

import click

from seccompiler.base.errors import UsageError
from seccompiler.base.fsio import check_output, check_replaceable, replace_tree
from seccompiler.commands.options import (
    REPORT_FORMATS,
    DirPath,
    abi_option,
    caps_option,
    echo_json,
    file_json,
)
from seccompiler.compile import (
    FORMATS,
    STAMP,
    is_output,
    load_program,
    notes,
    output_tree,
    parse_formats,
    prove_reports,
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
    help=f"Directory to replace with the outputs and {STAMP} (created if missing).",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    metavar="oci,bpf,pfc|json",
    help=f"Formats to emit (default: all of {', '.join(FORMATS)}); 'json' (alone or among "
    "them) prints the result as one JSON document.",
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
    is written; OUTPUT is then replaced whole, so a failure leaves the previous outputs as
    they were. OUTPUT must be new, empty or an earlier output of compile (its files listed
    in COMPILED.json, nothing else there), and hold none of the files the policy reads. The
    files written and the proof of each ABI go to standard output (with --format json, as
    one JSON document); notes go to standard error.
    """
    outputs, report = _split_formats(formats)
    check_output(outdir, [policy], "output directory")
    check_replaceable(outdir, is_output)  # refused before the work, not after it
    program = load_program(policy, caps=caps or None, abis=abis or None)
    check_output(outdir, program.sources, "output directory")  # and every file it extends
    files = render_outputs(program, parse_formats(outputs))
    proofs = prove_reports(program, files)
    out = Path(outdir)
    replace_tree(outdir, output_tree(files), is_output)
    said = notes(program, files)
    if report == "json":
        echo_json(
            {
                "policy": policy,
                "name": program.name,
                "abis": [p.abi.name for p in program.abis],
                "outputs": [
                    {"format": rel.split("/")[0], "family": Path(rel).stem}
                    | file_json(out / rel, data)
                    for rel, data in sorted(files.items())
                ],
                "proofs": [r.to_json() for r in proofs],
                "notes": said,
            }
        )
    else:
        for rel in sorted(files):
            click.echo(f"wrote {out / rel}")
        for r in proofs:
            click.echo("\n".join(r.lines()))
    for line in said:
        click.echo(line, err=True)
    return 0


def _split_formats(values: tuple[str, ...]) -> tuple[list[str], str]:
    """``--format`` values: the files to emit, and the report's format (text or json)."""
    words = [w.strip().lower() for v in values for w in v.split(",") if w.strip()]
    reports = {w for w in words if w in REPORT_FORMATS}
    if len(reports) > 1:
        raise UsageError("give --format text or --format json, not both")
    return [w for w in words if w not in REPORT_FORMATS], reports.pop() if reports else "text"
