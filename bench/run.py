#!/usr/bin/env python3
"""Run every benchmark in this folder; each prints its figures beside its baseline.

Usage: bench/run.py [NAME …]   (names without the bench_ prefix, e.g. stats build)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    wanted = set(sys.argv[1:])
    failed = 0
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if wanted and name not in wanted:
            continue
        print(f"=== {name} ({path.name})", flush=True)
        proc = subprocess.run([sys.executable, str(path)], check=False)
        if proc.returncode:
            print(f"=== {name}: exit {proc.returncode}", flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
