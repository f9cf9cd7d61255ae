"""Typed access to the native parts: the cffi module and the probe and launcher executables.

The package build (``pip install .``; ``make setup`` in a checkout, through
``native/build.py``) builds ``seccompiler._native`` and puts the static
``seccompiler-probe`` and ``seccompiler-launch`` into the package's ``_bin/``; on an aarch64
machine with a 32-bit arm compiler also ``seccompiler-probe-arm``, the probe of the arm ABI.
Which raw entries the module has depends on the machine it was built for (``entries``):
``int 0x80`` and x32 numbers exist in x86_64 builds only. Nothing here loads a filter by
itself; ``install_filter`` acts on the calling process and is meant for children.
"""

from __future__ import annotations

import errno as _errno
import importlib
import importlib.resources
import os
from pathlib import Path
from types import ModuleType

from seccompiler.base.errors import UsageError

BIN_DIR = Path(str(importlib.resources.files("seccompiler") / "_bin"))
REBUILD = (
    "reinstall seccompiler where a C compiler and a static C library are present"
    " (Debian: apt-get install gcc libc6-dev), or run 'make setup' in a checkout"
)
PROBE = "seccompiler-probe"
LAUNCHER = "seccompiler-launch"
ARM_PROBE = "seccompiler-probe-arm"
# The probe that makes the calls of an ABI, by the record's ``entry`` (default: PROBE).
PROBES = {"arm-probe": ARM_PROBE}
NO_ARM_PROBE = (
    "no 32-bit arm probe in this install: it is built on aarch64 where a 32-bit arm compiler"
    " is present (Debian: gcc-arm-linux-gnueabihf, or clang with libc6-dev-armhf-cross)"
)
# native/sc_raw.h SC_ENTRY_*: the bits of sc_entries().
ENTRY_BITS = {"native": 1, "int80": 2, "x32": 4}


class NativeMissing(UsageError):
    """The native parts were not built on this machine."""


def _module() -> ModuleType:
    try:
        return importlib.import_module("seccompiler._native")
    except ImportError as exc:
        raise NativeMissing(
            f"the native module seccompiler._native cannot be loaded ({exc})", hint=REBUILD
        ) from None


def executable(name: str) -> Path:
    """Path of a native executable (``PROBE``, ``ARM_PROBE`` or ``LAUNCHER``), checked to exist."""
    path = BIN_DIR / name
    if not path.is_file() or not os.access(path, os.X_OK):
        if name == ARM_PROBE:
            raise NativeMissing(f"{path}: {NO_ARM_PROBE}", hint=REBUILD)
        raise NativeMissing(f"{path}: the native {name} is missing from this install", hint=REBUILD)
    return path


def probe_for(abi: str) -> str:
    """The probe executable that makes calls on ``abi`` (by its record's entry)."""
    from seccompiler.arch import abi as abimod

    record = abimod.ABIS.get(abi)
    return PROBES.get(record.entry, PROBE) if record is not None else PROBE


def entries() -> frozenset[str]:
    """The raw entries the native module was built with (``Abi.entry`` values)."""
    bits = int(_module().lib.sc_entries())
    return frozenset(name for name, bit in ENTRY_BITS.items() if bits & bit)


def _check(rc: int) -> int:
    if rc < 0:
        raise OSError(-rc, _errno.errorcode.get(-rc, str(-rc)))
    return rc


def install_filter(bpf: bytes) -> int:
    """Set no_new_privs and install ``bpf`` on the calling thread.

    Irreversible for the calling process: call it in a child only.
    """
    m = _module()
    return _check(int(m.lib.sc_install_filter(bpf, len(bpf), 0)))


def syscall(abi: str, nr: int, *args: int) -> int:
    """Make a raw system call on ``abi`` from this process; ret or -errno.

    The native ABI, and on x86_64 x86 (through int 0x80) and x32; arm is entered by the arm
    probe only (``probe_for``), never from this 64-bit process.
    """
    from seccompiler.arch import abi as abimod

    m = _module()
    a = [int(x) & 0xFFFFFFFFFFFFFFFF for x in args] + [0] * (6 - len(args))
    signed = [x - (1 << 64) if x >= 1 << 63 else x for x in a[:6]]
    fn = {"native": m.lib.sc_syscall, "int80": m.lib.sc_syscall_i386, "x32": m.lib.sc_syscall_x32}
    record = abimod.ABIS.get(abi)
    if record is None or not record.entry or record.family != abimod.host().family:
        raise UsageError(f"cannot make a system call on ABI '{abi}' from this machine")
    if record.entry not in fn:
        raise UsageError(
            f"cannot make a system call on ABI '{abi}' from this process",
            hint=f"its calls are made by {probe_for(abi)}",
        )
    if record.entry not in entries():
        raise UsageError(f"this build of the native module has no '{record.entry}' entry")
    return int(fn[record.entry](nr, *signed))
