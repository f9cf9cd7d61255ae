"""Syscall tables per ABI, read from the generated ``arch/data/syscalls.tsv``."""

from __future__ import annotations

import difflib
import importlib.resources
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from seccompiler.arch.abi import ABIS, Abi

# Package data (installed with the package): tables, groups, constants, the syscall mix.
DATA_DIR = Path(str(importlib.resources.files("seccompiler.arch") / "data"))


@dataclass(frozen=True)
class SyscallTable:
    """Names and numbers of one ABI; numbers are as the kernel sees them (x32 bit included)."""

    abi: Abi
    by_name: Mapping[str, int]
    by_nr: Mapping[int, str]

    @property
    def max_nr(self) -> int:
        return max(self.by_nr)

    def name_of(self, nr: int) -> str | None:
        return self.by_nr.get(nr)


@cache
def _rows() -> tuple[str, tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
    text = (DATA_DIR / "syscalls.tsv").read_text()
    stamp = ""
    header: tuple[str, ...] = ()
    rows = []
    for line in text.splitlines():
        if line.startswith("#"):
            stamp = stamp or line
            continue
        cells = line.split("\t")
        if not header:
            header = tuple(cells[1:])
            continue
        rows.append((cells[0], tuple(cells[1:])))
    return stamp, header, tuple(rows)


def source_stamp() -> str:
    """The generator's stamp line: which upstream table and kernel the numbers come from."""
    return _rows()[0].lstrip("# ")


def kernel_version() -> str:
    """The kernel version the table was taken from, e.g. ``v7.1.0-rc4``."""
    stamp = source_stamp()
    marker = "Linux "
    return stamp.split(marker, 1)[1].split()[0] if marker in stamp else "unknown"


@cache
def table(abi: Abi | str) -> SyscallTable:
    """The syscall table of ``abi``."""
    a = ABIS[abi] if isinstance(abi, str) else abi
    _, header, rows = _rows()
    col = header.index(a.column)
    by_name: dict[str, int] = {}
    for name, cells in rows:
        if cells[col] != "-":
            by_name[name] = int(cells[col]) + a.nr_offset
    by_nr = {nr: name for name, nr in sorted(by_name.items())}
    return SyscallTable(a, by_name, by_nr)


@cache
def all_names() -> frozenset[str]:
    """Every syscall name known on any ABI."""
    return frozenset(name for name, _ in _rows()[2])


def suggest(name: str, candidates: frozenset[str] | None = None, n: int = 3) -> tuple[str, ...]:
    """Closest known names to a misspelt one."""
    pool = sorted(candidates if candidates is not None else all_names())
    return tuple(difflib.get_close_matches(name, pool, n=n, cutoff=0.6))
