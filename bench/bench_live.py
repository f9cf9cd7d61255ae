"""Benchmark the live checks: the full ``seccompiler test`` matrix, and what ``run`` costs.

Printed side by side in one run:
- test: wall time of the whole matrix for the bundled default profile (plan, twin proof,
  every call of x86_64, x86 and x32 under the twin and the real filter), and per call;
- run: wall time of each workload alone, under ``run`` without audit (the real filter),
  under ``run --audit`` with the default profile (nothing refused, so nothing notified),
  under ``run --audit`` with a profile refusing the workload's hot syscall (every one of them
  is answered by the launcher), and under ``strace -f -c`` (the usual way to see a program's
  syscalls). Each figure is the median of five runs (--repeat); the filter's compilation is
  included in the ``run`` figures, since a user pays it. The machine is shared: read the
  figures as orders of magnitude.

Then the rows with a target, each with its anchor measured in the same run:
- ``seccompiler test`` full matrix, the command as a user runs it: at most 3 s, on
  whatever load the machine has;
- ``seccompiler run --audit -- git init`` as a user runs it (the installed command, a
  repeated run): its overhead over ``git init`` alone at most ``strace -f -c``'s. Measured
  as installed: a fresh virtual environment whose ``bin/`` holds the native front as
  ``seccompiler`` (native/front.c) and the console script as ``seccompiler-py``, whose
  site-packages finds this tree through a plain path entry, as an installed wheel's files
  are found, with the package's bytecode compiled as pip compiles it at install; one run
  first, as a user's first run, fills the filter cache and the front's entry. Printed
  beside, for reference: the same run through the Python entry point (``seccompiler-py``,
  what every run cost before the front), and the time the interpreter takes to start and
  do nothing (``python -c pass``), the floor of any console script. Each variant of each
  round runs in a fresh directory.

Usage: python bench/bench_live.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from seccompiler.compile import load_program
from seccompiler.program import Program
from seccompiler.runner import livetest
from seccompiler.runner.supervise import run_supervised

REPO = Path(__file__).resolve().parent.parent
DEFAULT = REPO / "profiles" / "keisson-default.yaml"
PY = shutil.which("python3") or sys.executable
HOT = 20000

REFUSE = """\
seccompiler: 1
name: bench-refuse
abis: [x86_64, x86]
default: allow
unknown: errno(ENOSYS)
rules:
  - action: errno(EPERM)
    syscalls: [{name}]
    reason: every call of the workload's hot syscall is answered by the launcher
"""


def _alone(argv: list[str]) -> int:
    return subprocess.run(argv, stdout=subprocess.DEVNULL, check=False).returncode


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _workloads(tmp: str) -> list[tuple[str, list[str], str]]:
    """(label, argv, hot syscall)"""
    loop = f"import os\nfor _ in range({HOT}): os.getppid()"
    return [
        ("true", ["true"], "getppid"),
        (f"python3 {HOT}x getppid", [PY, "-c", loop], "getppid"),
        (
            "git init",
            ["sh", "-c", f'git init -q "{tmp}/r$$" 2>/dev/null && rm -rf "{tmp}/r$$"'],
            "mkdir",
        ),
    ]


def bench_test(program: Program) -> tuple[float, int]:
    start = time.perf_counter()
    report = livetest.run_matrix(program)
    assert not report.mismatches, "the default profile must pass"
    return time.perf_counter() - start, len(report.rows)


def _installed_like(tmp: str) -> str:
    """The console script in a fresh virtual environment that finds this tree as installed."""
    venv = Path(tmp) / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # pip compiles an install's bytecode; an environment with PYTHONDONTWRITEBYTECODE set
    # would otherwise compile the changed modules again at every start
    compileall = [sys.executable, "-m", "compileall", "-q", str(REPO / "seccompiler")]
    subprocess.run(compileall, check=True, stdout=subprocess.DEVNULL)
    [site] = venv.glob("lib/python*/site-packages")
    (site / "seccompiler-tree.pth").write_text(f"{REPO}\n")
    dev = Path(sys.executable).with_name("seccompiler-py").read_text().split("\n", 1)[1]
    script = venv / "bin" / "seccompiler-py"
    script.write_text(f"#!{venv / 'bin' / 'python'}\n{dev}")
    script.chmod(0o755)
    front = venv / "bin" / "seccompiler"  # the command as installed: the native front
    shutil.copy2(REPO / "seccompiler" / "_bin" / "seccompiler-front", front)
    return str(front)


def _cli_overhead(repeat: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU times of git init alone, under strace -f -c, under ``run --audit``
    (as installed: the front, and the Python entry point)."""
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        exe = _installed_like(tmp)
        py = str(Path(exe).with_name("seccompiler-py"))

        def git(tag: str) -> list[str]:
            shutil.rmtree(f"{tmp}/{tag}", ignore_errors=True)
            return ["git", "init", "-q", f"{tmp}/{tag}"]

        variants = {
            "alone": lambda: git("alone"),
            "strace": lambda: ["strace", "-f", "-c", "-o", os.devnull, *git("strace")],
            "ours": lambda: [exe, "run", "--profile", str(DEFAULT), "--audit", "--", *git("ours")],
            "py": lambda: [py, "run", "--profile", str(DEFAULT), "--audit", "--", *git("py")],
            "python": lambda: [str(Path(exe).with_name("python")), "-c", "pass"],
        }

        def quiet(cmd: list[str]) -> None:
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

        # the filter cache, filled from the development environment (this environment has
        # no compiler's dependencies), then the front's entry, by a first run through it
        dev = str(Path(sys.executable).with_name("seccompiler-py"))
        quiet([dev, "run", "--profile", str(DEFAULT), "--", "true"])
        quiet(variants["ours"]())
        wall: dict[str, list[float]] = {k: [] for k in variants}
        cpu: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(repeat):  # interleaved, so that load changes hit all alike
            for name, argv in variants.items():
                cmd = argv()
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                quiet(cmd)
                wall[name].append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                cpu[name].append(used)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in variants}


def print_targets(repeat: int) -> None:
    print("targets (ours | anchor in this run | ratio | target | met)")
    exe = str(Path(sys.executable).with_name("seccompiler"))
    start = time.perf_counter()  # as a user runs it: start-up and compilation included
    subprocess.run([exe, "test", str(DEFAULT)], stdout=subprocess.DEVNULL, check=True)
    test_s = time.perf_counter() - start
    met = test_s <= 3.0
    print(
        f"  seccompiler test, full   {test_s:6.2f} s | none              |       | "
        f"<= 3 s   | {'yes' if met else 'NO'}   (uptime load {os.getloadavg()[0]:.1f})"
    )
    if not shutil.which("strace"):
        print("  run --audit -- git init  n/a: strace is not installed")
        return
    t = _cli_overhead(max(repeat, 11))
    for i, what in enumerate(("wall", "CPU")):
        alone, strace, ours = t["alone"][i], t["strace"][i], t["ours"][i]
        mine, theirs = ours - alone, strace - alone
        ratio = mine / theirs if theirs > 0 else float("inf")
        print(
            f"  run --audit -- git init  {what:4} overhead {mine * 1e3:5.1f} ms | strace -f -c "
            f"{theirs * 1e3:5.1f} ms | {ratio:5.2f} | <= 1.00  | {'yes' if ratio <= 1 else 'NO'}"
            f"   (git init alone {alone * 1e3:.1f} ms, under run {ours * 1e3:.1f} ms, "
            f"under strace {strace * 1e3:.1f} ms; the interpreter's start-up alone "
            f"{t['python'][i] * 1e3:.1f} ms; overhead through the Python entry point "
            f"seccompiler-py {(t['py'][i] - alone) * 1e3:.1f} ms)"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    opts = ap.parse_args()
    program = load_program(str(DEFAULT))

    seconds, calls = bench_test(program)
    print("seccompiler test profiles/keisson-default.yaml (x86_64, x86, x32; twin + real)")
    print(
        f"  {calls} calls x 2 filters in {seconds:.2f} s = {seconds / calls / 2 * 1e3:.2f} ms "
        "per call (fork, filter install, call, report)"
    )
    print()

    strace = shutil.which("strace")
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        header = ("workload", "alone", "run", "run --audit", "audit, hot refused", "strace -f -c")
        rows: list[tuple[str, ...]] = [header]
        for label, argv, hot in _workloads(tmp):
            policy = Path(tmp) / f"refuse-{hot}.yaml"
            policy.write_text(REFUSE.format(name=hot))
            refusing = load_program(str(policy))
            # Warm caches, and check that each variant does what its column claims.
            assert _alone(argv) == 0
            assert run_supervised(argv, program, audit=False).status == 0
            assert run_supervised(argv, program).events == []
            refused = run_supervised(argv, refusing)
            assert label == "true" or refused.events, f"{label}: nothing refused"
            variants: list[Callable[[], object]] = [
                partial(_alone, argv),
                partial(run_supervised, argv, program, audit=False),
                partial(run_supervised, argv, program),
                partial(run_supervised, argv, refusing),
            ]
            if strace:
                variants.append(partial(_alone, [strace, "-f", "-c", "-o", os.devnull, *argv]))
            figures = [f"{_median(v, opts.repeat) * 1e3:.1f} ms" for v in variants]
            rows.append((label, *figures, *(["n/a"] * (len(header) - 1 - len(figures)))))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        print(f"run overhead (median of {opts.repeat} runs; baselines: alone and strace -f -c)")
        for r in rows:
            cells = [
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ]
            print("  " + "  ".join(cells))
    print()
    print_targets(opts.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
