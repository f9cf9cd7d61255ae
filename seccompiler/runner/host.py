"""This machine as the runner sees it, derived from the ABI records alone (arch/abi.py).

The records say which machine each ABI is native to (``Abi.machines``) and how the native
module enters it (``Abi.entry``); a machine of another family needs those, nothing here.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from seccompiler.arch import abi as abimod
from seccompiler.arch import tables
from seccompiler.program import Program
from seccompiler.runner import native


@cache
def native_abi() -> abimod.Abi:
    """This machine's native ABI."""
    return abimod.host()


def family() -> str:
    """The kernel family whose filters the runner compiles and loads here."""
    return native_abi().family


def probe_abis() -> tuple[str, ...]:
    """Every ABI of this machine's family that the native module has a way into."""
    return tuple(a.name for a in abimod.family_members(family()) if a.entry)


def program_abis() -> tuple[str, ...]:
    """The ABIs a program built for this machine runs in (x32 binaries are left out)."""
    return tuple(a for a in probe_abis() if not abimod.ABIS[a].is_x32)


def enterable() -> tuple[str, ...]:
    """The ABIs a process here can really enter.

    The native ABI always; a compat ABI when getpid through it answers (the kernel may be
    built without it); x32 numbers can always be made (a kernel without x32 refuses them).
    """
    out = []
    for name in probe_abis():
        a = abimod.ABIS[name]
        if (
            a.entry == "native"
            or a.is_x32
            or native.syscall(name, tables.table(a).by_name["getpid"]) > 0
        ):
            out.append(name)
    return tuple(out)


def syscall_nr(name: str) -> int:
    """The number of syscall ``name`` on this machine's native ABI."""
    return tables.table(native_abi()).by_name[name]


def own_family(program: Program) -> Program:
    """``program`` with only this machine's family (the others cannot be loaded here)."""
    mine = tuple(p for p in program.abis if p.abi.family == family())
    if mine and len(mine) != len(program.abis):
        return replace(program, abis=mine)
    return program
