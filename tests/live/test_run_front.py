"""The installed command's native front (native/front.c): it serves a repeated ``run`` only
from an entry whose every fact still holds, and hands everything else to the Python CLI.

Most tests put the front beside a stand-in ``seccompiler-py`` (a shell script that says how
it was called), so that every hand-over is seen; the entries they use are written by the
package's own writer (``runner/frontentry.py``) over a small package folder of the test's.
The last tests run the real installed command of this environment end to end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit import DEFAULT, NO_MKDIR, policy_text

from seccompiler.runner import filtercache, frontentry, native

FRONT = native.BIN_DIR / "seccompiler-front"
STAND_IN = """#!/bin/sh
{{
  echo "args $*"
  echo "front ${{SECCOMPILER_FRONT:-}}"
  if [ -n "${{SECCOMPILER_FRONT_STATUS:-}}" ]; then
    echo "status-fd $SECCOMPILER_FRONT_STATUS"
    cat "/proc/self/fd/$SECCOMPILER_FRONT_STATUS"
  fi
}} > "{log}"
exit 42
"""
OLD = 1_000_000_000  # an mtime long settled

pytestmark = pytest.mark.skipif(not FRONT.exists(), reason="native parts not built")


class Rig:
    """A bin/ folder with the front and a stand-in Python entry point, a package folder, a
    cache, and an entry writer."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.front = self.bin / "seccompiler"
        shutil.copy2(FRONT, self.front)
        self.log = tmp / "py.log"
        py = self.bin / "seccompiler-py"
        py.write_text(STAND_IN.format(log=self.log))
        py.chmod(0o755)
        self.pkg = tmp / "pkg"
        (self.pkg / "_bin").mkdir(parents=True)
        self.launcher = self.pkg / "_bin" / "seccompiler-launch"
        shutil.copy2(native.BIN_DIR / native.LAUNCHER, self.launcher)
        (self.pkg / "module.py").write_text("x = 1\n")
        self.cache = tmp / "xdg"
        self.cwd = tmp / "work"
        self.cwd.mkdir()
        self.env = {**os.environ, "XDG_CACHE_HOME": str(self.cache)}

    def policy(self, name: str, rules: str) -> Path:
        path = self.cwd / name
        path.write_text(policy_text(rules))
        os.utime(path, (OLD, OLD))
        return path

    def stats(self) -> list[tuple[str, os.stat_result]]:
        out = [(str(self.pkg), os.stat(self.pkg))]
        for dirpath, dirs, files in os.walk(self.pkg):
            for name in sorted(dirs + files):
                p = os.path.join(dirpath, name)
                out.append((p, os.stat(p)))
        return out

    def entry(
        self,
        profile: str,
        caps: tuple[str, ...] = (),
        sources: list[Path] | None = None,
        policy: Path | None = None,
    ) -> Path:
        """Write the entry the front looks for, as the CLI writes it."""
        compiled = policy or self.cwd / profile
        real, audit, used = filtercache.compile_filters(str(compiled), caps)
        files = [Path(s).resolve() for s in used] + list(sources or [])
        digests = tuple((str(f), filtercache.sha256_hex(f.read_bytes())) for f in files)
        filters = filtercache.Filters(real, audit, cached=True, sources=digests)
        key = frontentry.key(str(self.front), str(self.cwd), profile, caps)
        lines = frontentry.lines(key, profile, str(self.launcher), self.stats(), filters)
        assert lines is not None
        path = self.cache / "seccompiler" / f"front-{key}.entry"
        assert filtercache.write_checked(str(path), lines)
        return path

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        if self.log.exists():
            self.log.unlink()
        return subprocess.run(
            [str(self.front), *args],
            cwd=cwd or self.cwd,
            env={**self.env, "SECCOMPILER_FRONT_DEBUG": "1"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def handed_over(self) -> str | None:
        """What the stand-in was called with, or None when the front served the run."""
        return self.log.read_text() if self.log.exists() else None


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def test_a_current_entry_is_served_without_python(rig: Rig) -> None:
    rig.policy("p.yaml", NO_MKDIR)
    rig.entry("p.yaml")
    done = rig.run("run", "--profile", "p.yaml", "--", "sh", "-c", "echo hello; exit 7")
    assert rig.handed_over() is None, done.stderr
    assert (done.returncode, done.stdout, done.stderr) == (7, "hello\n", "")
    audited = rig.run("run", "--audit", "--profile=p.yaml", "--", "true")
    assert rig.handed_over() is None
    assert (audited.returncode, audited.stderr) == (0, "audit: no syscall was refused\n")


def test_the_served_run_is_under_the_policy_filter(rig: Rig) -> None:
    rig.policy("p.yaml", NO_MKDIR)
    rig.entry("p.yaml")
    done = rig.run("run", "--profile", "p.yaml", "--", "mkdir", "made")
    assert rig.handed_over() is None
    assert done.returncode == 1 and "Operation not permitted" in done.stderr
    assert not (rig.cwd / "made").exists()
    assert rig.run("run", "--profile", "p.yaml", "--", "rmdir", "--help").returncode == 0


def test_a_refusal_to_report_goes_to_python_with_the_status(rig: Rig) -> None:
    rig.policy("p.yaml", NO_MKDIR)
    rig.entry("p.yaml")
    done = rig.run("run", "--audit", "--profile", "p.yaml", "--", "mkdir", "made")
    said = rig.handed_over()
    assert said is not None and done.returncode == 42
    assert said.startswith("args run --audit --profile p.yaml -- mkdir made\n")
    assert f"front {rig.front}\n" in said and "status-fd " in said
    refused = [line for line in said.splitlines() if line.startswith("refused ")]
    assert len(refused) == 1 and refused[0].split()[3] in ("83", "258")  # mkdir(at), x86_64
    assert said.rstrip().endswith("exit 1")
    assert not (rig.cwd / "made").exists()


def _edit(path: Path) -> None:
    path.write_text(path.read_text() + "# edited\n")


def _rewrite(entry: Path, change: Callable[[list[str]], list[str]]) -> None:
    """The entry's lines changed, and checksummed again as the writer does."""
    lines = entry.read_text().splitlines()[:-1]  # the checksum goes, and comes back
    assert filtercache.write_checked(str(entry), change(lines))


STALE: dict[str, Callable[[Rig, Path], object]] = {
    "the policy edited": lambda rig, e: _edit(rig.cwd / "p.yaml"),
    "a package file edited": lambda rig, e: _edit(rig.pkg / "module.py"),
    "a package file touched": lambda rig, e: os.utime(rig.pkg / "module.py", (OLD, OLD)),
    "a package file added": lambda rig, e: (rig.pkg / "new.py").write_text(""),
    "a package file removed": lambda rig, e: (rig.pkg / "module.py").unlink(),
    "the launcher replaced": lambda rig, e: shutil.copy(
        native.BIN_DIR / native.LAUNCHER, rig.launcher
    ),
    "the entry's checksum broken": lambda rig, e: e.write_bytes(
        e.read_bytes().replace(b"real ", b"real 0000000000000000", 1)
    ),
    "the entry cut short": lambda rig, e: e.write_bytes(e.read_bytes()[:-40]),
    "the entry emptied": lambda rig, e: e.write_bytes(b""),
    "the entry a FIFO": lambda rig, e: (e.unlink(), os.mkfifo(e)),
    # rewritten with a valid checksum: the launcher must be one of the files it checks
    "the launcher outside the checked files": lambda rig, e: _rewrite(
        e,
        lambda lines: [
            f"launcher {os.fsencode('/bin/true').hex()}" if x.startswith("launcher ") else x
            for x in lines
        ],
    ),
    "the launcher named twice": lambda rig, e: _rewrite(
        e, lambda lines: [*lines, f"launcher {os.fsencode('/bin/true').hex()}"]
    ),
    "no stat line": lambda rig, e: _rewrite(
        e, lambda lines: [x for x in lines if not x.startswith("stat ")]
    ),
    "no source line": lambda rig, e: _rewrite(
        e, lambda lines: [x for x in lines if not x.startswith("source ")]
    ),
    "the entry a folder": lambda rig, e: (e.unlink(), e.mkdir()),
}


@pytest.mark.parametrize("change", list(STALE))
def test_what_no_longer_holds_is_handed_to_python(rig: Rig, change: str) -> None:
    rig.policy("p.yaml", NO_MKDIR)
    entry = rig.entry("p.yaml")
    assert rig.run("run", "--profile", "p.yaml", "--", "true").returncode == 0
    assert rig.handed_over() is None
    STALE[change](rig, entry)
    done = rig.run("run", "--profile", "p.yaml", "--", "true")
    assert done.returncode == 42, done.stderr
    assert rig.handed_over() == f"args run --profile p.yaml -- true\nfront {rig.front}\n"
    assert done.stderr.startswith("seccompiler front: ")  # the debug line says why


def test_an_edited_base_policy_is_handed_to_python(rig: Rig) -> None:
    base = rig.policy("base.yaml", NO_MKDIR)
    top = rig.cwd / "top.yaml"
    top.write_text("seccompiler: 1\nextends: base.yaml\n")
    os.utime(top, (OLD, OLD))
    rig.entry("top.yaml")
    assert rig.run("run", "--profile", "top.yaml", "--", "true").returncode == 0
    assert rig.handed_over() is None
    _edit(base)
    assert rig.run("run", "--profile", "top.yaml", "--", "true").returncode == 42


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--profile", "p.yaml", "--caps", "CAP_SYS_ADMIN", "--", "true"],  # other caps
        ["run", "--profile", "./p.yaml", "--", "true"],  # the same file, named otherwise
        ["run", "--report", "r.json", "--profile", "p.yaml", "--", "true"],
        ["run", "--profile", "p.yaml", "--profile", "p.yaml", "--", "true"],
        ["run", "--profile", "p.yaml", "true"],
        ["run", "--profile", "p.yaml", "--"],
        ["run", "--profile", "sub", "--", "true"],  # a folder
        ["run", "--profile", "-x", "--", "true"],
        ["run", "--audit=yes", "--profile", "p.yaml", "--", "true"],
        ["run", "--help"],
        ["run"],
        ["compile", "p.yaml", "-o", "out"],
        ["--version"],
        [],
    ],
)
def test_other_invocations_are_handed_over_as_they_are(rig: Rig, args: list[str]) -> None:
    rig.policy("p.yaml", NO_MKDIR)
    (rig.cwd / "sub").mkdir()
    rig.entry("p.yaml")
    done = rig.run(*args)
    assert done.returncode == 42
    assert rig.handed_over() == f"args {' '.join(args)}\nfront {rig.front}\n"


def test_another_working_directory_has_its_own_entry(rig: Rig) -> None:
    rig.policy("p.yaml", NO_MKDIR)
    rig.entry("p.yaml")
    elsewhere = rig.tmp / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "p.yaml").write_text((rig.cwd / "p.yaml").read_text())
    assert rig.run("run", "--profile", "p.yaml", "--", "true", cwd=elsewhere).returncode == 42


def test_a_bundled_name_shadowed_by_a_file_is_handed_over(rig: Rig) -> None:
    bundled = Path(filtercache.resolve_name("keisson-default"))
    assert bundled.is_file()
    rig.entry("keisson-default", policy=bundled)
    assert rig.run("run", "--profile", "keisson-default", "--", "true").returncode == 0
    assert rig.handed_over() is None
    (rig.cwd / "keisson-default").write_text("seccompiler: 1\n")
    assert rig.run("run", "--profile", "keisson-default", "--", "true").returncode == 42


@pytest.mark.parametrize("size", [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 100_003])
def test_the_front_digests_as_python_does(rig: Rig, size: int) -> None:
    """Every length around SHA-256's padding boundaries: an entry whose source the front
    digests differently would never be served."""
    rig.policy("p.yaml", NO_MKDIR)
    extra = rig.tmp / "extra"
    extra.write_bytes(bytes((i * 7 + 3) % 256 for i in range(size)))
    rig.entry("p.yaml", sources=[extra])
    assert rig.run("run", "--profile", "p.yaml", "--", "true").returncode == 0
    assert rig.handed_over() is None
    extra.write_bytes(extra.read_bytes()[::-1] + b"!")
    assert rig.run("run", "--profile", "p.yaml", "--", "true").returncode == 42


def test_a_signal_to_the_front_reaches_the_workload(rig: Rig) -> None:
    rig.policy("p.yaml", NO_MKDIR)
    rig.entry("p.yaml")
    ready = rig.tmp / "ready"
    script = f"trap 'echo got-term; exit 9' TERM; touch {ready}; while :; do sleep 0.05; done"
    proc = subprocess.Popen(
        [str(rig.front), "run", "--profile", "p.yaml", "--", "sh", "-c", script],
        cwd=rig.cwd,
        env=rig.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(400):
            if ready.exists():
                break
            subprocess.run(["sleep", "0.025"], check=True)
        proc.terminate()
        out, _err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    # the workload's own answer to TERM: its status comes back plain, so the front says it
    assert (proc.returncode, out) == (9, "got-term\n")
    assert rig.handed_over() is None


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_without_proc_the_entry_point_is_found_as_the_front_was(rig: Rig) -> None:
    """No /proc/self/exe: the Python entry point beside the path the front was started by,
    or, started by name, the one on PATH -- never one in the working directory."""
    decoy = rig.cwd / "seccompiler-py"
    decoy.write_text("#!/bin/sh\necho decoy > decoy-ran\n")
    decoy.chmod(0o755)
    for how, env in (
        (str(rig.front), rig.env),
        ("seccompiler", {**rig.env, "PATH": f"{rig.bin}:{os.environ['PATH']}"}),
    ):
        done = subprocess.run(
            [
                "unshare",
                "--mount",
                "sh",
                "-c",
                f'umount -l /proc && exec {how} "$@"',
                "-",
                "--version",
            ],
            cwd=rig.cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 42, done.stderr
        assert rig.handed_over() == "args --version\nfront \n"  # nothing to believe
        assert not (rig.cwd / "decoy-ran").exists()
        rig.log.unlink()


def test_damaged_entries_never_crash_the_front(rig: Rig, tmp_path: Path) -> None:
    """Entries cut, doubled, with fields changed to huge, negative or odd numbers, yet with a
    valid checksum so that every line is parsed: the front, built with AddressSanitizer and
    UBSan, serves or hands over, and never reads or writes out of bounds."""
    import random

    asan = tmp_path / "front-asan"
    built = subprocess.run(
        [
            "gcc",
            "-O1",
            "-g",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-o",
            str(asan),
            str(Path(native.__file__).parents[2] / "native" / "front.c"),
        ],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        pytest.skip(f"no sanitizer build here: {built.stderr[-200:]}")
    shutil.copy2(asan, rig.front)
    rig.policy("p.yaml", NO_MKDIR)
    entry = rig.entry("p.yaml")
    lines = entry.read_text().splitlines()[:-1]
    rng = random.Random(2026)
    odd = ["", "18446744073709551615", "99999999999999999999", "-1", "ff", "0" * 300, "zz"]
    for _ in range(120):
        mutated = list(lines)
        for _ in range(rng.randint(1, 4)):
            k = rng.randrange(len(mutated))
            words = mutated[k].split(" ")
            how = rng.randrange(4)
            if how == 0:
                mutated[k] = mutated[k][: rng.randrange(len(mutated[k]) + 1)]
            elif how == 1:
                mutated.insert(k, rng.choice(mutated))
            elif how == 2:
                del mutated[k]
            elif len(words) > 1:
                words[rng.randrange(1, len(words))] = rng.choice(odd)
                mutated[k] = " ".join(words)
        assert filtercache.write_checked(str(entry), mutated)
        done = rig.run("run", "--profile", "p.yaml", "--", "true")
        assert done.returncode in (0, 42), done.stderr[-2000:]
        assert "Sanitizer" not in done.stderr and "runtime error" not in done.stderr


# ---- the Python side ----


def test_python_believes_only_the_front_beside_it(tmp_path: Path) -> None:
    try:
        env = {"SECCOMPILER_FRONT": "/opt/x/bin/seccompiler", "SECCOMPILER_FRONT_STATUS": "0"}
        frontentry.take_env(env, argv0="/usr/bin/seccompiler-py")
        assert env == {} and frontentry.front is None and frontentry.status_fd is None
        env = {"SECCOMPILER_FRONT": "/opt/x/bin/seccompiler", "SECCOMPILER_FRONT_STATUS": "0"}
        frontentry.take_env(env, argv0="/opt/x/bin/seccompiler-py")
        assert frontentry.front == "/opt/x/bin/seccompiler"
        assert frontentry.status_fd is None  # fd 0 is no status memfd of the front's
        with pytest.raises(frontentry.StatusUnreadable):  # and the workload never runs twice
            frontentry.handed_status()
        fd = os.memfd_create("seccompiler-status", 0)
        os.write(fd, b"pid 5\nexit 3\n")
        env = {"SECCOMPILER_FRONT": "/opt/x/bin/seccompiler", "SECCOMPILER_FRONT_STATUS": str(fd)}
        frontentry.take_env(env, argv0="/opt/x/bin/seccompiler-py")
        assert frontentry.handed_status() == "pid 5\nexit 3\n"
        assert frontentry.handed_status() is None  # once, and the descriptor is closed
        with pytest.raises(OSError):
            os.fstat(fd)
    finally:
        frontentry.front = frontentry.status_fd = None
        frontentry.status_named = False


def test_the_entry_python_writes_records_every_file_of_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import seccompiler

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(frontentry, "front", str(tmp_path / "bin" / "seccompiler"))
    monkeypatch.setattr(filtercache, "_tool", None)  # taken afresh, whatever ran before
    policy = tmp_path / "p.yaml"
    policy.write_text(policy_text(NO_MKDIR))
    os.utime(policy, (OLD, OLD))
    filters = filtercache.filters_for(str(policy))
    assert filters.sources == ((str(policy), filtercache.sha256_hex(policy.read_bytes())),)
    assert frontentry.write(str(policy), (), str(native.BIN_DIR / native.LAUNCHER), filters)
    [entry] = (tmp_path / "xdg" / "seccompiler").glob("front-*.entry")
    recorded = {
        os.fsdecode(bytes.fromhex(line.split(" ")[-1]))
        for line in entry.read_text().splitlines()
        if line.startswith("stat ")
    }
    package = os.path.dirname(os.path.realpath(seccompiler.__file__))
    expected = {package}
    for dirpath, dirs, files in os.walk(package, followlinks=True):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        expected.update(os.path.join(dirpath, n) for n in dirs + files)
    assert expected == recorded
    # the fingerprint not taken here: no entry, rather than an unchecked one
    monkeypatch.setattr(filtercache, "_tool", "0.0.0+another-build")
    assert filtercache.package_stats() is None
    assert not frontentry.write(str(policy), (), str(native.BIN_DIR / native.LAUNCHER), filters)


def test_a_status_python_cannot_read_does_not_run_the_workload_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from seccompiler.commands import runfast

    marker = tmp_path / "ran"
    monkeypatch.setattr(frontentry, "status_named", True)
    monkeypatch.setattr(frontentry, "status_fd", None)
    args = runfast.parse(["--profile", str(DEFAULT), "--", "touch", str(marker)])
    assert args is not None
    assert runfast.execute(args) == runfast.OWN_FAILURE
    assert not marker.exists()
    assert "touch has run, but SECCOMPILER_FRONT_STATUS names no status" in capsys.readouterr().err


# ---- the real installed command ----

INSTALLED = Path(sys.executable).with_name("seccompiler")


def _installed(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INSTALLED), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(
    not INSTALLED.exists() or INSTALLED.read_bytes()[:4] != b"\x7fELF",
    reason="this environment's seccompiler command is not the native front",
)
def test_the_installed_command_serves_its_second_run(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(policy_text(NO_MKDIR))
    os.utime(policy, (OLD, OLD))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "SECCOMPILER_FRONT_DEBUG": "1"}
    args = ["run", "--audit", "--profile", "p.yaml", "--", "sh", "-c", "exit 5"]
    first = _installed(args, tmp_path, env)
    assert first.returncode == 5 and "no entry for this run yet" in first.stderr
    second = _installed(args, tmp_path, env)
    assert (second.returncode, second.stderr) == (5, "audit: no syscall was refused\n")
    # a refusal to report: the front runs it, the CLI renders it, as the CLI alone does
    refuse = ["run", "--audit", "--profile", "p.yaml", "--", "mkdir", "made"]
    served = _installed(refuse, tmp_path, env)
    py = subprocess.run(
        [str(INSTALLED.with_name("seccompiler-py")), *refuse],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert served.returncode == py.returncode == 1
    table = [line.split()[:4] for line in served.stderr.splitlines() if "mkdir" in line]
    assert table == [line.split()[:4] for line in py.stderr.splitlines() if "mkdir" in line]
    assert ["1", "mkdir", "x86_64", "errno(EPERM)"] in table
    assert "seccompiler front" not in served.stderr  # served: no hand-over before the launch
    help_text = _installed(["--help"], tmp_path, env)
    assert help_text.returncode == 0 and help_text.stdout.startswith("Usage: seccompiler ")
