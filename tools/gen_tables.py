#!/usr/bin/env python3
"""Generate the package's data from the shared data: the syscall table and the syscall mix.

seccompiler/arch/data/syscalls.tsv comes from libseccomp's syscall table, and
seccompiler/arch/data/syscall-mix.tsv (the default mix of `stats`) from the measured mix;
both are stamped with their source. The shared data is found at $SECCOMPILER_SHARED
(default ../shared).

Usage: gen_tables.py [--check] [--source CSV] [--mix-source TSV]
With --check, exit 1 when a committed file differs from what its source gives.
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
MIX_OUT = REPO / "seccompiler" / "arch" / "data" / "syscall-mix.tsv"


def shared_data() -> Path:
    return Path(os.environ.get("SECCOMPILER_SHARED", REPO.parent / "shared")) / "data"


def default_source() -> Path:
    return shared_data() / "libseccomp-syscalls.csv"


def generate_mix(source: Path) -> str:
    stamp = f"# generated from ../shared/data/{source.name} by tools/gen_tables.py — do not edit"
    return stamp + "\n" + source.read_text()


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
        "# numbers as the table gives them; x32 numbers exclude __X32_SYSCALL_BIT, MIPS numbers"
        " their ABI's base (4000 o32, 5000 n64, 6000 n32); - = absent",
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
    ap.add_argument("--mix-source", type=Path, default=None)
    ns = ap.parse_args()
    source = ns.source or default_source()
    mix_source = ns.mix_source or shared_data() / "syscall-mix.tsv"
    for src in (source, mix_source):
        if not src.is_file():
            print(f"error: {src}: no such file (set SECCOMPILER_SHARED)", file=sys.stderr)
            return 2
    outputs = {OUT: generate(source), MIX_OUT: generate_mix(mix_source)}
    status = 0
    for out, text in outputs.items():
        rel = out.relative_to(REPO)
        if ns.check:
            current = out.read_text() if out.exists() else ""
            if current != text:
                print(f"error: {rel} is stale; run tools/gen_tables.py", file=sys.stderr)
                status = 1
            else:
                print(f"{rel} is up to date")
            continue
        out.write_text(text)
        print(f"wrote {rel}")
    return status


if __name__ == "__main__":
    sys.exit(main())
