"""``seccompiler bpf``: read, write and run raw seccomp BPF, ours or anyone's."""

from __future__ import annotations

import sys

import click

from seccompiler.arch.abi import X32_SYSCALL_BIT, Abi
from seccompiler.arch.tables import table
from seccompiler.base.errors import UsageError
from seccompiler.base.fsio import (
    OutputKind,
    check_file_output,
    first_line,
    read_bytes,
    read_text,
    write_output,
)
from seccompiler.bpf.asm import assemble_checked, assemble_listing
from seccompiler.bpf.check import loadable
from seccompiler.bpf.disasm import STAMP, disassemble
from seccompiler.bpf.emulate import SeccompData, make_args
from seccompiler.bpf.ident import identify, load_filter
from seccompiler.bpf.insn import Endian, decode, encode
from seccompiler.commands.group import HelpGroup
from seccompiler.commands.sources import parse_abis


def _one_abi(values: tuple[str, ...]) -> Abi | None:
    abis = parse_abis(values)
    if len(abis) > 1:
        raise UsageError("give one --abi")
    return abis[0] if abis else None


def _endian(abi: Abi | None, endian: str | None) -> Endian | None:
    """The byte order given (``--endian``, else the ABI's), or None to let the bytes tell."""
    if endian:
        return "big" if endian == "big" else "little"
    return abi.endian if abi else None


def _told_order(data: bytes, path: str) -> Endian:
    found = identify(data, path)
    if found is None:
        raise UsageError(
            f"{path}: cannot tell the byte order: the kernel would accept the program in "
            "neither, and no arch check in it names an ABI",
            hint="give --abi (or --endian)",
        )
    return found.endian


def _served(named: tuple[Abi, ...], path: str) -> Abi:
    """The ABI a filter serves without --abi: the native one of the one family it checks."""
    natives = [a for a in named if a.name == a.family]
    if len(natives) == 1:
        return natives[0]
    if len(named) == 1:
        return named[0]
    what = ", ".join(a.name for a in named) or "no ABI"
    raise UsageError(
        f"{path}: cannot tell which ABI to run: its arch checks name {what}",
        hint="give --abi, e.g. --abi x86_64",
    )


# Raw BPF cannot carry a stamp: a file there is replaced only when it is a whole filter the
# kernel would load (an earlier `bpf asm`), never when it is text, a note or a cut-off one.
FILTER = OutputKind("seccomp filter", loadable)
LISTING = OutputKind("BPF listing", first_line(STAMP))


def _emit(data: bytes, output: str | None, kind: OutputKind) -> None:
    if output and output != "-":
        write_output(output, data, kind)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


_ABI = click.option("--abi", "abi", multiple=True, metavar="ABI", help="ABI the filter is for.")
_ENDIAN = click.option(
    "--endian",
    type=click.Choice(["little", "big"]),
    help="Byte order (default: the ABI's, else what the bytes tell).",
)
_OUT = click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here.")


@click.group("bpf", cls=HelpGroup)
def bpf_group() -> None:
    """Disassemble, assemble and emulate raw seccomp BPF."""


@bpf_group.command("disasm", short_help="Print raw BPF as a listing `bpf asm` reads back.")
@click.argument("file", type=click.Path(dir_okay=False))
@_ABI
@_ENDIAN
@_OUT
@click.option("--no-comments", is_flag=True, help="Leave out the syscall-name comments.")
def disasm_cmd(
    file: str, abi: tuple[str, ...], endian: str | None, output: str | None, no_comments: bool
) -> int:
    """Print FILE (raw BPF) as a listing that `bpf asm` reads back byte for byte."""
    a = _one_abi(abi)
    if output and output != "-":
        check_file_output(output, LISTING, [file])
    data = read_bytes(file)
    order = _endian(a, endian) or _told_order(data, file)
    insns = decode(data, order, file)
    _emit(disassemble(insns, order, a, comments=not no_comments).encode(), output, LISTING)
    return 0


@bpf_group.command("asm", short_help="Assemble a listing into raw BPF.")
@click.argument("file", type=click.Path(dir_okay=False))
@_ENDIAN
@_OUT
@click.option(
    "--no-check",
    is_flag=True,
    help="Write the program even where the kernel would refuse to load it (test inputs).",
)
def asm_cmd(file: str, endian: str | None, output: str | None, no_check: bool) -> int:
    """Assemble a listing FILE into raw BPF (to -o, or standard output).

    A program the kernel would refuse to load (a jump out of the program, no return at the
    end, an opcode seccomp does not allow, …) is an error at its line, unless --no-check.
    """
    order: Endian | None = None if endian is None else ("big" if endian == "big" else "little")
    if output and output != "-":
        check_file_output(output, FILTER, [file])
    read = assemble_listing if no_check else assemble_checked
    insns, used = read(read_text(file), file, order)
    _emit(encode(insns, used), output, FILTER)
    return 0


def _parse_int(text: str, what: str, bits: int = 64) -> int:
    """A ``bits``-wide value: from -2**(bits-1) (two's complement, as a C caller passes -1)
    to 2**bits - 1; anything outside is refused rather than wrapped."""
    try:
        value = int(text, 0) if len(text) <= 2 + bits else None
    except ValueError:
        value = None
    if value is None:
        raise UsageError(f"{what} '{text[:40]}' is not a number")
    if not -(1 << (bits - 1)) <= value < 1 << bits:
        raise UsageError(
            f"{what} '{text}' does not fit in {bits} bits",
            hint=f"give a value from {-(1 << (bits - 1))} to {(1 << bits) - 1}",
        )
    return value & ((1 << bits) - 1)


@bpf_group.command("emulate", short_help="Run a filter on one syscall as the kernel would.")
@click.argument("file", type=click.Path(dir_okay=False))
@_ABI
@_ENDIAN
@click.option("--syscall", "syscall", required=True, metavar="NAME|NR", help="The syscall.")
@click.option(
    "--args", "args", multiple=True, metavar="A0 [A1 …]", help="Argument values (up to six)."
)
@click.option("--ip", "ip", default="0", metavar="N", help="Instruction pointer.")
def emulate_cmd(
    file: str,
    abi: tuple[str, ...],
    endian: str | None,
    syscall: str,
    args: tuple[str, ...],
    ip: str,
) -> int:
    """Run FILE on one syscall as the kernel would; print the action and the steps taken.

    Without --abi, the ABI is the native one of the family whose arch the filter checks.
    """
    a = _one_abi(abi)
    f, named = load_filter(read_bytes(file), file, _endian(a, endian))
    a = a or _served(named, file)
    t = table(a)
    if syscall in t.by_name:
        nr = t.by_name[syscall]
    elif syscall.lstrip("-").isdigit() or syscall.lower().startswith("0x"):
        nr = _parse_int(syscall, "syscall number", 32)  # seccomp_data.nr is an int
        if a.is_x32:
            nr |= X32_SYSCALL_BIT
    else:
        raise UsageError(f"'{syscall}' is not a {a.name} syscall", hint="give a name or a number")
    values = [_parse_int(v, "argument") for raw in args for v in raw.replace(",", " ").split()]
    if len(values) > 6:
        raise UsageError("a syscall has at most six arguments")
    r = f.run(SeccompData(nr, a.audit_arch, _parse_int(ip, "--ip"), make_args(values)))
    name = t.name_of(nr) or f"nr {nr:#x}"
    extra = ", divided by zero" if r.div_by_zero else ""
    click.echo(f"{a.name} {name}: {r.action}  (ret {r.ret:#010x}, {r.steps} instructions{extra})")
    return 0
