"""This machine as the runner sees it, derived from the ABI records alone (arch/abi.py).

The records say which machine each ABI is native to (``Abi.machines``) and how the native
parts enter it (``Abi.entry``); a machine of another family needs those, nothing here. What
the records promise is checked here, at run time: the native module's own list of entries
(x86-only ones exist in x86_64 builds only), and for arm the 32-bit probe, run once.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from seccompiler.arch import abi as abimod
from seccompiler.arch import tables
from seccompiler.base.errors import SeccompilerError
from seccompiler.program import Program
from seccompiler.runner import native, probe


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
    """The ABIs a process here can really enter (``unenterable`` says why not the others)."""
    why = unenterable()
    return tuple(a for a in probe_abis() if a not in why)


def unenterable() -> dict[str, str]:
    """Each ABI of ``probe_abis`` that cannot be entered here, with the reason.

    The native ABI always can; x32 numbers can be made wherever the native module has the
    x32 entry (a kernel without x32 refuses them, which is what the probe shows); i386's
    int 0x80 when the module has it and getpid through it answers (the kernel may be built
    without it); arm when the arm probe is installed and getpid through it answers (the CPU
    may not run AArch32).
    """
    out: dict[str, str] = {}
    for name in probe_abis():
        why = _why_not(abimod.ABIS[name])
        if why:
            out[name] = why
    return out


def _why_not(a: abimod.Abi) -> str:
    getpid = tables.table(a).by_name["getpid"]
    if a.entry == "native":
        return ""
    if a.entry == "arm-probe":
        return _arm_probe_answers(getpid)
    if a.entry not in native.entries():
        return f"this build of the native module has no {a.entry} entry (x86_64 builds only)"
    if a.is_x32 or native.syscall(a.name, getpid) > 0:
        return ""
    return "this machine cannot enter it"


def _arm_probe_answers(getpid: int) -> str:
    """'' when the arm probe runs and getpid through it answers, else why not."""
    try:
        exe = native.executable(native.ARM_PROBE)
    except native.NativeMissing:
        return native.NO_ARM_PROBE
    try:
        (obs,) = probe.run([probe.Call("arm", getpid)], None, sandbox=False)
    except OSError as exc:  # ENOEXEC: the kernel cannot run 32-bit arm executables
        return f"this CPU or kernel does not run 32-bit arm (AArch32) programs: {exc.strerror}"
    except SeccompilerError as exc:
        return f"{exe} does not work here: {exc}"
    if obs.outcome != "returned" or obs.ret <= 0:
        return f"getpid through {exe.name} did not answer ({obs.outcome} {obs.ret})"
    return ""


def syscall_nr(name: str) -> int:
    """The number of syscall ``name`` on this machine's native ABI."""
    return tables.table(native_abi()).by_name[name]


def own_family(program: Program) -> Program:
    """``program`` with only this machine's family (the others cannot be loaded here)."""
    mine = tuple(p for p in program.abis if p.abi.family == family())
    if mine and len(mine) != len(program.abis):
        return replace(program, abis=mine)
    return program
