"""``seccompiler verify``: prove a filter answers what its policy says, input by input."""

from __future__ import annotations

import click

from seccompiler.base.errors import UsageError
from seccompiler.base.fsio import read_bytes
from seccompiler.bpf.ident import load_filter
from seccompiler.commands.options import (
    abi_option,
    caps_option,
    echo_json,
    file_option,
    format_option,
    kernel_option,
)
from seccompiler.commands.sources import Source, load, parse_abis
from seccompiler.program import Program
from seccompiler.prove.verify import VerifyReport, verify_bpf


@click.command("verify", short_help="Prove a filter answers what its policy says, on every input.")
@click.argument("policy", type=click.Path(dir_okay=False))
@file_option("--bpf", "bpf_path", help="Raw filter to check (default: compile POLICY now).")
@abi_option()
@caps_option()
@kernel_option()
@format_option()
def verify_cmd(
    policy: str,
    bpf_path: str | None,
    abis: tuple[str, ...],
    caps: tuple[str, ...],
    kernel: str | None,
    fmt: str,
) -> int:
    """Prove the BPF answers what POLICY says for every arch, syscall number and argument.

    POLICY is a policy (its BPF defaults to our compiler's output) or a JSON profile (its BPF
    defaults to libseccomp's, built as runc builds it, with the names that libseccomp does not
    know left out on both sides). Exits 1 on any disagreement. The verdicts go to standard
    output, notes to standard error.
    """
    # with a raw filter, the policy is read whole: the filter answers for every ABI of its
    # family, and --abi only narrows what is reported
    src = load(policy, abis=() if bpf_path else abis, caps=caps, kernel=kernel)
    if src.program is None:
        raise UsageError(
            f"{policy} is raw BPF; verify needs the policy or JSON profile it should obey",
            hint="seccompiler verify POLICY --bpf FILTER",
        )
    program = src.program
    families = list(dict.fromkeys(a.family for a in src.abis))
    reports: list[VerifyReport] = []
    notes: list[str] = []
    if bpf_path is not None:
        reports.append(_verify_raw(policy, program, families, bpf_path, abis))
    elif src.kind == "policy":
        from seccompiler.backends.bpf import compile_family

        reports += [
            verify_bpf(program, compile_family(program, f), f, cross_check=True) for f in families
        ]
    else:
        reports += _verify_profile(src, families, caps, kernel, notes)
    if not reports:
        raise UsageError(
            f"nothing of {policy} could be verified here",
            hint="choose ABIs this libseccomp can build with --abi, or give the filter with --bpf",
        )
    return 0 if _show(policy, bpf_path, reports, notes, fmt) else 1


def _verify_raw(
    policy: str, program: Program, families: list[str], bpf_path: str, abis: tuple[str, ...]
) -> VerifyReport:
    """A raw filter against the whole policy, for the one family its arch checks serve.

    ``--abi`` picks the family and narrows what is reported; without it, the family is the
    one of the policy's that the filter compares its arch token against.
    """
    data = read_bytes(bpf_path)
    chosen = parse_abis(abis)
    missing = [a.name for a in chosen if program.abi(a.name) is None]
    if missing:
        raise UsageError(
            f"{policy} does not cover {', '.join(missing)}",
            hint=f"it covers: {', '.join(p.abi.name for p in program.abis)}",
        )
    wanted = {a.family for a in chosen} or _families_checked(data, bpf_path) & set(families)
    if len(wanted) != 1:
        raise UsageError(
            f"{bpf_path}: cannot tell which of {', '.join(sorted(families))} the filter "
            "serves from its arch checks",
            hint="a raw filter serves one family: add --abi for one of them",
        )
    only = {a.name for a in chosen} or None
    return verify_bpf(program, data, wanted.pop(), cross_check=True, only=only)


def _show(
    policy: str, bpf_path: str | None, reports: list[VerifyReport], notes: list[str], fmt: str
) -> bool:
    """Print the verdicts (a JSON document, or text per family); whether all agree."""
    ok = all(r.ok for r in reports)
    if fmt == "json":
        echo_json(
            {
                "policy": policy,
                "bpf": bpf_path,
                "ok": ok,
                "reports": [r.to_json() for r in reports],
                "notes": notes,
            }
        )
    else:
        for r in reports:
            click.echo(f"{r.family}: {r.instructions} instructions")
            click.echo("\n".join(f"  {line}" for line in r.lines()))
    return ok


def _verify_profile(
    src: Source, families: list[str], caps: tuple[str, ...], kernel: str | None, notes: list[str]
) -> list[VerifyReport]:
    """A JSON profile against libseccomp's filter for it, built as runc builds it.

    Each note (a family or names libseccomp cannot build) is added to ``notes`` and shown on
    standard error as it is found.
    """

    def note(text: str) -> None:
        notes.append(text)
        click.echo(f"note: {text}", err=True)

    from seccompiler.frontend import ocijson
    from seccompiler.prove import libseccomp_ref

    assert isinstance(src.profile, ocijson.Profile)
    out: list[VerifyReport] = []
    for fam in families:
        names = [a.name for a in src.abis if a.family == fam]
        if not all(libseccomp_ref.supports(a) for a in src.abis if a.family == fam):
            note(
                f"libseccomp {libseccomp_ref.version()} cannot build a faithful "
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
            note(f"libseccomp {libseccomp_ref.version()} does not know: {left}")
        out.append(verify_bpf(res.program, ref.bpf, fam, cross_check=True))
    return out


def _caps(caps: tuple[str, ...]) -> frozenset[str]:
    from seccompiler.frontend.resolve import normalise_caps

    return normalise_caps(list(caps) or None)


def _families_checked(data: bytes, path: str) -> set[str]:
    """The kernel families whose arch token the filter compares against, in the byte order
    its bytes tell (a program the kernel refuses in either order is an ``InputError``)."""
    return {a.family for a in load_filter(data, path)[1]}
