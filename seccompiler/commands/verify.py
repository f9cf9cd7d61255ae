"""``seccompiler verify``: prove a filter answers what its policy says, input by input."""

from __future__ import annotations

import click

from seccompiler.base.errors import UsageError
from seccompiler.base.fsio import read_bytes
from seccompiler.commands.options import abi_option, caps_option, file_option, kernel_option
from seccompiler.commands.sources import Source, load, parse_abis
from seccompiler.prove.verify import VerifyReport, verify_bpf


@click.command("verify")
@click.argument("policy", type=click.Path(dir_okay=False))
@file_option("--bpf", "bpf_path", help="Raw filter to check (default: compile POLICY now).")
@abi_option()
@caps_option()
@kernel_option()
def verify_cmd(
    policy: str,
    bpf_path: str | None,
    abis: tuple[str, ...],
    caps: tuple[str, ...],
    kernel: str | None,
) -> int:
    """Prove the BPF answers what POLICY says for every arch, syscall number and argument.

    POLICY is a policy (its BPF defaults to our compiler's output) or a JSON profile (its BPF
    defaults to libseccomp's, built as runc builds it, with the names that libseccomp does not
    know left out on both sides). Exits 1 on any disagreement.
    """
    src = load(policy, abis=abis, caps=caps, kernel=kernel)
    if src.program is None:
        raise UsageError(
            f"{policy} is raw BPF; verify needs the policy or JSON profile it should obey",
            hint="seccompiler verify POLICY --bpf FILTER",
        )
    program = src.program
    families = list(dict.fromkeys(a.family for a in src.abis))
    reports: list[VerifyReport] = []
    if bpf_path is not None:
        wanted = {a.family for a in parse_abis(abis)} or set(families)
        if len(wanted) != 1:
            raise UsageError(
                f"{policy} covers several kernel families ({', '.join(sorted(wanted))})",
                hint="a raw filter serves one family: add --abi for one of them",
            )
        reports.append(verify_bpf(program, read_bytes(bpf_path), wanted.pop(), cross_check=True))
    elif src.kind == "policy":
        from seccompiler.backends.bpf import compile_family

        reports += [
            verify_bpf(program, compile_family(program, f), f, cross_check=True) for f in families
        ]
    else:
        reports += _verify_profile(src, families, caps, kernel)
    if not reports:
        raise UsageError(
            f"nothing of {policy} could be verified here",
            hint="choose ABIs this libseccomp can build with --abi, or give the filter with --bpf",
        )
    for r in reports:
        click.echo(f"{r.family}: {r.instructions} instructions")
        click.echo("\n".join(f"  {line}" for line in r.lines()))
    return 0 if all(r.ok for r in reports) else 1


def _verify_profile(
    src: Source, families: list[str], caps: tuple[str, ...], kernel: str | None
) -> list[VerifyReport]:
    """A JSON profile against libseccomp's filter for it, built as runc builds it."""
    from seccompiler.frontend import ocijson
    from seccompiler.prove import libseccomp_ref

    assert isinstance(src.profile, ocijson.Profile)
    out: list[VerifyReport] = []
    for fam in families:
        names = [a.name for a in src.abis if a.family == fam]
        if not all(libseccomp_ref.supports(a) for a in src.abis if a.family == fam):
            click.echo(
                f"note: libseccomp {libseccomp_ref.version()} cannot build a faithful "
                f"{fam} filter on this machine"
            )
            continue
        ref = libseccomp_ref.build_profile(
            src.profile, fam, caps=_caps(caps), kernel=kernel, abis=names
        )
        res = ocijson.resolve(
            src.profile, caps=_caps(caps), abis=names, kernel=kernel, knows=libseccomp_ref.knows
        )
        if res.skipped:
            left = ", ".join(sorted({n for _, n in res.skipped}))
            click.echo(f"note: libseccomp {libseccomp_ref.version()} does not know: {left}")
        out.append(verify_bpf(res.program, ref.bpf, fam, cross_check=True))
    return out


def _caps(caps: tuple[str, ...]) -> frozenset[str]:
    from seccompiler.frontend.resolve import normalise_caps

    return normalise_caps(list(caps) or None)
