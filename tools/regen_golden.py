#!/usr/bin/env python3
"""Regenerate the golden outputs the tests compare against (never edit them by hand).

Usage: regen_golden.py [--check]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from seccompiler.compile import load_program, render_outputs  # noqa: E402

GOLDEN = REPO / "tests" / "core" / "golden"
PROFILES = ("profiles/keisson-default.yaml",)


def golden_files() -> dict[Path, bytes]:
    os.chdir(REPO)  # PROFILES are named relative to the repository
    out: dict[Path, bytes] = {}
    for rel in PROFILES:
        program = load_program(rel)
        for path, data in render_outputs(program, ("oci", "pfc")).items():
            out[GOLDEN / program.name / path] = data
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    ns = ap.parse_args()
    stale = 0
    for path, data in sorted(golden_files().items()):
        if ns.check:
            if not path.exists() or path.read_bytes() != data:
                print(f"stale: {path.relative_to(REPO)}", file=sys.stderr)
                stale += 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path.relative_to(REPO)}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
