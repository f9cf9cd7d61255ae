"""A workload that loops on a refused call cannot make the audit grow without bound: the
launcher reports the first 4096 refusals one by one and counts the rest (native/record.h) by
executable, syscall and result, with a few of the pids; the table, the JSON report and
``image test`` count them all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from livekit import policy_text, sanitized_harness

from seccompiler.arch import tables
from seccompiler.compile import load_program
from seccompiler.runner import native
from seccompiler.runner.supervise import run_supervised

pytestmark = pytest.mark.live

DETAILED = 4096
CLI = [sys.executable, "-m", "seccompiler.commands.cli"]
NO_GETPPID = """\
- action: errno(EPERM)
  syscalls: [getppid]
  reason: the loop under test
"""


def test_a_hot_refused_call_is_reported_whole_and_kept_small(tmp_path: Path) -> None:
    n = 10_000
    policy = tmp_path / "p.yaml"
    policy.write_text(policy_text(NO_GETPPID))
    report = tmp_path / "r.json"
    code = f"import os\nfor _ in range({n}):\n    try: os.getppid()\n    except OSError: pass"
    done = subprocess.run(
        [*CLI, "run", "--profile", str(policy), "--report", str(report), "--", *_py(code)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"audit: {n} refused syscalls" in done.stderr
    assert any(
        line.startswith(f"{n}  ") and " getppid " in line for line in done.stderr.splitlines()
    )
    data = json.loads(report.read_text())
    assert len(data["events"]) == DETAILED
    assert data["events_omitted"] == n - DETAILED and data["refusals_uncounted"] == 0
    (row,) = data["refused"]
    assert (row["syscall"], row["count"], row["action"]) == ("getppid", n, "errno(EPERM)")
    assert len(row["pids"]) == 1


def test_more_kinds_of_refusal_than_it_counts_are_said(tmp_path: Path) -> None:
    """9,000 different unknown numbers, each answered errno(ENOSYS): 4096 reported, 4096
    counted by number, the rest said to be uncounted."""
    numbers = range(1000, 10_000)
    probe = str(native.executable(native.PROBE))
    program = load_program(str(_policy(tmp_path)))
    result = run_supervised([probe, "--no-sandbox", *(f"x86_64 {nr}" for nr in numbers)], program)
    assert result.status == 0
    assert len(result.events) == DETAILED
    assert len(result.counted) == 4096 and all(c.count == 1 for c in result.counted)
    assert result.uncounted == len(numbers) - 2 * 4096
    assert sum(result.counts().values()) + result.uncounted == len(numbers)
    assert {str(c.action) for c in result.counted} == {"errno(ENOSYS)"}
    assert result.to_json()["events_omitted"] == len(numbers) - DETAILED


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _policy(tmp_path: Path) -> Path:
    path = tmp_path / "allow.yaml"
    path.write_text(policy_text(NO_GETPPID))
    return path


def test_i386_refusals_past_the_first_are_counted_under_their_abi(tmp_path: Path) -> None:
    getppid32 = tables.table("x86").by_name["getppid"]
    probe = str(native.executable(native.PROBE))
    calls = [f"x86 {getppid32}"] * (DETAILED + 10)
    result = run_supervised([probe, "--no-sandbox", *calls], load_program(str(_policy(tmp_path))))
    assert result.status == 0
    assert [(c.abi, c.name, c.count) for c in result.counted] == [("x86", "getppid", 10)]


HARNESS = r"""
#include "record.h"
/* argv[1]: refusals to count, random over a few syscalls, results, pids and argv[2]
 * executables */
int main(int argc, char **argv)
{
    static struct sc_refusals refs;
    unsigned long long seed = 7, calls = strtoull(argv[1], NULL, 10), detailed = 0;
    unsigned long long programs = strtoull(argv[2], NULL, 10);
    char exe[64];
    (void)argc;
    for (unsigned long long i = 0; i < calls; i++) {
        struct seccomp_data d;
        memset(&d, 0, sizeof(d));
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        d.arch = 0xc000003eU;
        d.nr = (int)((seed >> 33) % 40);
        int el = snprintf(exe, sizeof(exe), "/bin/prog-%llu", (seed >> 20) % programs);
        detailed += sc_ref_detailed(&refs, &d, 0x50000U | (unsigned)(seed >> 50) % 3,
                                    (uint32_t)(seed >> 40) % 20, exe, (size_t)el);
    }
    printf("detailed %llu\n", detailed);
    fflush(stdout);
    return sc_ref_write(&refs, 1) < 0;
}
"""


@pytest.mark.parametrize(
    ("calls", "programs", "all_counted"),
    [(100, 300, True), (20_000, 30, True), (20_000, 300, False), (400_000, 250, False)],
)
def test_the_refusal_counts_under_sanitizers(
    tmp_path: Path, calls: int, programs: int, all_counted: bool
) -> None:
    """native/record.h's refusal counts built with AddressSanitizer and UBSan: every refusal
    is reported, counted or said uncounted, once; at most 256 executables, 4096 keys and 8
    pids a key are kept."""
    exe = sanitized_harness(tmp_path, HARNESS)
    argv = [str(exe), str(calls), str(programs)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stderr, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    detailed = int(lines[0].split()[1])
    rows = [line.split(" ") for line in lines if line.startswith("refused-more ")]
    unkept = sum(int(line.split()[1]) for line in lines if line.startswith("refused-unkept "))
    assert detailed == min(calls, DETAILED)
    assert detailed + sum(int(r[4]) for r in rows) + unkept == calls
    assert len(rows) <= 4096 and len({r[6] for r in rows}) <= 256
    assert len({tuple(r[1:4] + r[6:]) for r in rows}) == len(rows)
    for r in rows:
        pids = r[5].rstrip("+").split(",")
        assert 1 <= len(pids) <= 8 and len(set(pids)) == len(pids)
        assert bytes.fromhex(r[6]).decode().startswith("/bin/prog-")
    assert (unkept == 0) == all_counted  # past 256 programs, or 4096 keys (of 40 x 3 a program)


def test_image_test_rows_take_the_counted_refusals_too() -> None:
    from seccompiler.image.live import refusals
    from seccompiler.runner.supervise import parse_status

    arch = 0xC000003E
    exe = b"/bin/app".hex()
    text = (
        f"pid 7\nrefused 7 {arch} 110 0 0 0 0 0 0 327681 {exe}\n"
        f"refused-more {arch} 110 327681 41 7,8+ {exe}\nrefused-unkept 3\nexit 0\n"
    )
    result = parse_status(text)
    rows = refusals(result)
    assert [(r.pid, r.name, r.args, r.action, r.count) for r in rows] == [
        (7, "getppid", (), "errno(EPERM)", 41),
        (7, "getppid", (0, 0, 0, 0, 0, 0), "errno(EPERM)", 1),
    ]
    assert result.counts() == {("/bin/app", "x86_64", "getppid", "errno(EPERM)"): 42}
    assert result.pids() == {("/bin/app", "getppid"): ([7, 8], True)}
    assert result.to_json()["events_omitted"] == 44
