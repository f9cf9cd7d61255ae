"""Which syscalls the kernel's seccomp action cache answers without running the filter.

Since Linux 5.11, when a filter is attached the kernel (kernel/seccomp.c,
``seccomp_cache_prepare_bitmap`` and ``seccomp_is_const_allow``) runs a tiny emulator over the
original program for every syscall number of the native and compat arch, with only ``nr``
and ``arch`` known. It understands ``ld [nr]``, ``ld [arch]``, JEQ/JGT/JGE/JSET against a
constant, AND with a constant, JA and RET with a constant; anything else (a load of an
argument or of the instruction pointer, X, scratch memory) makes it give up. Numbers it proves
always ALLOW are answered from a bitmap from then on. x32 numbers carry bit 30 and fall outside
the bitmap, so x32 is never cached.
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
    """The kernel keeps a bitmap for the native and the compat arch, never for x32."""
    return not abi.is_x32


def exempt(abi: Abi) -> frozenset[int]:
    """Numbers the kernel answers ALLOW before consulting any filter on this ABI."""
    t = table(abi)
    return frozenset(t.by_name[n] for n in _EXEMPT.get(abi.name, ()) if n in t.by_name)


def bitmap_size(abi: Abi) -> int:
    """The kernel's NR_syscalls for the arch: one past the highest number of the dense table.

    ARM's private calls (0x0f0000 and up) lie far beyond it and are never cached.
    """
    return max(n for n in table(abi).by_nr if n < 4096) + 1


def cached_allow(insns: Sequence[Insn], abi: Abi) -> frozenset[int]:
    """Every syscall number of ``abi`` that the cache answers ALLOW for this filter."""
    if not cacheable(abi):
        return frozenset()
    free = exempt(abi)
    size = bitmap_size(abi)
    return frozenset(
        nr for nr in range(size) if nr in free or is_const_allow(insns, nr, abi.audit_arch)
    )
