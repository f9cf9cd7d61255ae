"""ABIs as data records: adding an ABI is adding a record here and a column to the tables.

Audit arch tokens are from linux/audit.h (AUDIT_ARCH_* = EM_* | __AUDIT_ARCH_64BIT 0x80000000
| __AUDIT_ARCH_LE 0x40000000). The x32 ABI shares x86_64's token; the kernel tells it apart
by ``__X32_SYSCALL_BIT`` (0x40000000) in the syscall number (arch/x86/include/uapi/asm/unistd.h).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

X32_SYSCALL_BIT = 0x40000000

Endian = Literal["little", "big"]


@dataclass(frozen=True)
class Abi:
    """One syscall ABI the kernel can be entered through."""

    name: str  # our name, used in policies and on the command line
    column: str  # column of the syscall table (libseccomp's ABI name)
    audit_arch: int  # seccomp_data.arch for this ABI
    bits: Literal[32, 64]  # register width: 32-bit ABIs only see the low word of an argument
    endian: Endian
    family: str  # the native ABI whose kernel also runs this one (one filter per family)
    oci: str  # runtime-spec / libseccomp architecture name (SCMP_ARCH_*)
    nr_offset: int = 0  # added to the table's number to get the number the kernel sees

    def __post_init__(self) -> None:
        if not 0 < self.audit_arch <= 0xFFFFFFFF:
            raise ValueError(f"bad audit arch for {self.name}")
        if self.nr_offset not in (0, X32_SYSCALL_BIT):
            raise ValueError(f"bad syscall number offset for {self.name}")

    @property
    def is_x32(self) -> bool:
        return self.nr_offset == X32_SYSCALL_BIT


_ABIS: tuple[Abi, ...] = (
    Abi("x86_64", "x86_64", 0xC000003E, 64, "little", "x86_64", "SCMP_ARCH_X86_64"),
    Abi("x86", "x86", 0x40000003, 32, "little", "x86_64", "SCMP_ARCH_X86"),
    Abi("x32", "x32", 0xC000003E, 32, "little", "x86_64", "SCMP_ARCH_X32", X32_SYSCALL_BIT),
    Abi("aarch64", "aarch64", 0xC00000B7, 64, "little", "aarch64", "SCMP_ARCH_AARCH64"),
    Abi("arm", "arm", 0x40000028, 32, "little", "aarch64", "SCMP_ARCH_ARM"),
    Abi("riscv64", "riscv64", 0xC00000F3, 64, "little", "riscv64", "SCMP_ARCH_RISCV64"),
    Abi("ppc64le", "ppc64", 0xC0000015, 64, "little", "ppc64le", "SCMP_ARCH_PPC64LE"),
    Abi("ppc64", "ppc64", 0x80000015, 64, "big", "ppc64", "SCMP_ARCH_PPC64"),
    Abi("ppc", "ppc", 0x00000014, 32, "big", "ppc64", "SCMP_ARCH_PPC"),
    Abi("s390x", "s390x", 0x80000016, 64, "big", "s390x", "SCMP_ARCH_S390X"),
    Abi("s390", "s390", 0x00000016, 32, "big", "s390x", "SCMP_ARCH_S390"),
    Abi(
        "loongarch64",
        "loongarch64",
        0xC0000102,
        64,
        "little",
        "loongarch64",
        "SCMP_ARCH_LOONGARCH64",
    ),
)

ABIS: dict[str, Abi] = {a.name: a for a in _ABIS}

# Other spellings users bring from Docker/Go (GOARCH) and libseccomp.
ALIASES: dict[str, str] = {
    "amd64": "x86_64",
    "i386": "x86",
    "i686": "x86",
    "arm64": "aarch64",
    "armhf": "arm",
    "ppc64el": "ppc64le",
    **{a.oci.lower(): a.name for a in _ABIS},
    **{a.oci.removeprefix("SCMP_ARCH_").lower(): a.name for a in _ABIS},
}


def lookup(name: str) -> Abi | None:
    """Return the ABI called ``name`` (any known spelling), or None."""
    key = name.strip().lower()
    return ABIS.get(key) or ABIS.get(ALIASES.get(key, ""))


def by_oci(name: str) -> Abi | None:
    """Return the ABI for an ``SCMP_ARCH_*`` name."""
    return next((a for a in _ABIS if a.oci == name), None)


def has_x32_numbers(audit_arch: int) -> bool:
    """Whether the kernel reads the x32 bit of syscall numbers under this arch token."""
    return any(a.is_x32 and a.audit_arch == audit_arch for a in _ABIS)


def family_members(family: str) -> tuple[Abi, ...]:
    """The ABIs a kernel of ``family`` can be entered through, native first."""
    return tuple(a for a in _ABIS if a.family == family)


FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(a.family for a in _ABIS))
