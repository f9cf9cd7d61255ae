"""The wheel is the product: built from this tree, installed into a fresh virtual environment
in a directory outside the tree, it works there on its own.

One wheel build and one install serve every test here (a module fixture). The installed CLI
runs from a scratch directory with a plain environment: no SECCOMPILER_SHARED, no checkout
on any path it is given. Under `strace -f -e trace=%file` it must open nothing but its own
install, the Python it runs on, system libraries and kernel interfaces, and the paths named
on its command line.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MANIFEST = """\
apiVersion: v1
kind: Pod
metadata: {name: ok}
spec:
  securityContext: {seccompProfile: {type: RuntimeDefault}}
  containers: [{name: c, image: busybox}]
"""


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    work: Path

    @property
    def cli(self) -> Path:
        return self.venv / "bin" / "seccompiler"

    def env(self) -> dict[str, str]:
        return {"PATH": f"{self.venv / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}

    def run(self, *args: str, strace_log: Path | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.cli), *args]
        if strace_log is not None:
            cmd = ["strace", "-f", "-qq", "-e", "trace=%file", "-o", str(strace_log), *cmd]
        return subprocess.run(
            cmd, cwd=self.work, env=self.env(), capture_output=True, text=True, timeout=300
        )


def _pip(python: Path, *args: str) -> None:
    proc = subprocess.run([str(python), "-m", "pip", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("package")
    assert not base.resolve().is_relative_to(REPO), "the install must be outside the tree"
    wheels = base / "wheels"
    # The build backend comes from this environment (no download): the wheel is built from
    # the tree's files exactly as `pip wheel .` does. The build uses the tree's build/ folder,
    # so test workers running beside each other (pytest-xdist) take turns, and each leaves it
    # removed before the next one starts.
    lock = tmp_path_factory.getbasetemp().parent / "wheel-build.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            _pip(
                Path(sys.executable),
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "-q",
                "-w",
                str(wheels),
                str(REPO),
            )
        finally:
            shutil.rmtree(REPO / "build", ignore_errors=True)
    [wheel] = wheels.glob("seccompiler-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    _pip(venv / "bin" / "python", "install", "-q", str(wheel))
    work = base / "work"
    work.mkdir()
    yield Installed(wheel, venv, work)


def test_wheel_holds_tables_profiles_and_native_parts(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for want in (
        "seccompiler/arch/data/syscalls.tsv",
        "seccompiler/arch/data/syscall-mix.tsv",
        "seccompiler/arch/data/groups.yaml",
        "seccompiler/arch/data/constants.yaml",
        "seccompiler/profiles/keisson-default.yaml",
        "seccompiler/_bin/seccompiler-probe",
        "seccompiler/_bin/seccompiler-launch",
    ):
        assert want in names, want
    assert any(re.fullmatch(r"seccompiler/_native\..*so", n) for n in names), sorted(names)
    assert not installed.wheel.name.endswith("-none-any.whl"), "native parts make it platform-bound"
    # the command is the native front; the Python CLI is the entry point it hands over to
    with zipfile.ZipFile(installed.wheel) as wheel:
        [front] = [
            n for n in names if re.fullmatch(r"seccompiler-[^/]*\.data/scripts/seccompiler", n)
        ]
        assert wheel.read(front)[:4] == b"\x7fELF"
        [points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = wheel.read(points).decode()
    assert "seccompiler-py = seccompiler.commands.cli:entry" in scripts
    assert re.search(r"^seccompiler =", scripts, re.M) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="live runs need root (namespaces)")
def test_installed_front_serves_a_repeated_run(installed: Installed, tmp_path: Path) -> None:
    """The installed command: a first run through the Python CLI leaves the front its entry,
    the second is the front's alone (it would say why it handed a run over)."""
    assert installed.cli.read_bytes()[:4] == b"\x7fELF"
    # files written less than two seconds before a compilation are not cached: this install
    # is seconds old, a user's is not
    [profile] = installed.venv.glob(
        "lib/python*/site-packages/seccompiler/profiles/keisson-default.yaml"
    )
    os.utime(profile, (1_000_000_000, 1_000_000_000))
    env = {**installed.env(), "HOME": str(tmp_path), "SECCOMPILER_FRONT_DEBUG": "1"}
    cmd = [str(installed.cli), "run", "--profile", "keisson-default", "--audit", "--", "true"]
    runs = [
        subprocess.run(cmd, cwd=installed.work, env=env, capture_output=True, text=True)
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0]
    assert "seccompiler front: no entry for this run yet" in runs[0].stderr
    assert runs[1].stderr == "audit: no syscall was refused\n"
    assert list((tmp_path / ".cache" / "seccompiler").glob("front-*.entry"))


LIVE = pytest.mark.skipif(os.geteuid() != 0, reason="live runs need root (namespaces)")


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["syscalls", "openat"], "x86_64"),
        (["compile", "keisson-default", "-o", "out"], "wrote out/oci/x86_64.json"),
        (["verify", "keisson-default"], "agrees"),
        pytest.param(["test", "keisson-default", "--abi", "x86_64"], "0 mismatches", marks=LIVE),
        pytest.param(
            ["run", "--profile", "keisson-default", "--audit", "--", "true"], "", marks=LIVE
        ),
        (["build", "-o", "dist"], "wrote"),
        (["pss", "check", "pod.yaml"], "0 violate"),
    ],
    ids=["syscalls", "compile", "verify", "test", "run", "build", "pss"],
)
def test_installed_cli_works_outside_the_tree(
    installed: Installed, args: list[str], expect: str, tmp_path: Path
) -> None:
    (installed.work / "pod.yaml").write_text(MANIFEST)
    log = tmp_path / "strace.log"
    use_strace = shutil.which("strace") is not None
    proc = installed.run(*args, strace_log=log if use_strace else None)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert expect in proc.stdout + proc.stderr
    if use_strace:
        outside = _opened_outside(log.read_text(), installed)
        assert not outside, f"opened outside its install and its arguments: {sorted(outside)[:20]}"


# What any Python program on this system opens besides its own files: the dynamic loader's
# cache and libraries, kernel interfaces, programs on PATH (`run -- true`), the C library's
# locale and timezone data, and temporary files (tempfile's 8-character names).
SYSTEM = (
    "/lib/",
    "/lib64/",
    "/usr/lib/",
    "/usr/lib64/",
    "/etc/ld.so",
    "/proc/",
    "/dev/",
    "/sys/",
    "/usr/sbin/",
    "/usr/bin/",
    "/sbin/",
    "/bin/",
    "/usr/share/locale/",
    "/usr/share/zoneinfo/",
)
SYSTEM_FILES = {"/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/tmp", "/"}
_PATH = re.compile(r'^\d+\s+\w+\([^"]*"([^"]*)"')
_TEMP = re.compile(r"^/tmp/(?:[a-z0-9_]{8}|tmp[a-z0-9_]{8}|seccompiler-[a-z]+-[a-z0-9_]{8})(?:/|$)")


def _opened_outside(log: str, inst: Installed) -> set[str]:
    own = [str(inst.venv), str(inst.work), sys.base_prefix, os.path.realpath(sys.base_prefix)]
    found: set[str] = set()
    for line in log.splitlines():
        m = _PATH.match(line)
        if not m:
            continue
        path = m.group(1).rstrip("/")
        if not path.startswith("/"):
            continue  # relative to the scratch directory: the user's own arguments
        if any(path == o or path.startswith(o + "/") for o in own):
            continue
        if any(o.startswith(path + "/") for o in own):
            continue  # an ancestor: the interpreter resolving where it and its venv live
        if path.startswith(SYSTEM) or path in SYSTEM_FILES or _TEMP.match(path):
            continue
        if path.endswith("/python311.zip") or path.endswith(
            f"/python{sys.version_info[0]}{sys.version_info[1]}.zip"
        ):
            continue  # the interpreter probes for a zipped standard library at start-up
        found.add(path)
    return found


def test_the_audit_would_catch_a_read_of_the_checkout(installed: Installed) -> None:
    log = f'123 openat(AT_FDCWD, "{REPO}/profiles/keisson-default.yaml", O_RDONLY) = 3\n'
    log += f'124 newfstatat(AT_FDCWD, "{installed.venv}/lib", {{...}}, 0) = 0\n'
    log += '125 openat(AT_FDCWD, "/work/shared/data/syscall-mix.tsv", O_RDONLY) = 3\n'
    log += '126 openat(AT_FDCWD, "/root/.cache/x", O_RDONLY) = 3\n'
    assert _opened_outside(log, installed) == {
        f"{REPO}/profiles/keisson-default.yaml",
        "/work/shared/data/syscall-mix.tsv",
        "/root/.cache/x",
    }
