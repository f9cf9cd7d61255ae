"""Benchmark ``seccompiler build`` for the bundled profiles (every family), stage by stage.

Runs the build in memory ``--runs`` times (after one warm-up that pays for imports and
caches) and reports the median wall time of each stage, then times writing the tree with
``replace_tree`` and one cold ``seccompiler build`` process end to end (interpreter start,
imports, build, write).

Printed beside the total, as its baseline in the same run: the compiler's own share (policy,
OCI/BPF/PFC rendering and the BPF proof — what the build cost before the node and cluster
artifacts), so the price of the artifacts and their checks is visible.

With ``--every-abi`` the bundled profiles are first rewritten to list every ABI the tables
know but s390 and s390x (whose clone flags are argument 1, so the bundled clone rule is
refused there), which is about the largest build the tool can be asked for.

Usage: python bench/bench_build.py [--runs N] [--every-abi] [PROFILES_DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seccompiler.arch.abi import ABIS
from seccompiler.base.fsio import replace_tree
from seccompiler.platform.build import build_dist

REPO = Path(__file__).resolve().parent.parent
COMPILER_STAGES = (
    "policy: parse and resolve",
    "render OCI",
    "render BPF",
    "render PFC",
    "verify BPF against the policy",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", nargs="?", default=str(REPO / "profiles"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--every-abi", action="store_true", help="compile for every ABI")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.every_abi:
            args.profiles = every_abi(Path(args.profiles), Path(tmp))
        return run(args)


def every_abi(src: Path, tmp: Path) -> str:
    out = tmp / "profiles"
    out.mkdir()
    # s390 and s390x take clone's flags in argument 1, where the bundled clone rule (argument
    # 0) is refused as an error
    listing = f"abis: [{', '.join(a for a in ABIS if a not in ('s390', 's390x'))}]"
    for path in sorted(src.glob("*.yaml")):
        lines = [listing if ln.startswith("abis:") else ln for ln in path.read_text().splitlines()]
        (out / path.name).write_text("\n".join(lines) + "\n")
    return str(out)


def run(args: argparse.Namespace) -> int:

    build_dist(args.profiles)  # warm-up: imports, syscall tables, schema files
    per_stage: dict[str, list[float]] = {}
    totals: list[float] = []
    files: dict[str, bytes] = {}
    for _ in range(args.runs):
        start = time.perf_counter()
        result = build_dist(args.profiles)
        totals.append(time.perf_counter() - start)
        for stage, seconds in result.timings.stages.items():
            per_stage.setdefault(stage, []).append(seconds)
        files = result.files

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        replace_tree(Path(tmp) / "dist", files)
        write = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "seccompiler.commands.cli",
                "build",
                args.profiles,
                "-o",
                f"{tmp}/d2",
            ],
            check=True,
            capture_output=True,
        )
        cold = time.perf_counter() - start

    med = {stage: statistics.median(v) for stage, v in per_stage.items()}
    total = statistics.median(totals)
    compiler = sum(med.get(s, 0.0) for s in COMPILER_STAGES)
    size = sum(len(v) for v in files.values())
    print(f"seccompiler build {args.profiles}: {len(files)} files, {size / 1024:.0f} KiB")
    print(f"median of {args.runs} in-memory builds, per stage:")
    for stage, seconds in med.items():
        print(f"  {seconds * 1000:8.1f} ms  {stage:52s} {seconds / total:6.1%}")
    print(
        f"  {total * 1000:8.1f} ms  total in memory   (baseline: compiler stages alone "
        f"{compiler * 1000:.1f} ms; node and cluster artifacts add "
        f"{(total - compiler) * 1000:.1f} ms)"
    )
    print(f"  {write * 1000:8.1f} ms  write dist/ atomically (replace_tree)")
    print(f"  {cold * 1000:8.1f} ms  cold `seccompiler build` process, end to end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
