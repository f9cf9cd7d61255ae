"""``seccompiler test``: run every syscall under the compiled filter and compare with the policy."""

from __future__ import annotations

import json
import sys

import click

from seccompiler.arch import abi as abimod
from seccompiler.arch import tables
from seccompiler.base.errors import UsageError
from seccompiler.commands.options import abi_option, caps_option, format_option
from seccompiler.compile import load_program
from seccompiler.runner import host, livetest


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _abis(values: tuple[str, ...]) -> list[str] | None:
    out = []
    for v in _split(values):
        a = abimod.lookup(v)
        if a is None or a.name not in host.probe_abis():
            raise UsageError(
                f"cannot probe ABI '{v}' here",
                hint=f"choose from {', '.join(host.probe_abis())}",
            )
        out.append(a.name)
    return out or None


def _names(values: tuple[str, ...]) -> list[str] | None:
    names = _split(values)
    for n in names:
        if n not in tables.all_names() and not (n[:1] == "#" and n[1:].isdigit()):
            hint = ", ".join(tables.suggest(n))
            raise UsageError(f"unknown syscall '{n}'", hint=f"did you mean {hint}?" if hint else "")
    return names or None


def render_text(report: livetest.Report) -> list[str]:
    lines = [f"{report.policy}: twin filter equal to the real one ({report.proof} proof)"]
    for abi_name, s in report.summary().items():
        lines.append(
            f"  {abi_name:7} {s['syscalls']:4} syscalls, {s['probed']:4} calls, "
            f"{s['refused']:4} refused by policy, {s['ok']:4} as the policy says, "
            f"{s['mismatch']} mismatches"
        )
    for abi_name, name, why in report.unprobed:
        lines.append(f"  not probed: {abi_name} {name}: {why}")
    for row in report.mismatches:
        c = row.point.call
        args = ",".join(f"{a:#x}" for a in c.args)
        lines.append(
            f"MISMATCH {c.abi} {row.point.name} (nr {c.nr}, args {args}): policy says "
            f"{row.point.expected}; {row.problem} "
            f"[twin: {row.twin.outcome} {row.twin.ret}; real: {row.real.outcome} "
            f"ret={row.real.ret} signal={row.real.signal}]"
        )
    lines.append(f"{len(report.mismatches)} mismatches in {report.seconds:.1f}s")
    return lines


@click.command("test", short_help="Prove in this kernel that a policy's filter does what it says.")
@click.argument("policy", type=click.Path(dir_okay=False))
@abi_option("ABIs to probe (default: every one this machine can enter).", "x86_64,x86,x32")
@click.option(
    "--syscalls",
    multiple=True,
    metavar="NAME[,NAME…]",
    help="Only these syscalls, by name or as #NR for a policy's nr: rules (default: every "
    "syscall of each ABI, and one unknown number).",
)
@caps_option("Capabilities, as for compile.")
@format_option(show_default=True)
def test_cmd(
    policy: str, abis: tuple[str, ...], syscalls: tuple[str, ...], caps: tuple[str, ...], fmt: str
) -> int:
    """Prove in this kernel that POLICY's filter refuses what it says, and nothing else.

    Each syscall is made by the native probe, in a sandboxed child of its own, first under
    a twin filter that answers each refusal with a distinctive errno, then under the real
    filter. Exit status 1 on any mismatch. See docs/testing.md.
    """
    program = load_program(policy, caps=caps or None)
    tty = sys.stderr.isatty()

    def progress(stage: str, done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            click.echo(f"\r{stage}: {done}/{total}", nl=done == total, err=True)

    report = livetest.run_matrix(
        program, abis=_abis(abis), names=_names(syscalls), progress=progress if tty else None
    )
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in render_text(report):
            click.echo(line)
    return 1 if report.mismatches else 0
