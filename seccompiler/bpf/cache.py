"""Which syscalls the kernel's seccomp action cache answers without running the filter.

Since Linux 5.11, when a filter is attached the kernel (kernel/seccomp.c,
``seccomp_cache_prepare_bitmap`` and ``seccomp_is_const_allow``) runs a tiny emulator over the
original program for every syscall number of the native and compat arch, with only ``nr``
and ``arch`` known. It understands ``ld [nr]``, ``ld [arch]``, JEQ/JGT/JGE/JSET against a
constant, AND with a constant, JA and RET with a constant; anything else (a load of an
argument or of the instruction pointer, X, scratch memory) makes it give up. Numbers it proves
always ALLOW are answered from a bitmap from then on.

The bitmap is kept for two arch tokens only, the native one and at most one compat one
(arch/*/include/asm/seccomp.h, ``SECCOMP_ARCH_NATIVE``/``SECCOMP_ARCH_COMPAT``), and covers
the numbers 0 to ``NR_syscalls`` - 1. x32 numbers carry bit 30 and fall outside the bitmap;
MIPS n32 has a token of its own that is neither, so neither is ever cached. MIPS numbers
start at the ABI's base (4000, 5000) and ``NR_syscalls`` there is a base plus a count
(arch/mips/include/asm/unistd.h), so the bitmap reaches them.
"""

from __future__ import annotations

from collections.abc import Sequence

from seccompiler.arch.abi import Abi
from seccompiler.arch.tables import table
from seccompiler.bpf import insn as isa
from seccompiler.bpf.insn import Insn
from seccompiler.program import ActionKind

SECCOMP_RET_ALLOW = ActionKind.ALLOW.value
# Syscalls the kernel lets through before any filter on x86_64 (seccomp_uprobe_exception).
_EXEMPT = {"x86_64": ("uretprobe", "uprobe")}
# Each family's SECCOMP_ARCH_COMPAT, where we have a record of it (arch/*/include/asm/
# seccomp.h); the native ABI is the family's own. ppc64le's compat (32-bit little-endian
# PowerPC) has no record, riscv64's (rv32) neither; loongarch64 has none.
_COMPAT = {
    "x86_64": "x86",
    "aarch64": "arm",
    "ppc64": "ppc",
    "s390x": "s390",
    "mips64": "mips",
    "mipsel64": "mipsel",
    "parisc64": "parisc",
}
# Numbers this far above an ABI's first are its private calls (ARM's 0x0f0000 and up), far
# beyond NR_syscalls and never cached.
_DENSE_SPAN = 4096


def is_const_allow(insns: Sequence[Insn], nr: int, arch: int) -> bool:
    """The kernel's verdict for one (nr, arch): True when the filter surely returns ALLOW."""
    a = 0
    pc = 0
    n = len(insns)
    while pc < n:
        ins = insns[pc]
        code, k = ins.code, ins.k
        if code == isa.LD | isa.W | isa.ABS:
            if k == isa.OFF_NR:
                a = nr & 0xFFFFFFFF
            elif k == isa.OFF_ARCH:
                a = arch
            else:
                return False
        elif code == isa.RET | isa.K:
            return k == SECCOMP_RET_ALLOW
        elif code == isa.JMP | isa.JA:
            pc += k
        elif code in (
            isa.JMP | isa.JEQ | isa.K,
            isa.JMP | isa.JGE | isa.K,
            isa.JMP | isa.JGT | isa.K,
            isa.JMP | isa.JSET | isa.K,
        ):
            op = code & 0xF0
            if op == isa.JEQ:
                taken = a == k
            elif op == isa.JGE:
                taken = a >= k
            elif op == isa.JGT:
                taken = a > k
            else:
                taken = bool(a & k)
            pc += ins.jt if taken else ins.jf
        elif code == isa.ALU | isa.AND | isa.K:
            a &= k
        else:
            return False
        pc += 1
    return False


def cacheable(abi: Abi) -> bool:
    """The kernel keeps a bitmap for the native and the compat arch: not for x32 or MIPS n32."""
    return abi.name == abi.family or _COMPAT.get(abi.family) == abi.name


def exempt(abi: Abi) -> frozenset[int]:
    """Numbers the kernel answers ALLOW before consulting any filter on this ABI."""
    t = table(abi)
    return frozenset(t.by_name[n] for n in _EXEMPT.get(abi.name, ()) if n in t.by_name)


def bitmap_range(abi: Abi) -> range:
    """The ABI's numbers the bitmap covers: from its first up to one past its dense table.

    The kernel's bitmap starts at 0 and ends at NR_syscalls, which is at least one past the
    highest number of the dense table (on MIPS, of the highest ABI the kernel is built for);
    numbers below the ABI's first are no calls of it.
    """
    first = abi.nr_range[0]
    dense = [n for n in table(abi).by_nr if first <= n < first + _DENSE_SPAN]
    return range(first, max(dense, default=first - 1) + 1)


def cached_allow(insns: Sequence[Insn], abi: Abi) -> frozenset[int]:
    """Every syscall number of ``abi`` that the cache answers ALLOW for this filter."""
    if not cacheable(abi):
        return frozenset()
    free = exempt(abi)
    return frozenset(
        nr for nr in bitmap_range(abi) if nr in free or is_const_allow(insns, nr, abi.audit_arch)
    )
