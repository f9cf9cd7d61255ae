#!/usr/bin/env python3
"""Generate seccompiler/arch/data/syscalls.tsv from the shared libseccomp syscall table.

Usage: gen_tables.py [--check] [--source CSV]
With --check, exit 1 when the committed table differs from what the source gives.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from seccompiler.arch.abi import ABIS  # noqa: E402

OUT = REPO / "seccompiler" / "arch" / "data" / "syscalls.tsv"


def default_source() -> Path:
    shared = Path(os.environ.get("SECCOMPILER_SHARED", REPO.parent / "shared"))
    return shared / "data" / "libseccomp-syscalls.csv"


def generate(source: Path) -> str:
    with source.open(newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    stamp = header[0].lstrip("#").strip()  # e.g. "syscall (v7.1.0-rc4 2026-05-19)"
    kernel = stamp.split("(", 1)[1].rstrip(")") if "(" in stamp else "unknown"
    columns = [a.column for a in ABIS.values()]
    index = {name: header.index(name) for name in dict.fromkeys(columns)}
    lines = [
        f"# generated from ../shared/data/{source.name} (libseccomp src/syscalls.csv,"
        f" Linux {kernel}) by tools/gen_tables.py — do not edit",
        "# numbers as the table gives them; x32 numbers exclude __X32_SYSCALL_BIT; - = absent",
        "\t".join(["name", *index]),
    ]
    for row in sorted(rows[1:], key=lambda r: r[0]):
        if not row or row[0].startswith("#"):
            continue
        cells = [row[i] if row[i] != "PNR" else "-" for i in index.values()]
        if all(c == "-" for c in cells):
            continue
        lines.append("\t".join([row[0], *cells]))
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail when the committed table drifts")
    ap.add_argument("--source", type=Path, default=None)
    ns = ap.parse_args()
    source = ns.source or default_source()
    if not source.is_file():
        print(f"error: {source}: no such file (set SECCOMPILER_SHARED)", file=sys.stderr)
        return 2
    text = generate(source)
    if ns.check:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            rel = OUT.relative_to(REPO)
            print(f"error: {rel} is stale; run tools/gen_tables.py", file=sys.stderr)
            return 1
        print(f"{OUT.relative_to(REPO)} is up to date")
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
