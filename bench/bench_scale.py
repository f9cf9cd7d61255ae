"""Benchmark how compile, diff, stats and import grow with the size of their input.

Inputs are the bundled profile grown 10×, 100× and 1000× in its rules and in its listed
values (keisson-default has 11 rules and 4 listed values): the default's rules, then rules
naming one syscall each with a changing action (later rules win), then lists of values on
the second argument of syscalls the default refuses, answered with another errno, up to 200
values a syscall (``LISTED``). At 1000× that is 11,000 rules and 4,000 values: about as many
conditional rules as one seccomp filter can hold (the policy caps them at 4096), so the BPF
cannot be built there, and compile is measured for the OCI JSON (this backend's work; the
BPF layout and its proof have bench_compile and bench_stats). Each command runs in its own
process, measured for wall time and peak memory (max RSS):

- compile: ``seccompiler compile P -o DIR --format oci``;
- diff: ``seccompiler diff P P'`` where P' changes the last rule's action;
- stats: ``seccompiler stats J`` where J is the OCI JSON compile wrote (libseccomp builds it);
- import: ``seccompiler import J -o OUT``.

``work`` is the wall time less the start of an interpreter with the package (measured once,
``seccompiler syscalls read``). Baseline, printed beside each figure: what n·log n growth
from the smallest size's work allows at that size (``bound``); ``ratio`` is the work over
it (at most about 1: no worse than n log n). For compile, libseccomp's own compilation of
the same program (``seccomp_export_bpf`` through the reference build) is printed too.

Usage: python bench/bench_scale.py [--sizes 10,100,1000]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT = REPO / "profiles" / "keisson-default.yaml"
BASE_RULES, BASE_VALUES = 11, 4  # the default profile's rules and listed values
SYSCALLS = [
    "read",
    "write",
    "openat",
    "close",
    "fstat",
    "mmap",
    "mprotect",
    "brk",
    "fcntl",
    "futex",
    "poll",
    "lseek",
    "dup",
    "dup3",
    "pipe2",
    "getpid",
    "getuid",
    "getgid",
    "geteuid",
    "getegid",
    "getppid",
    "getpgrp",
    "setsid",
    "wait4",
    "kill",
    "tgkill",
    "nanosleep",
    "clock_gettime",
    "gettimeofday",
    "uname",
    "getcwd",
    "chdir",
    "fchdir",
    "rename",
    "mkdir",
    "rmdir",
]
ACTIONS = ["errno(EPERM)", "allow", "errno(EACCES)", "log"]
# Syscalls the default profile refuses with errno(EPERM), its OCI defaultAction: the listed
# values go to them, at most LIST_CHUNK each, answered errno(EACCES). The OCI JSON writes a
# listed value as a rule; the rest of each syscall is the defaultAction. (A list refused with
# the default's own action would need "none of these" in a rule, which libseccomp's one
# comparison per argument cannot say; neither can a list of more than 256 values on one
# syscall be written.)
LISTED = [
    "mount",
    "umount2",
    "swapon",
    "swapoff",
    "reboot",
    "kexec_load",
    "init_module",
    "finit_module",
    "delete_module",
    "acct",
    "settimeofday",
    "clock_settime",
    "pivot_root",
    "syslog",
    "quotactl",
    "perf_event_open",
    "bpf",
    "userfaultfd",
    "add_key",
    "keyctl",
]
LIST_CHUNK = 200
CLI = [sys.executable, "-m", "seccompiler.commands.cli"]


def policy(scale: int, changed: bool = False) -> str:
    """The default profile grown ``scale`` times in rules and listed values.

    ``changed``: the variant ``diff`` compares with: another action for the first syscall
    of the generated rules, and another last value in the list.
    """
    text = DEFAULT.read_text()
    extra = []
    for i in range(BASE_RULES * scale - BASE_RULES - 1):
        j = i % len(SYSCALLS)
        action = ACTIONS[(j + (1 if changed and j == 0 else 0)) % len(ACTIONS)]
        extra.append(f"  - {{action: {action}, syscalls: [{SYSCALLS[j]}]}}\n")
    count = BASE_VALUES * scale
    values = [0x5400 + 3 * i for i in range(count - 1)] + [1 if changed else 0x5400 + 3 * count]
    for k in range(0, count, LIST_CHUNK):
        chunk = values[k : k + LIST_CHUNK]
        extra.append(
            f"  - {{action: errno(EACCES), syscalls: [{LISTED[k // LIST_CHUNK]}], "
            f"args: [{{index: 1, value: {chunk}}}]}}\n"
        )
    return text.rstrip("\n") + "\n\n" + "".join(extra)


def measure(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and exit status of one command in its own process."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - start
    if proc.stderr is not None:
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        if proc.returncode not in (0, 1):
            print(err, file=sys.stderr)
    return elapsed, usage.ru_maxrss / 1024, proc.returncode


def libseccomp_seconds(path: Path) -> float:
    code = (
        "import sys, time\n"
        "from seccompiler.compile import load_program\n"
        "from seccompiler.prove import libseccomp_ref\n"
        "p = load_program(sys.argv[1]); t = time.monotonic()\n"
        "libseccomp_ref.build_program(p, 'x86_64')\n"
        "print(time.monotonic() - t)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], cwd=REPO, capture_output=True, text=True
    )
    return float(out.stdout.strip()) if out.returncode == 0 else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,1000")
    opts = ap.parse_args(argv)
    scales = [int(x) for x in opts.sizes.split(",")]
    rows: dict[str, list[tuple[int, int, float, float, int, str]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        for scale in scales:
            p, q = work / f"p{scale}.yaml", work / f"q{scale}.yaml"
            p.write_text(policy(scale))
            q.write_text(policy(scale, changed=True))
            out = work / f"out{scale}"
            oci = out / "oci" / "x86_64.json"
            n = (BASE_RULES + BASE_VALUES) * scale
            runs = {
                "compile": [*CLI, "compile", str(p), "-o", str(out), "--format", "oci"],
                "diff": [*CLI, "diff", str(p), str(q)],
                "stats": [*CLI, "stats", str(oci)],
                "import": [*CLI, "import", str(oci), "-o", str(work / f"imp{scale}.yaml")],
            }
            for what, cmd in runs.items():
                seconds, mb, status = measure(cmd)
                extra = f"libseccomp {libseccomp_seconds(p):.2f}s" if what == "compile" else ""
                rows.setdefault(what, []).append((scale, n, seconds, mb, status, extra))
    start = min(measure([*CLI, "syscalls", "read"])[0] for _ in range(3))
    print(f"n = rules + listed values; start-up {start:.2f} s is taken off each time (work)")
    print(f"bound: n log n growth from the work at {scales[0]}×; ratio = work / bound")
    header = f"{'':8}{'scale':>6}{'n':>8}{'time s':>8}{'work s':>8}{'bound s':>9}{'ratio':>7}"
    print(header + f"{'peak MB':>9}  exit  baseline")
    for what, results in rows.items():
        _, n0, t0, _, _, _ = results[0]
        w0 = max(t0 - start, 0.05)
        for scale, n, seconds, mb, status, extra in results:
            work = max(seconds - start, 0.05)
            bound = w0 * (n * math.log(n)) / (n0 * math.log(n0))
            print(
                f"{what:8}{scale:>5}×{n:>8}{seconds:>8.2f}{work:>8.2f}{bound:>9.2f}"
                f"{work / bound:>7.2f}{mb:>9.0f}  {status:>4}  {extra}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
