"""The native parts build for aarch64 and 32-bit arm, and the runner picks an aarch64 host's ABIs.

`native/build.py --check-only CC OUT` compiles native.c and statically links the probe and
the launcher with a cross compiler and -Werror. `make test-deps` installs the compilers
(tools/ensure-system-deps: clang with Debian's cross C libraries, since Debian's gcc cross
packages conflict with gcc-multilib); a missing one skips with the reason, except in CI
(CI=true), where it fails.

Where qemu-user is installed, the cross-built parts also run their self-check under it, with
no filter (qemu-user does not run seccomp filters faithfully; live filter runs stay on
x86_64 hosts): raw calls with their arguments, fork-like and sigreturn calls, the module's
list of entries, and the runner on a simulated aarch64 host splitting calls between the
aarch64 probe and the 32-bit arm probe.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from seccompiler.arch import abi as abimod
from seccompiler.arch import tables
from seccompiler.base.errors import UsageError
from seccompiler.runner import host, livetest, native, probe

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "native" / "build.py"
PT_INTERP = 3


@dataclass(frozen=True)
class Target:
    abi: str
    triple: str
    elf_class: int  # EI_CLASS: 1 for 32-bit, 2 for 64-bit
    elf_machine: int  # e_machine: EM_AARCH64 183, EM_ARM 40
    qemu: str


TARGETS = {
    "aarch64": Target("aarch64", "aarch64-linux-gnu", 2, 183, "qemu-aarch64"),
    "arm": Target("arm", "arm-linux-gnueabihf", 1, 40, "qemu-arm"),
}


def _missing(what: str, hint: str) -> None:
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"{what} is missing in CI: {hint}")
    pytest.skip(f"{what} is not installed ({hint})")


def _compiler(t: Target) -> str:
    """The cross compiler for ``t``: the gcc cross package's, else clang with the cross libc."""
    if Path(f"/usr/{t.triple}/lib/libc.a").is_file():
        for cc in (f"{t.triple}-gcc", f"clang --target={t.triple}"):
            if shutil.which(cc.split()[0]):
                return cc
    _missing(f"a C cross compiler for {t.triple}", "run 'make test-deps' as root")
    raise AssertionError("unreachable")


def _qemu(t: Target) -> str:
    path = shutil.which(t.qemu)
    if path is None:
        _missing(t.qemu, "Debian package qemu-user; run 'make test-deps' as root")
    assert path is not None
    return path


def _check_only(cc: str, out: Path, build: Path = BUILD) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(build), "--check-only", cc, str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _elf(path: Path) -> tuple[int, int, bool]:
    """EI_CLASS, e_machine, and whether the file asks for a program interpreter."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF", path
    cls = data[4]
    machine = struct.unpack_from("<H", data, 18)[0]
    if cls == 2:
        phoff, phentsize, phnum = (
            struct.unpack_from("<Q", data, 32)[0],
            *struct.unpack_from("<HH", data, 54),
        )
    else:
        phoff, phentsize, phnum = (
            struct.unpack_from("<I", data, 28)[0],
            *struct.unpack_from("<HH", data, 42),
        )
    types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
    return cls, machine, PT_INTERP in types


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Each target's parts, built once per worker: {abi: output directory} (present ones)."""
    out: dict[str, Path] = {}
    for t in TARGETS.values():
        try:
            cc = _compiler(t)
        except (pytest.skip.Exception, pytest.fail.Exception):
            continue
        where = tmp_path_factory.mktemp(t.abi)
        done = _check_only(cc, where)
        assert done.returncode == 0, done.stdout + done.stderr
        out[t.abi] = where
    yield out


@pytest.mark.parametrize("t", TARGETS.values(), ids=lambda t: t.abi)
def test_every_c_file_builds_for_the_target_with_warnings_as_errors(
    t: Target, tmp_path: Path
) -> None:
    cc = _compiler(t)
    done = _check_only(cc, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "native.o" in done.stdout
    obj = tmp_path / "native.o"
    assert obj.read_bytes()[:4] == b"\x7fELF"
    assert struct.unpack_from("<H", obj.read_bytes(), 18)[0] == t.elf_machine
    for name in ("seccompiler-probe", "seccompiler-launch"):
        cls, machine, dynamic = _elf(tmp_path / name)
        assert (cls, machine, dynamic) == (t.elf_class, t.elf_machine, False), name


def test_a_warning_fails_the_check(tmp_path: Path) -> None:
    t = TARGETS["aarch64"]
    cc = _compiler(t)
    copy = tmp_path / "native"
    shutil.copytree(REPO / "native", copy, ignore=shutil.ignore_patterns("out"))
    probe_c = copy / "probe.c"
    probe_c.write_text(probe_c.read_text() + "\nstatic int unused_by_anyone;\n")
    done = _check_only(cc, tmp_path / "out", copy / "build.py")
    assert done.returncode != 0
    assert "unused_by_anyone" in done.stderr


def _getpid(abi: str) -> int:
    return tables.table(abi).by_name["getpid"]


@pytest.mark.parametrize("t", TARGETS.values(), ids=lambda t: t.abi)
def test_the_cross_built_probe_makes_its_calls_under_qemu(
    t: Target, built: dict[str, Path]
) -> None:
    if t.abi not in built:
        _compiler(t)
    qemu = _qemu(t)
    nr = tables.table(t.abi).by_name
    fork = nr["clone"]
    sigreturn = nr["rt_sigreturn"]
    mmap = nr["mmap" if t.abi == "aarch64" else "mmap2"]
    calls = [
        f"{t.abi} {nr['getpid']}",
        f"{t.abi} {nr['close']} plain 99",
        f"{t.abi} {mmap} plain 0 4096 1 0x22 -1 0",  # PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS
        f"{t.abi} {fork} fork 17",  # SIGCHLD: the new process dies at once, here it is not
        f"{t.abi} {sigreturn} sigreturn",
    ]
    if t.abi == "aarch64":
        calls.append(f"{t.abi} {mmap} plain 0 4096 1 0x22 -1 1")  # the sixth argument counts
    done = subprocess.run(
        [qemu, str(built[t.abi] / "seccompiler-probe"), "--no-sandbox", *calls],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    obs = probe.parse_output(
        done.stdout, [probe.Call(t.abi, int(c.split()[1])) for c in calls], t.qemu
    )
    got = [(o.outcome, o.errno, o.signal) for o in obs]
    assert obs[0].ret > 0 and got[0] == ("returned", 0, 0)
    assert got[1] == ("returned", 9, 0)  # EBADF: the first argument arrived
    assert obs[2].ret > 0 and got[2] == ("returned", 0, 0)
    assert obs[3].ret > 0 and got[3] == ("returned", 0, 0)  # the parent got the child's pid
    assert got[4] == ("signaled", 0, 11)  # a zeroed frame: SIGSEGV
    if t.abi == "aarch64":
        assert got[5] == ("returned", 22, 0)  # EINVAL: an offset not page aligned
    # A name another build knows is refused: this probe enters its own ABI only.
    other = subprocess.run(
        [qemu, str(built[t.abi] / "seccompiler-probe"), "--no-sandbox", "x86 20"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 2 and "bad call" in other.stderr


ENTRIES_MAIN = r"""
#include <stdio.h>
#include <sys/syscall.h>
long sc_entries(void);
long sc_syscall(long, long, long, long, long, long, long);
long sc_syscall_i386(long, long, long, long, long, long, long);
long sc_syscall_x32(long, long, long, long, long, long, long);
int main(void)
{
    printf("%ld %d %ld %ld\n", sc_entries(), sc_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0) > 0,
           sc_syscall_i386(20, 0, 0, 0, 0, 0, 0), sc_syscall_x32(39, 0, 0, 0, 0, 0, 0));
    return 0;
}
"""


def test_the_aarch64_module_says_it_has_the_native_entry_only(tmp_path: Path) -> None:
    t = TARGETS["aarch64"]
    cc = _compiler(t)
    qemu = _qemu(t)
    main = tmp_path / "main.c"
    main.write_text(ENTRIES_MAIN)
    exe = tmp_path / "entries"
    cmd = [*cc.split(), "-O2", "-Wall", "-Werror", "-static", f"-I{REPO / 'native'}"]
    subprocess.run([*cmd, "-o", str(exe), str(main), str(REPO / "native" / "native.c")], check=True)
    done = subprocess.run([qemu, str(exe)], capture_output=True, text=True, timeout=60, check=True)
    bits, answered, i386, x32 = done.stdout.split()
    assert {n for n, b in native.ENTRY_BITS.items() if int(bits) & b} == {"native"}
    assert (answered, i386, x32) == ("1", "-38", "-38")  # -ENOSYS: not in this build
    assert native.entries() == {"native", "int80", "x32"}  # this machine's own build


def _wrapper(path: Path, qemu: str, exe: Path) -> None:
    path.write_text(f'#!/bin/sh\nexec {qemu} {exe} "$@"\n')
    path.chmod(0o755)


@pytest.fixture
def aarch64_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process as the runner on an aarch64 machine sees it (the module has svc only)."""
    monkeypatch.setattr(abimod, "host", lambda: abimod.ABIS["aarch64"])
    monkeypatch.setattr(native, "entries", lambda: frozenset({"native"}))
    host.native_abi.cache_clear()
    yield
    host.native_abi.cache_clear()


def test_an_aarch64_host_probes_aarch64_and_arm_through_their_probes(
    aarch64_host: None, built: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for t in TARGETS.values():
        if t.abi not in built:
            _compiler(t)
        _qemu(t)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setattr(native, "BIN_DIR", bin_dir)
    _wrapper(bin_dir / native.PROBE, _qemu(TARGETS["aarch64"]), built["aarch64"] / native.PROBE)
    assert host.family() == "aarch64"
    assert host.probe_abis() == ("aarch64", "arm")

    # No arm probe in the install: arm is reported, not probed.
    assert host.enterable() == ("aarch64",)
    chosen, unprobed = livetest._enterable(None)
    assert chosen == ("aarch64",)
    assert [(a, why.startswith("no 32-bit arm probe")) for a, _, why in unprobed] == [("arm", True)]

    # An arm probe the machine cannot execute (no AArch32 here, nor binfmt for it).
    shutil.copy(built["arm"] / native.PROBE, bin_dir / native.ARM_PROBE)
    if not Path("/proc/sys/fs/binfmt_misc/qemu-arm").exists():
        why = host.unenterable()["arm"]
        assert "does not run 32-bit arm" in why, why

    # An arm probe that runs: both ABIs are entered, each call by its own probe, in order.
    _wrapper(bin_dir / native.ARM_PROBE, _qemu(TARGETS["arm"]), built["arm"] / native.PROBE)
    assert host.unenterable() == {}
    assert livetest._enterable(None) == (("aarch64", "arm"), [])
    close = {a: tables.table(a).by_name["close"] for a in ("aarch64", "arm")}
    calls = [
        probe.Call("arm", _getpid("arm")),
        probe.Call("aarch64", _getpid("aarch64")),
        probe.Call("aarch64", close["aarch64"], (99, 0, 0, 0, 0, 0)),
        probe.Call("arm", close["arm"], (99, 0, 0, 0, 0, 0)),
    ]
    seen: list[tuple[int, int]] = []
    obs = probe.run(calls, None, sandbox=False, progress=lambda n, of: seen.append((n, of)))
    assert [o.call for o in obs] == calls
    assert [(o.outcome, o.ret > 0, o.errno) for o in obs] == [
        ("returned", True, 0),
        ("returned", True, 0),
        ("returned", False, 9),
        ("returned", False, 9),
    ]
    assert seen[-1] == (4, 4)
    with pytest.raises(UsageError, match="from this process"):
        native.syscall("arm", _getpid("arm"))
