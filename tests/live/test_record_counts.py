"""``record`` counts in the launcher (native/record.h): every call, by ABI, number and only the
arguments the recorder reads; the workload's refusals answered as the program says; memory
bounded by a table of keys whose overflow is counted and said."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit import NO_MKDIR, sanitized_harness

from seccompiler.arch import abi as abimod
from seccompiler.arch import tables
from seccompiler.image.live import allow_all
from seccompiler.program import Program
from seccompiler.runner import native
from seccompiler.runner.recorder import keep_list
from seccompiler.runner.supervise import RunResult, run_recorded

pytestmark = pytest.mark.live

PY = sys.executable
KEEP = keep_list(None, ("x86_64", "x86"))
CLI = [sys.executable, "-m", "seccompiler.commands.cli"]


def _counts(result: RunResult, name: str, abi: str = "x86_64") -> Counter[tuple[int, ...]]:
    return Counter({s.args: s.count for s in result.seen if (s.abi, s.name) == (abi, name)})


def _getppids(n: int) -> RunResult:
    code = f"import os\nfor _ in range({n}): os.getppid()"
    result = run_recorded([PY, "-c", code], allow_all(), KEEP)
    assert result.status == 0, result
    return result


def test_every_call_is_counted_once() -> None:
    """The same program with 700 more getppid calls: exactly 700 more counted."""
    few, many = _getppids(0), _getppids(700)
    assert sum(_counts(many, "getppid").values()) - sum(_counts(few, "getppid").values()) == 700
    assert many.tasks >= 1 and many.unkept == 0
    assert {"execve", "mmap", "exit_group"} <= {s.name for s in many.seen}


def test_refusals_are_answered_as_the_program_says_and_still_counted(
    tmp_path: Path, make_program: Callable[[str], Program]
) -> None:
    target = tmp_path / "r"
    code = f"import os\ntry: os.mkdir({str(target)!r})\nexcept PermissionError: print('refused')"
    result = run_recorded([PY, "-c", code], make_program(NO_MKDIR), KEEP)
    assert result.status == 0 and not target.exists()
    assert sum(_counts(result, "mkdir").values()) == 1
    assert [(e.name, str(e.action)) for e in result.events] == [("mkdir", "errno(EPERM)")]


def test_only_the_arguments_asked_for_make_keys() -> None:
    """socket's family is kept, its type (a pointer-free but unread argument) counts as zero;
    write's arguments are all zero whatever the buffer and length."""
    code = (
        "import socket, os\n"
        "for fam, kind in ((1, 1), (2, 1), (2, 2), (2, 2)):\n"
        "    socket.socket(fam, kind).close()\n"
        "os.write(1, b'x'); os.write(1, b'yy')"
    )
    result = run_recorded([PY, "-c", code], allow_all(), KEEP)
    assert result.status == 0
    sockets = _counts(result, "socket")
    assert sockets[(1, 0, 0, 0, 0, 0)] == 1 and sockets[(2, 0, 0, 0, 0, 0)] == 3
    assert set(_counts(result, "write")) == {(0,) * 6}


def test_i386_calls_are_counted_under_their_own_abi() -> None:
    probe = str(native.executable(native.PROBE))
    getpid32 = tables.table("x86").by_name["getpid"]
    result = run_recorded([probe, "--no-sandbox", f"x86 {getpid32}"], allow_all(), KEEP)
    assert result.status == 0
    assert sum(_counts(result, "getpid", abi="x86").values()) == 1


def test_a_full_table_counts_the_rest_and_record_says_so(tmp_path: Path) -> None:
    """70,000 different ioctl requests (the request is kept): the table keeps 65,536 keys;
    the calls past it are counted as not kept, and ``record`` says so on stderr and in the
    policy's header. Memory stays that of the table."""
    n = 70_000
    code = (
        f"import fcntl\nfor r in range({n}):\n"
        "    try: fcntl.ioctl(1000, r)\n    except OSError: pass"
    )
    out = tmp_path / "rec.yaml"
    done = subprocess.run(
        [*CLI, "record", "-o", str(out), "--", PY, "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    header = out.read_text().split("seccompiler: 1")[0]
    observed = re.search(r"# (\d+) syscalls observed", header)
    unkept = re.search(r"# (\d+) calls not covered: the run made more different calls", header)
    assert observed and unkept, header
    assert int(unkept[1]) >= n - (1 << 16) and int(observed[1]) > n
    assert f"seccompiler: {unkept[1]} calls counted but not kept" in done.stderr
    assert "      - ioctl " in out.read_text()  # seen with more than 16 values: allowed whole


def test_a_malformed_keep_list_is_the_launchers_error() -> None:
    bpf = b"\x06\x00\x00\x00\x00\x00\xff\x7f"  # ret ALLOW
    r, w = os.pipe()
    memfds = []
    for data in (bpf, bpf):
        fd = os.memfd_create("f", 0)
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
        memfds.append(fd)
    cmd = [str(native.executable(native.LAUNCHER)), "--filter-fd", str(memfds[0])]
    cmd += ["--answer-fd", str(memfds[1]), "--status-fd", str(w), "--record", "1:2"]
    done = subprocess.run([*cmd, "--", "/bin/true"], pass_fds=(*memfds, w), check=False)
    os.close(w)
    with os.fdopen(r) as fh:
        status = fh.read()
    for fd in memfds:
        os.close(fd)
    assert done.returncode == 125 and status == "error record 22\n"


def test_the_keep_list_names_exactly_the_selecting_arguments() -> None:
    x64 = tables.table("x86_64").by_name
    entries = dict(e.rsplit(":", 1) for e in keep_list(None, ("x86_64",)).split(","))
    arch = abimod.ABIS["x86_64"].audit_arch
    assert entries[f"{arch}:{x64['ioctl']}"] == str(1 << 1)
    assert entries[f"{arch}:{x64['socket']}"] == str(1 << 0)
    assert f"{arch}:{x64['write']}" not in entries


HARNESS = r"""
#include "record.h"
/* argv[1]: the keep list; argv[2]: calls to count, random over a few syscalls */
int main(int argc, char **argv)
{
    static struct sc_rec rec;
    unsigned long long seed = 2026, calls = strtoull(argv[2], NULL, 10);
    if (argc != 3 || sc_rec_init(&rec, argv[1]) < 0) {
        puts("bad");
        return 0;
    }
    for (unsigned long long i = 0; i < calls; i++) {
        struct seccomp_data d;
        memset(&d, 0, sizeof(d));
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        d.arch = (seed >> 60) & 1 ? 0xc000003eU : 0x40000003U;
        d.nr = (int)((seed >> 33) % 4);
        for (int a = 0; a < 6; a++)
            d.args[a] = (seed >> (a * 7)) & 0xffffff;
        sc_rec_count(&rec, &d, (uint32_t)(seed >> 40) % 300);
    }
    fflush(stdout);
    return sc_rec_write(&rec, 1) < 0;
}
"""


@pytest.mark.parametrize(
    ("keep", "calls"),
    [
        ("", 5000),
        (f"{0xC000003E}:1:2,{0x40000003}:2:63", 600_000),
        ("1:2", 10),
        ("a", 10),
        (",1:2:3", 10),
        ("1:2:64", 10),
        ("4294967296:1:1", 10),
        (",".join(f"1:{n}:1" for n in range(5000)), 10),
    ],
)
def test_the_counting_table_under_sanitizers(tmp_path: Path, keep: str, calls: int) -> None:
    """native/record.h built with AddressSanitizer and UBSan: a malformed or too long keep
    list is refused; every call is counted once, as a key or as unkept; the table never
    holds more than its 65,536 keys; arguments not asked for are zero."""
    exe = sanitized_harness(tmp_path, HARNESS)
    done = subprocess.run([str(exe), keep, str(calls)], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stderr, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    well_formed = keep == "" or keep.startswith(str(0xC000003E))
    if not well_formed:
        assert lines == ["bad"]
        return
    seen = [[int(f) for f in line.split()[1:]] for line in lines if line.startswith("seen ")]
    more = sum(int(line.split()[1]) for line in lines if line.startswith("more "))
    assert sum(s[-1] for s in seen) + more == calls
    assert len(seen) <= 1 << 16 and len({tuple(s[:-1]) for s in seen}) == len(seen)
    assert (more > 0) == (keep != "")  # with arguments kept, 600,000 calls overflow it
    assert len(seen) == (1 << 16 if more else len(seen))
    masks = {(0xC000003E, 1): 2, (0x40000003, 2): 63} if keep else {}
    for arch, nr, *args, _ in seen:
        mask = masks.get((arch, nr), 0)
        assert all(v == 0 for i, v in enumerate(args) if not mask >> i & 1)
    assert any(line.startswith("tasks ") and 0 < int(line.split()[1]) <= 300 for line in lines)
