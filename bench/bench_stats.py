"""Benchmark the cost of a filter to the kernel: our default profile beside Docker's.

Printed side by side in one run, per ABI:
- keisson-default: the bundled profile, compiled by seccompiler;
- docker/runc: Docker's default profile (../shared/data/moby-default.json) compiled the way runc
  compiles it, libseccomp's default layout (with its default capabilities, every minKernel met);
- docker/tree: the same profile with libseccomp's binary tree (SCMP_FLTATR_CTL_OPTIMIZE=2).

Figures: instructions of the family's filter; mean, weighted and max path length over the
ABI's syscalls (instructions executed with zero arguments; weighted by the syscall mix
../shared/data/syscall-mix.tsv, a strace -c of a real workload); and the share of allowed
syscalls, and of the mix's calls, that the kernel's action cache answers without running the
filter (emulating kernel/seccomp.c's constant-action check). The mix was measured on x86_64;
for other ABIs it applies by syscall name. Path lengths are counted, not timed: they are what
the kernel's BPF interpreter or JIT executes for every uncached syscall.

Then the targets of the x86_64 family, each beside libseccomp's tree for Docker's profile
measured above (the anchor), with the ratio and whether it is met. "Cacheable" counts the
allowed syscalls whose answer depends on no argument (by the profile's own meaning) and the
share of them the kernel's cache answers: every one of those paths must stay cacheable.

Usage: python bench/bench_stats.py [--family x86_64|aarch64] [--mix FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seccompiler.arch.abi import family_members
from seccompiler.arch.tables import table
from seccompiler.backends.bpf import compile_family
from seccompiler.bpf.cache import bitmap_range, cached_allow
from seccompiler.bpf.emulate import Filter
from seccompiler.bpf.stats import AbiStats, abi_stats, load_mix
from seccompiler.compile import load_program
from seccompiler.frontend import ocijson
from seccompiler.program import ActionKind, Program
from seccompiler.prove import libseccomp_ref

# (ABI, figure, target): the x86_64 family's targets for the bundled profile
TARGETS = (
    ("x86_64", "path mean", 10.0),
    ("x86_64", "path weighted by mix", 8.0),
    ("x86", "path mean", 11.0),
    ("x86", "path weighted by mix", 10.0),
)
MAX_PATH = 16

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
DEFAULT = REPO / "profiles" / "keisson-default.yaml"


Result = tuple[str, int, dict[str, AbiStats]]
Cache = tuple[int, int]  # (argument-free allowed syscalls, of them cached), native + compat


def measure(family: str, mix: dict[str, int]) -> tuple[list[Result], list[Cache]]:
    """(label, instructions, per-ABI stats) for each of the three filters, and cache counts."""
    out = []
    caches = []
    program = load_program(str(DEFAULT))
    ours = Filter.from_bytes(compile_family(program, family), family_members(family)[0].endian)
    abis = [p.abi for p in program.abis if p.abi.family == family]
    out.append(
        ("keisson-default", len(ours.insns), {a.name: abi_stats(ours, a, mix) for a in abis})
    )
    caches.append(cacheable(program, ours, family))
    profile = ocijson.load(str(DATA / "moby-default.json"))
    for label, optimize in (("docker/runc", 1), ("docker/tree", 2)):
        ref = libseccomp_ref.build_profile(profile, family, optimize=optimize)
        f = Filter.from_bytes(ref.bpf, family_members(family)[0].endian)
        members = [a for a in family_members(family) if a.name in ref.abis]
        out.append((label, len(f.insns), {a.name: abi_stats(f, a, mix) for a in members}))
        res = ocijson.resolve(profile, abis=ref.abis, knows=libseccomp_ref.knows)
        caches.append(cacheable(res.program, f, family))
    return out, caches


def cacheable(program: Program, f: Filter, family: str) -> Cache:
    """Allowed syscalls whose answer needs no argument, and how many the cache answers."""
    free = hit = 0
    for p in program.families().get(family, ()):
        if p.abi.is_x32:
            continue  # the kernel never caches x32
        covered = bitmap_range(p.abi)
        cached = cached_allow(f.insns, p.abi)
        for nr in table(p.abi).by_nr:
            sp = p.syscalls.get(nr)
            action = p.unknown if sp is None else sp.fallback
            simple = nr in covered and (sp is None or not sp.rules)
            if not simple or action.kind is not ActionKind.ALLOW:
                continue
            free += 1
            hit += nr in cached
    return free, hit


def targets(results: list[Result], caches: list[Cache]) -> str:
    """The family's targets: ours beside the anchor (libseccomp's tree), ratio, met."""
    ours, anchor = results[0][2], results[2][2]
    lines = [f"{'target row':<36}{'ours':>8}{'anchor':>8}{'ratio':>8}{'target':>9}{'met':>6}"]

    def row(name: str, mine: float, theirs: float, target: str, met: bool, fmt: str) -> None:
        ratio = mine / theirs if theirs else float("nan")
        lines.append(
            f"{name:<36}{mine:>8{fmt}}{theirs:>8{fmt}}{ratio:>8.2f}{target:>9}"
            f"{'yes' if met else 'NO':>6}"
        )

    for abi, figure, limit in TARGETS:
        attr = {"path mean": "mean_path", "path weighted by mix": "weighted_path"}[figure]
        mine, theirs = getattr(ours[abi], attr), getattr(anchor[abi], attr)
        row(f"{abi} {figure}", mine, theirs, f"<= {limit:g}", mine <= limit, ".3f")
    worst = max(s.max_path for s in ours.values())
    theirs_worst = max(s.max_path for s in anchor.values())
    row("path max, whole family", worst, theirs_worst, f"<= {MAX_PATH}", worst <= MAX_PATH, ".0f")
    (free, hit), (a_free, a_hit) = caches[0], caches[2]
    row(
        "cacheable: arg-free allowed cached %",
        100 * hit / free,
        100 * a_hit / a_free,
        "100",
        hit == free,
        ".1f",
    )
    return "\n".join(lines)


def render(family: str, results: list[tuple[str, int, dict[str, AbiStats]]]) -> str:
    labels = [r[0] for r in results]
    width = 18
    lines = [f"family {family}", f"{'':<30}" + "".join(f"{x:>{width}}" for x in labels)]
    lines.append(
        f"{'instructions (whole filter)':<30}" + "".join(f"{n:>{width}}" for _, n, _ in results)
    )
    abis = list(dict.fromkeys(a for _, _, per in results for a in per))
    rows = [
        ("path mean", lambda s: f"{s.mean_path:.1f}"),
        ("path weighted by mix", lambda s: f"{s.weighted_path:.1f}" if s.weighted_path else "-"),
        ("path max", lambda s: f"{s.max_path} ({s.max_path_syscall})"),
        ("allowed syscalls", lambda s: str(s.allowed)),
        ("cache: share of allowed", lambda s: f"{s.cached_share:.1%}"),
        (
            "cache: share of mix calls",
            lambda s: (
                f"{s.weighted_cached_share:.1%}" if s.weighted_cached_share is not None else "-"
            ),
        ),
    ]
    for abi in abis:
        lines.append(f"  {abi}")
        for name, fmt in rows:
            cells = [fmt(per[abi]) if abi in per else "n/a" for _, _, per in results]
            lines.append(f"    {name:<26}" + "".join(f"{c:>{width}}" for c in cells))
    return "\n".join(lines)


SHARES = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
# Instructions before x86's tree: ld [arch], the jeq of x86_64's token (tested first) and of
# its own, ld [nr].
X86_ENTRY = 4
X86_TARGETS = (11.0, 10.0)  # (mean, weighted)


def least(program: Program, mix: dict[str, int], abi_name: str, share: float, entry: int) -> float:
    """The least ``share * mean + (1 - share) * weighted`` of the ABI's paths over every tree
    of jge splits and jeq chains alone (tree.least_cost, no jset: exact), with the
    filter's own leaf code and ``entry`` instructions before the tree. The tree covers every
    number of the ABI's arch token (x86_64's holds x32's), weighted by this ABI's syscalls."""
    from seccompiler.backends import bpf as bpfmod
    from seccompiler.backends import tree

    own = next(p for p in program.abis if p.abi.name == abi_name)
    group = [p for p in program.abis if p.abi.audit_arch == own.abi.audit_arch]
    t = table(own.abi)
    calls = {nr: mix.get(name, 0) for nr, name in t.by_nr.items()}
    total = sum(calls.values())
    nrs = sorted(t.by_nr)
    each = {nr: share / len(nrs) + (1 - share) * calls[nr] / total for nr in nrs}

    def weigh(lo: int, hi: int, bit: int) -> float:
        # the ABI's own syscalls in lo..hi (x32's numbers hold none of x86_64's)
        return sum(w for nr, w in each.items() if lo <= nr <= hi and not nr & bit)

    ranges = bpfmod._ranges(group, program.bad_arch)
    items = [tree.Item(r.lo, r.hi, r.action) for r in ranges]
    leaves = sum(
        weigh(r.lo, r.hi, 0) * (1 if r.syscall is None else bpfmod._leaf_cost(program, r))
        for r in ranges
    )
    return entry + leaves + tree.least_cost(items, weigh)


def x86_frontier(mix: dict[str, int]) -> str:
    """The x86 targets two by two, for every weighting the planner could be given.

    The planner weighs each syscall ``share`` alike plus ``1 - share`` by the mix's calls
    (``TABLE_SHARE`` in backends/bpf.py), so it looks for the tree with the least
    ``share * mean + (1 - share) * weighted``. For each share: the x86 rows of the planner's
    tree, and the least a tree of jge splits and jeq chains alone could reach (``least``).
    Where that least is above ``share * 11 + (1 - share) * 10``, no tree without jset meets
    both x86 targets; the planner's jset splits (tree.Bit) are what can.
    """
    from seccompiler.backends import bpf as bpfmod

    program = load_program(str(DEFAULT))
    abi = next(p.abi for p in program.abis if p.abi.name == "x86")
    lines = [
        "the x86 rows together, the tree planned with each share of the table's syscalls "
        "against the mix, beside the least of splits and chains without jset:",
        f"  {'share':>5} {'mean':>7} {'weighted':>9} {'combined':>9} {'least':>8} "
        f"{'targets':>8}  both met",
    ]
    saved = bpfmod.TABLE_SHARE
    try:
        for share in SHARES:
            bpfmod.TABLE_SHARE = share
            bpfmod._weights.cache_clear()  # the planning weights, cached per ABI
            f = Filter.from_bytes(compile_family(program, "x86_64"), "little")
            st = abi_stats(f, abi, mix)
            assert st.weighted_path is not None
            low = least(program, mix, "x86", share, X86_ENTRY)
            lines.append(_row(share, low, (st.mean_path, st.weighted_path)))
    finally:
        bpfmod.TABLE_SHARE = saved
        bpfmod._weights.cache_clear()
    return "\n".join(lines)


def _row(share: float, low: float, figures: tuple[float, float]) -> str:
    mean_target, weighted_target = X86_TARGETS
    bound = share * mean_target + (1 - share) * weighted_target
    verdict = "   (splits and chains alone: cannot meet both)" if low > bound else ""
    mean, weighted = figures
    combined = share * mean + (1 - share) * weighted
    both = "yes" if mean <= mean_target and weighted <= weighted_target else "no"
    return (
        f"  {share:>5.2f} {mean:>7.3f} {weighted:>9.3f} {combined:>9.3f} {low:>8.3f}"
        f" {bound:>8.3f}  {both}{verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", action="append", choices=["x86_64", "aarch64"])
    ap.add_argument("--mix", default=str(DATA / "syscall-mix.tsv"))
    opts = ap.parse_args(argv)
    if not (DATA / "moby-default.json").is_file():
        print(f"{DATA}/moby-default.json is missing", file=sys.stderr)
        return 2
    mix = load_mix(opts.mix)
    print(f"libseccomp {libseccomp_ref.version()}; mix: {opts.mix} ({sum(mix.values())} calls)")
    for family in opts.family or ["x86_64", "aarch64"]:
        print()
        results, caches = measure(family, mix)
        print(render(family, results))
        if family == "x86_64":
            print()
            print(targets(results, caches))
            print()
            print(x86_frontier(mix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
