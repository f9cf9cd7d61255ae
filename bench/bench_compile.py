"""Benchmark ``compile`` of the bundled profile for all its families, proof included.

Side by side in one run, interleaved so that both meet the same load on a shared machine:
- ours: read and resolve the policy, render OCI JSON, BPF and PFC for every family, and prove
  every BPF against the policy (the symbolic proof, as ``compile`` runs it);
- anchor: libseccomp building Docker's default profile (../shared/data/moby-default.json) the
  way runc does, for the same families (those this libseccomp can build), JSON parse included.

Printed: the median of each, their ratio and the target (≤ 0.3 s), then where our time goes
and what the sampling proof (the emulator on chosen inputs, kept as a second opinion) would
cost instead.

Usage: python bench/bench_compile.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from seccompiler.arch.abi import family_members
from seccompiler.compile import load_program, prove_outputs, render_outputs
from seccompiler.frontend import ocijson
from seccompiler.prove import libseccomp_ref
from seccompiler.prove.verify import verify_bpf

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
DEFAULT = REPO / "profiles" / "keisson-default.yaml"
TARGET = 0.3  # seconds


def ours() -> None:
    program = load_program(str(DEFAULT))
    prove_outputs(program, render_outputs(program))


def anchor(families: list[str]) -> Callable[[], None]:
    def run() -> None:
        profile = ocijson.load(str(DATA / "moby-default.json"))
        for family in families:
            libseccomp_ref.build_profile(profile, family)

    return run


def staged() -> dict[str, float]:
    """One compile, stage by stage, and the sampling proof of the same filters."""
    out: dict[str, float] = {}
    start = time.perf_counter()
    prog = load_program(str(DEFAULT))
    out["policy: read and resolve"] = time.perf_counter() - start
    files: dict[str, bytes] = {}
    for fmt in ("oci", "bpf", "pfc"):
        start = time.perf_counter()
        files.update(render_outputs(prog, (fmt,)))
        out[f"render {fmt}"] = time.perf_counter() - start
    start = time.perf_counter()
    prove_outputs(prog, files)
    out["prove BPF (symbolic)"] = time.perf_counter() - start
    start = time.perf_counter()
    for rel, data in files.items():
        if rel.startswith("bpf/"):
            verify_bpf(prog, data, rel[4:-4], method="sampling")
    out["(the sampling proof instead, for comparison)"] = time.perf_counter() - start
    return out


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    opts = ap.parse_args(argv)
    if not (DATA / "moby-default.json").is_file():
        print(f"{DATA}/moby-default.json is missing", file=sys.stderr)
        return 2
    program = load_program(str(DEFAULT))
    families = list(program.families())
    built = [f for f in families if all(libseccomp_ref.supports(a) for a in family_members(f))]
    ref = anchor(built)
    ours()
    ref()  # warm-up: imports, tables, libseccomp
    mine: list[float] = []
    theirs: list[float] = []
    for _ in range(opts.runs):
        mine.append(timed(ours))
        theirs.append(timed(ref))
    m, t = statistics.median(mine), statistics.median(theirs)

    stages: dict[str, list[float]] = {}
    for _ in range(opts.runs):
        for stage, took in staged().items():
            stages.setdefault(stage, []).append(took)

    load = os.getloadavg()[0]
    print(
        f"compile {DEFAULT.name}, families {', '.join(families)}; load average {load:.1f} on "
        f"{os.cpu_count()} cores; anchor: libseccomp "
        f"{libseccomp_ref.version()} builds moby-default.json for {', '.join(built)} as runc "
        f"does; median of {opts.runs}, interleaved"
    )
    print(f"{'row':<44}{'ours':>10}{'anchor':>10}{'ratio':>8}{'target':>10}{'met':>6}")
    met = m <= TARGET
    print(
        f"{'compile, all families, proof included':<44}{m:>9.3f}s{t:>9.3f}s{m / t:>7.1f}x"
        f"{'<= ' + str(TARGET) + 's':>10}{'yes' if met else 'NO':>6}"
    )
    print("where our time goes (median per stage):")
    for stage, values in stages.items():
        print(f"  {statistics.median(values) * 1000:8.1f} ms  {stage}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
