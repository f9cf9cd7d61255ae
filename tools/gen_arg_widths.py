#!/usr/bin/env python3
"""Generate seccompiler/arch/data/arg-widths.tsv from a Linux source tree.

A syscall's arguments reach it as whole registers, but the kernel reads each as the C type
its definition declares: an ``int`` is the low 32 bits, a ``umode_t`` the low 16, and a
caller may put anything in the rest. A filter that compares more bits than the kernel reads
can be sidestepped, so the compiler needs each argument's width, per ABI: the entry point an
ABI's syscall table names (``sys_setuid16`` for x86's ``setuid``, a compat entry for a
32-bit ABI run by a 64-bit kernel) and that entry point's ``SYSCALL_DEFINE`` or
``COMPAT_SYSCALL_DEFINE`` line.

Usage: tools/gen_arg_widths.py LINUX_TREE VERSION [-o seccompiler/arch/data/arg-widths.tsv]

The tree needs its ``*.c`` files and syscall tables (``*.tbl``); Debian's linux-source
package is one. Only arguments narrower than the ABI's registers are written (x32's and
MIPS n32's registers are 64 bits wide, though their data is 32).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from seccompiler.arch import abi as abimod  # noqa: E402
from seccompiler.arch import tables  # noqa: E402

OUT = REPO / "seccompiler" / "arch" / "data" / "arg-widths.tsv"

# C types by the bits the kernel reads of them (a pointer: the whole register).
BITS: dict[str, int] = {
    **dict.fromkeys(
        ("int", "unsigned int", "unsigned", "uint", "u32", "__u32", "uint32_t", "__s32", "s32",
         "pid_t", "uid_t", "gid_t", "clockid_t", "mqd_t", "timer_t", "key_serial_t", "key_t",
         "qid_t", "rwf_t", "compat_int_t", "compat_uint_t", "compat_pid_t", "compat_ulong_t",
         "compat_long_t", "compat_size_t", "compat_ssize_t", "compat_off_t", "compat_uptr_t",
         "compat_timer_t", "compat_key_t", "compat_old_sigset_t", "compat_uid32_t",
         "compat_gid32_t", "compat_aio_context_t", "compat_sigset_word", "compat_clock_t",
         "compat_caddr_t", "compat_arg_u64"),
        32,
    ),
    **dict.fromkeys(("umode_t", "old_uid_t", "old_gid_t", "u16", "unsigned short"), 16),
    **dict.fromkeys(
        ("long", "unsigned long", "size_t", "loff_t", "off_t", "u64", "__u64", "aio_context_t",
         "uintptr_t", "cap_user_header_t", "cap_user_data_t", "__sighandler_t", "old_sigset_t",
         "utrap_handler_t", "utrap_entry_t"),
        64,
    ),
}  # fmt: skip

# Types whose size differs by architecture: (type, arch directory) → bits, else 32.
BY_ARCH = {("compat_mode_t", a): 16 for a in ("x86", "arm64", "s390", "parisc")}

# Definitions that differ by kernel configuration: the variant the ABIs here are built with.
CHOSEN = {
    # CLONE_BACKWARDS3 (an int stack size) is microblaze's alone
    "clone": "unsigned long,unsigned long,int __user *,int __user *,unsigned long",
    # OLD_SIGSUSPEND3 (x86, arm) and OLD_SIGSUSPEND: no argument narrower than 32 bits either way
    "sigsuspend": "int,int,old_sigset_t",
}

# clone's flags come second where the kernel is built with CLONE_BACKWARDS2 (s390), first
# elsewhere (the other variants' types are the same)
BACKWARDS2 = (
    "unsigned long|newsp,unsigned long|clone_flags,int __user *|parent_tidptr,"
    "int __user *|child_tidptr,unsigned long|tls"
)
CHOSEN_BY_ARCH = {("clone", "s390"): BACKWARDS2}

# Syscalls newer than the tree: their definition lines as later kernels have them.
LATER = {
    "setxattrat": "int,char __user *,unsigned int,char __user *,struct xattr_args __user *,size_t",
    "getxattrat": "int,char __user *,unsigned int,char __user *,struct xattr_args __user *,size_t",
    "listxattrat": "int,char __user *,unsigned int,char __user *,size_t",
    "removexattrat": "int,char __user *,unsigned int,char __user *",
    "open_tree_attr": "int,char __user *,unsigned,struct mount_attr __user *,size_t",
    "file_getattr": "int,char __user *,struct file_attr __user *,size_t,unsigned int",
    "file_setattr": "int,char __user *,struct file_attr __user *,size_t,unsigned int",
    "listns": "struct ns_id_req __user *,u64 __user *,size_t,unsigned int",
    "map_shadow_stack": "unsigned long,unsigned long,unsigned int",
}

# Arguments a syscall declares wider than its body reads them: an unsigned long fd is
# handed to fdget()/fget(), which take an unsigned int (readv, writev, preadv…, x86_64's
# mmap), and clone keeps lower_32_bits(clone_flags) (kernel/fork.c).
TRUNCATED = {"fd", "clone_flags"}

# Entry points whose wrapper a plain reading misjudges: parisc's personality wrapper takes
# an unsigned long and passes it on to sys_personality(unsigned int).
OVERRIDE = {"parisc_personality": "unsigned int|personality"}

# Each ABI: its syscall table, the table's ABI column values that apply, and whether a 64-bit
# kernel runs it through the compat entry points (the table's fifth column, when given).
SPEC: dict[str, tuple[str, frozenset[str], bool]] = {
    "x86_64": ("arch/x86/entry/syscalls/syscall_64.tbl", frozenset({"common", "64"}), False),
    "x32": ("arch/x86/entry/syscalls/syscall_64.tbl", frozenset({"common", "x32"}), False),
    "x86": ("arch/x86/entry/syscalls/syscall_32.tbl", frozenset({"i386"}), True),
    "aarch64": ("scripts/syscall.tbl", frozenset({"common", "64", "renameat", "rlimit",
                "memfd_secret"}), False),
    "arm": ("arch/arm64/tools/syscall_32.tbl", frozenset({"common"}), True),
    "riscv64": ("scripts/syscall.tbl", frozenset({"common", "64", "riscv", "rlimit",
                "memfd_secret"}), False),
    "loongarch64": ("scripts/syscall.tbl", frozenset({"common", "64", "memfd_secret"}), False),
    "ppc64": ("arch/powerpc/kernel/syscalls/syscall.tbl", frozenset({"common", "64", "nospu"}),
              False),
    "ppc": ("arch/powerpc/kernel/syscalls/syscall.tbl", frozenset({"common", "32", "nospu"}),
            True),
    "s390x": ("arch/s390/kernel/syscalls/syscall.tbl", frozenset({"common", "64"}), False),
    "s390": ("arch/s390/kernel/syscalls/syscall.tbl", frozenset({"common", "32"}), True),
    "mips64": ("arch/mips/kernel/syscalls/syscall_n64.tbl", frozenset({"n64"}), False),
    "mips64n32": ("arch/mips/kernel/syscalls/syscall_n32.tbl", frozenset({"n32"}), False),
    "mips": ("arch/mips/kernel/syscalls/syscall_o32.tbl", frozenset({"o32"}), True),
    "parisc64": ("arch/parisc/kernel/syscalls/syscall.tbl", frozenset({"common", "64"}), False),
    "parisc": ("arch/parisc/kernel/syscalls/syscall.tbl", frozenset({"common", "32"}), True),
}  # fmt: skip
SAME = {"ppc64le": "ppc64", "mipsel64": "mips64", "mipsel64n32": "mips64n32", "mipsel": "mips"}
# The arch directory whose own definitions an ABI's kernel uses before the generic ones.
ARCH_DIR = {"x86_64": "x86", "x32": "x86", "x86": "x86", "aarch64": "arm64", "arm": "arm64",
            "riscv64": "riscv", "loongarch64": "loongarch", "ppc64": "powerpc", "ppc": "powerpc",
            "s390x": "s390", "s390": "s390", "mips64": "mips", "mips64n32": "mips", "mips": "mips",
            "parisc64": "parisc", "parisc": "parisc"}  # fmt: skip

_DEFINE = re.compile(r"(?<![A-Za-z0-9_])(COMPAT_)?SYSCALL_DEFINE([0-6])\s*\(")


_ASMLINKAGE = re.compile(
    r"asmlinkage\s+(?:notrace\s+)?(?:unsigned\s+)?long\s+(\w+)\s*\(([^()]*)\)\s*\{"
)


def definitions(tree: Path) -> dict[tuple[str, str], dict[str, set[str]]]:
    """(kind, name) → {place: {signature}}; kind is 'sys', 'compat' or 'asm' (an arch's
    plain ``asmlinkage`` wrapper its table names), place an arch directory or '' for the
    generic code, a signature each argument's ``type|name`` joined by ','."""
    out: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for dirpath, _dirs, files in os.walk(tree):
        for name in files:
            if not name.endswith(".c"):
                continue
            path = Path(dirpath, name)
            text = path.read_text(errors="replace")
            rel = path.relative_to(tree).parts
            place = rel[1] if rel[0] == "arch" else ""
            if place:
                for m in _ASMLINKAGE.finditer(text):
                    params = [_words(p) for p in m.group(2).split(",")]
                    if params == [["void"]] or params == [[]]:
                        params = []
                    sig = ",".join(" ".join(p[:-1]) + "|" + p[-1].lstrip("*") for p in params)
                    out["asm", m.group(1)][place].add(sig)
            if "SYSCALL_DEFINE" not in text:
                continue
            for m in _DEFINE.finditer(text):
                depth, j = 1, m.end()
                while depth and j < len(text):
                    depth += {"(": 1, ")": -1}.get(text[j], 0)
                    j += 1
                body = re.sub(r"/\*.*?\*/", " ", text[m.end() : j - 1], flags=re.S)
                parts = [" ".join(_words(p)) for p in body.split(",")]
                count = int(m.group(2))
                if len(parts) != 1 + 2 * count:
                    continue  # a macro's own definition, or an argument built by a macro
                kind = "compat" if m.group(1) else "sys"
                pairs = zip(parts[1::2], parts[2::2], strict=True)
                out[kind, parts[0]][place].add(",".join(f"{t}|{n}" for t, n in pairs))
    return out


def _words(param: str) -> list[str]:
    """A C parameter's words, without 'const' (which changes nothing the kernel reads), a
    '*' standing alone."""
    spaced = re.sub(r"/\*.*?\*/", " ", param).replace("*", " * ")
    return [w for w in spaced.split() if w != "const"]


def _types(sig: str) -> str:
    return ",".join(p.partition("|")[0] for p in sig.split(",")) if sig else ""


def bits(ctype: str, arch: str) -> int:
    if "*" in ctype:
        return 64
    words = " ".join(w for w in ctype.split() if w != "const")
    if words.startswith("enum "):
        return 32
    if words == "compat_mode_t":
        return BY_ARCH.get((words, arch), 32)
    if words not in BITS:
        raise SystemExit(f"unclassified argument type {ctype!r}: add it to BITS")
    return BITS[words]


def entries(tree: Path, abi: str) -> dict[str, str]:
    """Syscall name → the entry point this ABI's kernel calls."""
    table, kinds, compat = SPEC[abi]
    out: dict[str, str] = {}
    for line in (tree / table).read_text().splitlines():
        cols = line.split()
        if not cols or cols[0].startswith("#") or len(cols) < 4 or cols[1] not in kinds:
            continue
        entry = cols[4] if compat and len(cols) > 4 and cols[4] != "-" else cols[3]
        if entry == "-":
            continue
        out.setdefault(cols[2], entry)
    return out


def signature(defs: dict[tuple[str, str], dict[str, set[str]]], entry: str, abi: str) -> str:
    """The arguments (``type|name``) of an entry point, or '' when it has none here."""
    if entry.startswith("compat_sys_"):
        key = ("compat", entry.removeprefix("compat_sys_"))
    elif entry.startswith("sys_"):
        key = ("sys", entry.removeprefix("sys_"))
    else:
        key = ("asm", entry)
    name = key[1]
    places = defs.get(key)
    if not places:
        return ""
    own = places.get(ARCH_DIR[abi]) or places.get("")
    if not own:
        return ""  # only other architectures define it
    chosen_here = CHOSEN_BY_ARCH.get((name, ARCH_DIR[abi]))
    if chosen_here is not None:
        if chosen_here not in own:
            raise SystemExit(f"{entry}: no definition {chosen_here!r} for {abi}")
        return chosen_here
    if len({_types(sig) for sig in own}) > 1:  # names alone may differ between variants
        chosen = sorted(sig for sig in own if _types(sig) == CHOSEN.get(name))
        if not chosen:
            raise SystemExit(f"{entry}: definitions differ ({sorted(own)}): choose in CHOSEN")
        return chosen[0]
    return sorted(own)[0]


def width(param: str, arch: str, cap: int) -> int:
    """The bits the kernel reads of one argument (``type|name``), at most ``cap``."""
    ctype, _, name = param.partition("|")
    bits_read = bits(ctype, arch)
    if name in TRUNCATED and bits_read > 32:
        bits_read = 32
    return min(bits_read, cap)


def rows(tree: Path) -> list[str]:
    defs = definitions(tree)
    out = []
    for name in sorted(abimod.ABIS):
        abi = abimod.ABIS[name]
        source = SAME.get(name, name)
        known = entries(tree, source)
        for syscall in sorted(tables.table(abi).by_name):
            entry = known.get(syscall, "")
            sig = OVERRIDE.get(entry) or signature(defs, entry, source)
            sig = sig or ",".join(t + "|" for t in LATER.get(syscall, "").split(",") if t)
            if not sig:
                continue
            cap = abi.register_bits
            widths = [width(p, ARCH_DIR[source], cap) for p in sig.split(",")]
            if any(w < cap for w in widths):
                out.append(f"{name}\t{syscall}\t{','.join(map(str, widths))}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree", type=Path)
    ap.add_argument("version", help="the tree's kernel version, for the stamp")
    ap.add_argument("-o", "--output", type=Path, default=OUT)
    args = ap.parse_args()
    body = "abi\tsyscall\twidths\n" + "".join(r + "\n" for r in rows(args.tree))
    digest = hashlib.sha256(body.encode()).hexdigest()
    head = (
        f"# generated from Linux {args.version} (SYSCALL_DEFINE and COMPAT_SYSCALL_DEFINE "
        f"lines, syscall tables) by tools/gen_arg_widths.py — do not edit; sha256 {digest}\n"
        "# the bits the kernel reads of each argument, per ABI, for the syscalls with an "
        "argument narrower than the ABI's registers\n"
    )
    args.output.write_text(head + body)
    print(f"wrote {args.output}: {body.count(chr(10)) - 1} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
