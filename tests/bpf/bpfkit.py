"""Helpers for the BPF tool tests: filters built with libseccomp directly, small programs."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence

import pyseccomp as sc

from seccompiler.bpf import insn as b
from seccompiler.bpf.emulate import Filter, SeccompData, make_args

X86_64 = 0xC000003E
X86 = 0x40000003
AARCH64 = 0xC00000B7


def export(f: sc.SyscallFilter) -> bytes:
    with tempfile.TemporaryFile() as fh:
        f.export_bpf(fh)
        fh.seek(0)
        return fh.read()


def libseccomp_filter() -> bytes:
    """A small x86_64 + x86 filter: default EPERM, a few rules with arguments."""
    f = sc.SyscallFilter(sc.ERRNO(1))
    f.add_arch(sc.Arch.X86)
    f.add_rule(sc.ALLOW, "read")
    f.add_rule(sc.ALLOW, "write")
    f.add_rule(sc.ALLOW, "personality", sc.Arg(0, sc.EQ, 8))
    f.add_rule(sc.ALLOW, "socket", sc.Arg(0, sc.GT, 40))
    f.add_rule(sc.ALLOW, "mmap", sc.Arg(2, sc.MASKED_EQ, 0x4, 0))
    f.add_rule(sc.ERRNO(38), "clone3")
    f.add_rule(sc.KILL_PROCESS, "ptrace")
    f.add_rule(sc.TRACE(7), "kill")
    return export(f)


def prog(*insns: b.Insn) -> Filter:
    return Filter(list(insns))


def ret_a_after(*body: b.Insn) -> list[b.Insn]:
    return [*body, b.stmt(b.RET | b.A)]


def run(f: Filter, nr: int, arch: int = X86_64, args: Sequence[int] = ()) -> int:
    return f.run(SeccompData(nr, arch, 0, make_args(args))).ret
