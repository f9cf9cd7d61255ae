"""``seccompiler lint``: findings about a policy, a JSON profile or a raw filter."""

from __future__ import annotations

import json

import click

from seccompiler.backends import oci
from seccompiler.base.errors import Location
from seccompiler.commands.options import abi_option, caps_option, format_option, kernel_option
from seccompiler.commands.sources import Source, load
from seccompiler.frontend.ocijson import Profile
from seccompiler.platform import runtimes, targets
from seccompiler.prove.lint import Finding, failing, lint_filter, lint_profile, lint_program


@click.command("lint", short_help="Report risky allowances and runtime pitfalls of a filter.")
@click.argument("file", type=click.Path(dir_okay=False))
@abi_option()
@caps_option()
@kernel_option()
@click.option(
    "--runtime-libseccomp",
    "runtime",
    metavar="VERSION",
    help="Flag names this libseccomp (as runc links it) does not know, e.g. 2.5.4.",
)
@click.option(
    "--runtime",
    "targets_",
    multiple=True,
    metavar="NAME-VERSION",
    help="Report what this runtime cannot load, e.g. runc-1.1.5, crun-1.14/libseccomp-2.5.4 "
    "(repeatable).",
)
@format_option()
def lint_cmd(
    file: str,
    abis: tuple[str, ...],
    caps: tuple[str, ...],
    kernel: str | None,
    runtime: str | None,
    targets_: tuple[str, ...],
    fmt: str,
) -> int:
    """Report risky allowances and runtime pitfalls in FILE (policy, JSON profile, raw BPF).

    Exit 1 when there is any warning or error.
    """
    wanted = [runtimes.parse_option(t) for t in targets_]
    src = load(file, abis=abis, caps=caps, kernel=kernel)
    findings: list[Finding] = []
    for target in wanted:
        findings += runtime_findings(src, target)
    if isinstance(src.profile, Profile):
        findings += lint_profile(src.profile)
    if src.program is not None:
        findings += lint_program(src.program, runtime)
    for flt in src.filters.values():
        findings += lint_filter(flt, src.abis)
    if fmt == "json":
        click.echo(json.dumps([f.to_json() for f in findings], indent=2, sort_keys=True))
    else:
        for f in findings:
            click.echo(str(f))
        click.echo(f"{len(findings)} findings")
    return 1 if failing(findings) else 0


def runtime_findings(src: Source, runtime: runtimes.Runtime) -> list[Finding]:
    """What ``runtime`` refuses in a JSON profile, or in the OCI JSON of a policy."""
    if isinstance(src.profile, Profile):
        profile = src.profile
        doc = profile.raw
        rules = profile.rules

        def where(p: runtimes.Problem) -> Location:
            if p.field == "syscalls" and p.index < len(rules):
                return rules[p.index].where
            return profile.where(doc)

    elif src.program is not None:
        program = src.program
        doc = oci.to_oci(program)

        def where(p: runtimes.Problem) -> Location:
            return targets.locate(program, doc, p)

    else:
        return []
    return [
        Finding(
            "runtime-refuses", "error", f"{runtime} refuses this profile: {p.message}", where(p)
        )
        for p in runtimes.problems(doc, runtime)
    ]
