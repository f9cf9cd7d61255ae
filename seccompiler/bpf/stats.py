"""Cost figures for a filter: size, headroom, path length per syscall, and cache coverage.

Path length is the number of instructions the kernel executes for a syscall with all
arguments zero. Weighted figures use a syscall mix (``name<TAB>count`` lines, such as
the bundled ``arch/data/syscall-mix.tsv``): the mean path a real workload pays per call, and the
share of its calls the kernel's action cache answers without running the filter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from seccompiler.arch.abi import Abi
from seccompiler.arch.tables import DATA_DIR, table
from seccompiler.base.errors import InputError, Location
from seccompiler.base.fsio import read_text
from seccompiler.bpf.cache import cached_allow
from seccompiler.bpf.emulate import Filter, SeccompData
from seccompiler.bpf.insn import BPF_MAXINSNS
from seccompiler.program import ActionKind

DEFAULT_MIX = DATA_DIR / "syscall-mix.tsv"  # generated from the shared data by `make tables`


@dataclass(frozen=True)
class AbiStats:
    """Figures for the syscalls of one ABI, as a filter answers them."""

    abi: str
    syscalls: int  # numbers in the table, and those a policy names by number
    allowed: int  # of them answered ALLOW (args zero)
    min_path: int
    mean_path: float
    max_path: int
    max_path_syscall: str
    weighted_path: float | None  # mean over the mix's calls; None without a mix
    cached: int  # numbers the action cache answers
    cached_share: float  # cached / allowed
    weighted_cached_share: float | None  # share of the mix's calls the cache answers
    paths: Mapping[str, int]


@dataclass(frozen=True)
class FilterStats:
    instructions: int
    headroom: int
    abis: tuple[AbiStats, ...]


def load_mix(path: str | Path) -> dict[str, int]:
    """Read a ``name<TAB>count`` syscall mix; lines starting with ``#`` are comments."""
    mix: dict[str, int] = {}
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split()
        if len(cells) != 2 or not cells[1].isdigit():
            raise InputError(
                "expected 'name<TAB>count'",
                location=Location(str(path), lineno, 1),
            )
        mix[cells[0]] = mix.get(cells[0], 0) + int(cells[1])
    return mix


def default_mix() -> dict[str, int] | None:
    """The bundled reference mix (measured on x86_64; see its header)."""
    return load_mix(DEFAULT_MIX) if DEFAULT_MIX.is_file() else None


def abi_stats(
    f: Filter,
    abi: Abi,
    mix: Mapping[str, int] | None = None,
    extra: Mapping[int, str] | None = None,
) -> AbiStats:
    """Path lengths and cache coverage of ``f`` for every syscall of ``abi``.

    ``extra`` adds numbers the table has no name for, with the names to show them by (a
    policy's ``nr:`` rules, ``#480``).
    """
    t = table(abi)
    paths: dict[str, int] = {}
    allowed: set[int] = set()
    for nr, name in sorted({**t.by_nr, **(extra or {})}.items()):
        r = f.run(SeccompData(nr, abi.audit_arch))
        paths[name] = r.steps
        if r.action.kind is ActionKind.ALLOW:
            allowed.add(nr)
    # the numbers the filter allows that the cache answers; numbers the kernel exempts from
    # every filter (x86_64's uprobe calls) are not the filter's answer, allowed or not
    cached = cached_allow(f.insns, abi) & frozenset(allowed)
    values = list(paths.values())
    worst = max(paths, key=lambda n: (paths[n], n))
    weighted = wcache = None
    if mix:
        calls = {n: c for n, c in mix.items() if n in paths}
        total = sum(calls.values())
        if total:
            weighted = sum(paths[n] * c for n, c in calls.items()) / total
            wcache = sum(c for n, c in calls.items() if t.by_name[n] in cached) / total
    return AbiStats(
        abi=abi.name,
        syscalls=len(paths),
        allowed=len(allowed),
        min_path=min(values),
        mean_path=sum(values) / len(values),
        max_path=paths[worst],
        max_path_syscall=worst,
        weighted_path=weighted,
        cached=len(cached),
        cached_share=len(cached) / len(allowed) if allowed else 0.0,
        weighted_cached_share=wcache,
        paths=paths,
    )


def filter_stats(
    f: Filter,
    abis: Sequence[Abi],
    mix: Mapping[str, int] | None = None,
    extra: Mapping[str, Mapping[int, str]] | None = None,
) -> FilterStats:
    """Size, headroom to BPF_MAXINSNS, and per-ABI figures (``extra``: per ABI name)."""
    n = len(f.insns)
    per_abi = tuple(abi_stats(f, a, mix, (extra or {}).get(a.name)) for a in abis)
    return FilterStats(n, BPF_MAXINSNS - n, per_abi)
