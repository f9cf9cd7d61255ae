"""``seccompiler import``: a Docker, Podman or OCI JSON profile as a policy."""

from __future__ import annotations

import click

from seccompiler.backends.policy_yaml import import_profile
from seccompiler.base.fsio import check_file_output, write_output
from seccompiler.commands.options import abi_option, caps_option, file_option, kernel_option
from seccompiler.commands.sources import parse_abis
from seccompiler.frontend import ocijson
from seccompiler.runner.recpolicy import POLICY_FILE


@click.command("import", short_help="Turn a Docker, Podman or OCI JSON profile into a policy.")
@click.argument("profile", type=click.Path(dir_okay=False))
@file_option("-o", "--output", help="Policy file to write (default: -).")
@abi_option()
@caps_option()
@kernel_option("Kernel for the profile's minKernel.")
def import_cmd(
    profile: str,
    output: str | None,
    abis: tuple[str, ...],
    caps: tuple[str, ...],
    kernel: str | None,
) -> int:
    """Write PROFILE (JSON) as a policy that compiles to the same decisions.

    includes/excludes are resolved for --caps (default: the runtimes' default set), --abi and
    --kernel, so the policy describes one kind of container exactly.
    """
    from seccompiler.frontend.resolve import normalise_caps

    if output and output != "-":
        check_file_output(output, POLICY_FILE, [profile])
    prof = ocijson.load(profile)
    capset = normalise_caps(list(caps) or None) if caps else None
    text, _ = import_profile(
        prof, caps=capset, abis=[a.name for a in parse_abis(abis)] or None, kernel=kernel
    )
    if output and output != "-":
        write_output(output, text, POLICY_FILE)
    else:
        click.echo(text, nl=False)
    return 0
