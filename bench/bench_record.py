"""Recording overhead: the workload alone, under `seccompiler record`, and under `strace -f`.

One run of each on the same workload (busybox tar of /usr/share/doc piped to wc, a few
thousand syscalls in three processes), printed side by side with the ratio to the workload
alone and the cost per observed syscall. Needs the native launcher (make setup),
busybox-static and strace (make test-deps).

    .venv/bin/python bench/bench_record.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seccompiler.image.live import execute
from seccompiler.image.plan import ExecPlan
from seccompiler.runner import host
from seccompiler.runner.recorder import aggregate_counts, keep_list
from seccompiler.runner.recpolicy import render_policy

BUSYBOX = "/bin/busybox"
WORKLOAD = [
    BUSYBOX,
    "sh",
    "-c",
    f"{BUSYBOX} tar -cf - /usr/share/doc 2>/dev/null | {BUSYBOX} wc -c",
]


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _quiet(argv: list[str]) -> int:
    return subprocess.run(argv, stdout=subprocess.DEVNULL, check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, best kept")
    args = parser.parse_args()
    if not os.path.exists(BUSYBOX):
        print("bench_record: needs busybox-static (make test-deps)", file=sys.stderr)
        return 2
    rows: list[tuple[str, float, str]] = []

    def best(fn: Callable[[], object]) -> tuple[float, object]:
        runs = [_timed(fn) for _ in range(max(1, args.repeat))]
        return min(runs, key=lambda r: r[0])

    _quiet(WORKLOAD)  # warm the page cache so that every row reads the same files from memory
    alone, _ = best(lambda: _quiet(WORKLOAD))
    rows.append(("workload alone", alone, "baseline"))

    plan = ExecPlan(tuple(WORKLOAD), dict(os.environ))
    t_filter, _ = best(lambda: execute(None, plan, None, capture=True))
    rows.append(("under an allow-all filter (launcher only)", t_filter, ""))

    keep = keep_list(None, host.program_abis())
    t_record, live = best(lambda: execute(None, plan, None, record=keep, capture=True))
    result = getattr(live, "result", None)
    seen = result.seen if result is not None else []
    events = sum(s.count for s in seen)
    t_agg, _ = _timed(
        lambda: (
            render_policy(aggregate_counts(seen, tasks=result.tasks), name="bench")
            if result is not None
            else ""
        )
    )
    names = len({s.name for s in seen})
    per_call = (t_record - alone) / events * 1e6 if events else 0.0
    rows.append(
        (
            "seccompiler record",
            t_record,
            f"{events} syscalls, {names} names; {per_call:.1f} µs per syscall",
        )
    )
    rows.append(("  of which writing the policy", t_agg, ""))

    strace = shutil.which("strace")
    if strace:
        t_strace, _ = best(lambda: _quiet([strace, "-f", "-qq", "-o", "/dev/null", *WORKLOAD]))
        rows.append(("strace -f (same workload)", t_strace, ""))
        t_count, _ = best(lambda: _quiet([strace, "-f", "-c", "-qq", "-o", "/dev/null", *WORKLOAD]))
        rows.append(("strace -f -c (counting only)", t_count, ""))
    else:
        rows.append(("strace -f", float("nan"), "strace not installed"))

    print(f"workload: {' '.join(WORKLOAD)}")
    print(f"{'':44} {'seconds':>9} {'× alone':>8}")
    for label, secs, note in rows:
        ratio = secs / alone if alone else float("nan")
        print(f"{label:44} {secs:9.3f} {ratio:8.1f}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
