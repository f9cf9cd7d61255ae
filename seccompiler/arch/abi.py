"""ABIs as data records: adding an ABI is adding a record here and a column to the tables.

Audit arch tokens are from linux/audit.h (AUDIT_ARCH_* = EM_* | __AUDIT_ARCH_64BIT 0x80000000
| __AUDIT_ARCH_LE 0x40000000). The x32 ABI shares x86_64's token; the kernel tells it apart
by ``__X32_SYSCALL_BIT`` (0x40000000) in the syscall number (arch/x86/include/uapi/asm/unistd.h).
MIPS (EM_MIPS 8) tells n32 from n64 by __AUDIT_ARCH_CONVENTION_MIPS64_N32 (0x20000000), and
numbers each ABI's syscalls from its own base: o32 from 4000, n64 from 5000, n32 from 6000
(arch/mips/include/uapi/asm/unistd.h __NR_*_Linux, 1000 wide); PA-RISC is EM_PARISC 15.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

X32_SYSCALL_BIT = 0x40000000
# The first syscall number of each MIPS ABI, and how many numbers each base opens.
MIPS_NR_BASES = {"o32": 4000, "n64": 5000, "n32": 6000}
MIPS_NR_SPAN = 1000

# How the native parts make a raw system call on an ABI: the native instruction (syscall,
# svc), i386's ``int 0x80`` from a 64-bit x86_64 process, the native instruction with the x32
# bit set (those two exist in x86_64 builds only), or the separate 32-bit arm probe
# ``seccompiler-probe-arm`` (a 64-bit aarch64 process cannot enter AArch32; whether the CPU
# runs AArch32 at all is found out by running it).
ENTRIES = ("", "native", "int80", "x32", "arm-probe")

# The calls socketcall(2) and ipc(2) multiplex (linux/net.h SYS_*, linux/ipc.h), on the ABIs
# whose record says ``multiplexed``.
MULTIPLEXED_CALLS: dict[str, tuple[str, ...]] = {
    "socketcall": (
        "socket", "bind", "connect", "listen", "accept", "accept4", "getsockname",
        "getpeername", "socketpair", "send", "sendto", "recv", "recvfrom", "shutdown",
        "setsockopt", "getsockopt", "sendmsg", "recvmsg", "recvmmsg", "sendmmsg",
    ),
    "ipc": (
        "semop", "semget", "semctl", "semtimedop", "msgsnd", "msgrcv", "msgget", "msgctl",
        "shmat", "shmdt", "shmget", "shmctl",
    ),
}  # fmt: skip
# The number each call is, as the multiplexer's argument 0 (linux/net.h SYS_*, linux/ipc.h).
MULTIPLEXED_NUMBERS: dict[str, dict[str, int]] = {
    "socketcall": {
        "socket": 1, "bind": 2, "connect": 3, "listen": 4, "accept": 5, "getsockname": 6,
        "getpeername": 7, "socketpair": 8, "send": 9, "recv": 10, "sendto": 11, "recvfrom": 12,
        "shutdown": 13, "setsockopt": 14, "getsockopt": 15, "sendmsg": 16, "recvmsg": 17,
        "accept4": 18, "recvmmsg": 19, "sendmmsg": 20,
    },
    "ipc": {
        "semop": 1, "semget": 2, "semctl": 3, "semtimedop": 4, "msgsnd": 11, "msgrcv": 12,
        "msgget": 13, "msgctl": 14, "shmat": 21, "shmdt": 22, "shmget": 23, "shmctl": 24,
    },
}  # fmt: skip

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
    goarch: str = ""  # Go's GOARCH name: Docker's ``includes.arches``, OCI image platforms
    machines: tuple[str, ...] = ()  # what uname(2) reports on a machine native to this ABI
    multiplexed: bool = False  # socket and IPC calls also go through socketcall(2)/ipc(2)
    entry: str = ""  # how the native parts enter it from its family ('' when they cannot)

    def __post_init__(self) -> None:
        if not 0 < self.audit_arch <= 0xFFFFFFFF:
            raise ValueError(f"bad audit arch for {self.name}")
        if self.nr_offset not in (0, X32_SYSCALL_BIT, *MIPS_NR_BASES.values()):
            raise ValueError(f"bad syscall number offset for {self.name}")
        if not self.goarch:
            raise ValueError(f"no GOARCH name for {self.name}")
        if self.entry not in ENTRIES:
            raise ValueError(f"unknown entry '{self.entry}' for {self.name}")

    @property
    def is_x32(self) -> bool:
        return self.nr_offset == X32_SYSCALL_BIT

    @property
    def register_bits(self) -> int:
        """How wide the registers that carry arguments are: x32 and MIPS n32 hold 32-bit
        data in 64-bit registers, and the kernel reads a ``long`` or an ``loff_t`` argument
        of theirs whole, so a filter compares all of it (libseccomp compares the low word)."""
        if self.is_x32 or self.nr_offset == MIPS_NR_BASES["n32"]:
            return 64
        return self.bits

    @property
    def nr_range(self) -> tuple[int, int]:
        """The numbers a call of this ABI can carry, as the kernel sees them (inclusive).

        x32 numbers are those with the x32 bit; a MIPS ABI's, its base's 1000; anything else
        fits in ``seccomp_data.nr`` except, on x86_64, numbers with the x32 bit (x32 calls).
        """
        if self.is_x32:
            return X32_SYSCALL_BIT, 2 * X32_SYSCALL_BIT - 1
        if self.nr_offset:
            return self.nr_offset, self.nr_offset + MIPS_NR_SPAN - 1
        if has_x32_numbers(self.audit_arch):
            return 0, X32_SYSCALL_BIT - 1
        return 0, 0xFFFFFFFF


_ABIS: tuple[Abi, ...] = (
    Abi("x86_64", "x86_64", 0xC000003E, 64, "little", "x86_64", "SCMP_ARCH_X86_64",
        goarch="amd64", machines=("x86_64",), entry="native"),
    Abi("x86", "x86", 0x40000003, 32, "little", "x86_64", "SCMP_ARCH_X86",
        goarch="386", machines=("i686", "i386"), multiplexed=True, entry="int80"),
    Abi("x32", "x32", 0xC000003E, 32, "little", "x86_64", "SCMP_ARCH_X32", X32_SYSCALL_BIT,
        goarch="x32", entry="x32"),
    Abi("aarch64", "aarch64", 0xC00000B7, 64, "little", "aarch64", "SCMP_ARCH_AARCH64",
        goarch="arm64", machines=("aarch64",), entry="native"),
    Abi("arm", "arm", 0x40000028, 32, "little", "aarch64", "SCMP_ARCH_ARM",
        goarch="arm", machines=("armv7l", "armv8l"), entry="arm-probe"),
    Abi("riscv64", "riscv64", 0xC00000F3, 64, "little", "riscv64", "SCMP_ARCH_RISCV64",
        goarch="riscv64", machines=("riscv64",)),
    Abi("ppc64le", "ppc64", 0xC0000015, 64, "little", "ppc64le", "SCMP_ARCH_PPC64LE",
        goarch="ppc64le", machines=("ppc64le",), multiplexed=True),
    Abi("ppc64", "ppc64", 0x80000015, 64, "big", "ppc64", "SCMP_ARCH_PPC64",
        goarch="ppc64", machines=("ppc64",), multiplexed=True),
    Abi("ppc", "ppc", 0x00000014, 32, "big", "ppc64", "SCMP_ARCH_PPC",
        goarch="ppc", machines=("ppc",), multiplexed=True),
    Abi("s390x", "s390x", 0x80000016, 64, "big", "s390x", "SCMP_ARCH_S390X",
        goarch="s390x", machines=("s390x",), multiplexed=True),
    Abi("s390", "s390", 0x00000016, 32, "big", "s390x", "SCMP_ARCH_S390",
        goarch="s390", machines=("s390",), multiplexed=True),
    Abi("loongarch64", "loongarch64", 0xC0000102, 64, "little", "loongarch64",
        "SCMP_ARCH_LOONGARCH64", goarch="loong64", machines=("loongarch64",)),
    # MIPS: uname(2) says "mips" or "mips64" whatever the byte order, so no record claims a
    # machine. A 64-bit kernel also runs n32 and o32 programs (one filter per byte order).
    # n32 passes 32-bit values in 64-bit registers, and the kernel reads a long or an loff_t
    # whole (register_bits), where libseccomp (ARCH_SIZE_32) compares the low word. o32
    # multiplexes through socketcall and ipc.
    Abi("mips64", "mips64", 0x80000008, 64, "big", "mips64", "SCMP_ARCH_MIPS64",
        MIPS_NR_BASES["n64"], goarch="mips64"),
    Abi("mips64n32", "mips64n32", 0xA0000008, 32, "big", "mips64", "SCMP_ARCH_MIPS64N32",
        MIPS_NR_BASES["n32"], goarch="mips64p32"),
    Abi("mips", "mips", 0x00000008, 32, "big", "mips64", "SCMP_ARCH_MIPS",
        MIPS_NR_BASES["o32"], goarch="mips", multiplexed=True),
    Abi("mipsel64", "mips64", 0xC0000008, 64, "little", "mipsel64", "SCMP_ARCH_MIPSEL64",
        MIPS_NR_BASES["n64"], goarch="mips64le"),
    Abi("mipsel64n32", "mips64n32", 0xE0000008, 32, "little", "mipsel64",
        "SCMP_ARCH_MIPSEL64N32", MIPS_NR_BASES["n32"], goarch="mips64p32le"),
    Abi("mipsel", "mips", 0x40000008, 32, "little", "mipsel64", "SCMP_ARCH_MIPSEL",
        MIPS_NR_BASES["o32"], goarch="mipsle", multiplexed=True),
    # PA-RISC: a 64-bit kernel runs 32-bit programs too. Go has no port; its GOARCH-style
    # names here are the kernel's (SECCOMP_ARCH_NATIVE_NAME), which no Go arch can collide with.
    Abi("parisc64", "parisc64", 0x8000000F, 64, "big", "parisc64", "SCMP_ARCH_PARISC64",
        goarch="parisc64", machines=("parisc64",)),
    Abi("parisc", "parisc", 0x0000000F, 32, "big", "parisc64", "SCMP_ARCH_PARISC",
        goarch="parisc", machines=("parisc",)),
)  # fmt: skip

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


def by_machine(machine: str) -> Abi | None:
    """The ABI native to a machine that uname(2) calls ``machine``."""
    return next((a for a in _ABIS if machine in a.machines), None)


def host() -> Abi:
    """This machine's native ABI (its kernel's family is ``host().family``)."""
    machine = os.uname().machine
    found = by_machine(machine)
    if found is None:
        raise LookupError(f"no ABI record for this machine ({machine})")
    return found
