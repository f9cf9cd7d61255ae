"""YAMA's ptrace_scope: read it, set it, persist it, check it — and show it working.

Facts from Documentation/admin-guide/LSM/Yama.rst: ``kernel.yama.ptrace_scope`` is 0 (classic
ptrace permissions), 1 (restricted: only descendants, or a process that declared the tracer
with ``prctl(PR_SET_PTRACER, …)``, unless the tracer has CAP_SYS_PTRACE), 2 (admin only: needs
CAP_SYS_PTRACE) or 3 (no attach at all; once set it cannot be changed until reboot). Writing
it needs CAP_SYS_PTRACE. Every path goes through a proc root and a filesystem root so that
tests run against fake trees.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from seccompiler.base.errors import InputError, Location, SeccompilerError, UsageError
from seccompiler.base.fsio import decode_text, read_bytes, read_text
from seccompiler.base.inroot import RootDir

SYSCTL = "kernel.yama.ptrace_scope"
PROC_FILE = "sys/kernel/yama/ptrace_scope"  # under the proc root
DROPIN = "etc/sysctl.d/60-keisson-yama.conf"  # under the filesystem root
PLATFORM_SCOPE = 1
ABSENT_EXIT = 3  # exit status of `yama status` / `check --live` when YAMA is not running

SCOPES: dict[int, tuple[str, str]] = {
    0: ("classic", "any process may attach to another of the same user (classic ptrace rules)"),
    1: (
        "restricted",
        "a process may attach only to its descendants, or to a process that declared it as "
        "its tracer with PR_SET_PTRACER; CAP_SYS_PTRACE overrides",
    ),
    2: ("admin-only", "only processes with CAP_SYS_PTRACE may attach"),
    3: ("no attach", "no process may attach; the setting is locked until reboot"),
}

# systemd-sysctl / procps `sysctl --system` read these, earlier directories shadowing later
# files of the same name, files applied in name order, later settings winning.
SYSCTL_DIRS = (
    "etc/sysctl.d",
    "run/sysctl.d",
    "usr/local/lib/sysctl.d",
    "usr/lib/sysctl.d",
    "lib/sysctl.d",
)
SYSCTL_CONF = "etc/sysctl.conf"  # procps applies it last


@dataclass(eq=False)
class YamaAbsent(SeccompilerError):
    """YAMA is not running on the kernel behind ``proc_root``."""

    proc_root: str = "/proc"
    lsm_list: str | None = None  # the lsm= boot parameter, when one was given


def describe(scope: int) -> str:
    name, meaning = SCOPES[scope]
    return f"{scope} ({name}): {meaning}"


def _proc_file(proc_root: str | Path) -> Path:
    return Path(proc_root) / PROC_FILE


def _lsm_param(proc_root: str | Path) -> str | None:
    try:
        cmdline = read_bytes(Path(proc_root) / "cmdline", 1 << 16).replace(b"\0", b" ").decode()
    except (SeccompilerError, UnicodeDecodeError):
        return None
    for word in cmdline.split():
        if word.startswith("lsm="):
            return word.removeprefix("lsm=")
    return None


def absent_error(proc_root: str | Path) -> YamaAbsent:
    lsm = _lsm_param(proc_root)
    causes = "the kernel was built without CONFIG_SECURITY_YAMA"
    if lsm is not None and "yama" not in lsm.split(","):
        causes = f"'yama' is missing from the boot parameter lsm={lsm}"
    elif lsm is None:
        causes += ", or a boot parameter lsm=… that leaves out 'yama'"
    return YamaAbsent(
        f"YAMA is not active: {Path(proc_root) / 'sys/kernel/yama'} does not exist",
        hint=f"likely cause: {causes}; ptrace then follows only the classic rules (scope 0 "
        "behaviour). Boot a kernel with YAMA, or list it in lsm=",
        proc_root=str(proc_root),
        lsm_list=lsm,
    )


def _check_proc_root(proc_root: str | Path) -> None:
    # sys/kernel alone also matches the root of a system with sysfs at /sys ("/"); proc has
    # sys/kernel/ostype and cmdline, sysfs and / have neither.
    root = Path(proc_root)
    marks = (root / "sys/kernel/ostype", root / "cmdline")
    if not (root / "sys/kernel").is_dir() or not any(m.exists() for m in marks):
        raise UsageError(
            f"{proc_root}: not a proc root (no sys/kernel inside)",
            hint="pass the directory where proc is mounted, /proc by default",
        )


def parse_scope(text: str, where: str, line: int = 1) -> int:
    value = text.strip()
    if value not in ("0", "1", "2", "3"):
        raise InputError(
            f"ptrace_scope value '{value}' is not one of 0, 1, 2, 3",
            hint="the kernel writes one digit, 0-3; a sysctl file sets it as "
            "'kernel.yama.ptrace_scope = 1'",
            location=Location(where, line, 1),
        )
    return int(value)


def read_scope(proc_root: str | Path = "/proc") -> int:
    """The running ptrace_scope; ``YamaAbsent`` when YAMA is not active."""
    _check_proc_root(proc_root)
    path = _proc_file(proc_root)
    if not path.exists():
        if path.parent.is_dir():  # YAMA's directory without its file: no kernel does that
            raise InputError(
                f"{path.parent} exists but holds no ptrace_scope",
                hint="a running kernel with YAMA always has it; pass the directory where "
                "proc is mounted (--proc-root), or add the file to a fake tree",
                location=Location(str(path)),
            )
        raise absent_error(proc_root)
    return parse_scope(read_text(path, 64), str(path))


def write_scope(scope: int, proc_root: str | Path = "/proc") -> int:
    """Set the running ptrace_scope; return the previous value."""
    if scope not in SCOPES:
        raise UsageError(f"scope {scope} is not one of 0, 1, 2, 3")
    current = read_scope(proc_root)
    if current == 3 and scope != 3:
        raise InputError(
            f"ptrace_scope is 3, which the kernel locks until reboot; cannot set {scope}",
            hint="set the persistent value (--persist) and reboot",
            location=Location(str(_proc_file(proc_root))),
        )
    try:
        fd = os.open(_proc_file(proc_root), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            os.write(fd, f"{scope}\n".encode())
        finally:
            os.close(fd)
    except PermissionError:
        raise InputError(
            f"not allowed to write {SYSCTL}",
            hint="run as root: writing ptrace_scope needs CAP_SYS_PTRACE",
            location=Location(str(_proc_file(proc_root))),
        ) from None
    except OSError as exc:
        raise InputError(
            f"cannot write {SYSCTL}: {exc.strerror}",
            location=Location(str(_proc_file(proc_root))),
        ) from None
    return current


def sysctl_dropin(scope: int = PLATFORM_SCOPE) -> bytes:
    """The sysctl.d drop-in that sets ``scope`` at every boot."""
    if scope not in SCOPES:
        raise UsageError(f"scope {scope} is not one of 0, 1, 2, 3")
    return (
        "# Generated by seccompiler — do not edit.\n"
        f"# YAMA ptrace scope {describe(scope)}.\n"
        f"{SYSCTL} = {scope}\n"
    ).encode()


def persist(scope: int, root: str | Path | None = None) -> Path:
    """Write the drop-in atomically under ``root`` (a node image; this machine's / when None).

    The path is resolved inside ``root`` as the node would resolve it; ``root`` must exist.
    """
    data = sysctl_dropin(scope)
    with RootDir(root or "/", allow_host=root is None) as base:
        base.write_atomic(DROPIN, data)
    return Path(root or "/") / DROPIN


def _sysctl_files(base: RootDir) -> list[str]:
    chosen: dict[str, str] = {}
    for d in SYSCTL_DIRS:
        for name, _mode in base.listdir(d):
            if name.endswith(".conf"):
                chosen.setdefault(name, f"{d}/{name}")
    files = [chosen[name] for name in sorted(chosen)]
    files.append(SYSCTL_CONF)
    return files


def _settings(text: str) -> Iterator[tuple[str, str, int]]:
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, value = (s.strip() for s in line.split("=", 1))
        yield key.lstrip("-").replace("/", "."), value, n


def configured_scope(root: str | Path = "/") -> tuple[int | None, str]:
    """The ptrace_scope the sysctl configuration under ``root`` sets at boot, and where.

    Files are found and read inside ``root`` as the node would (symlinks never leave it); a
    FIFO or device among them is refused rather than read.
    """
    result: tuple[int | None, str] = (None, "")
    with RootDir(root, allow_host=True) as base:
        for rel in _sysctl_files(base):
            data = base.read_bytes(rel, 1024 * 1024)
            if data is None:
                continue
            where = base.show(rel)
            for key, value, line in _settings(decode_text(data, where)):
                if key == SYSCTL:
                    result = (parse_scope(value, where, line), f"{where}:{line}")
    return result


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    reason: str


def check_scope(
    want: int, proc_root: str | Path = "/proc", root: str | Path | None = None
) -> CheckResult:
    """Compare the running scope (or, with ``root``, the node image's configuration)."""
    if root is not None:
        got, where = configured_scope(root)
        if got is None:
            return CheckResult(False, f"no sysctl file under {root} sets {SYSCTL}")
        if got != want:
            return CheckResult(False, f"{where} sets {SYSCTL} = {got}, want {want}")
        return CheckResult(True, f"{where} sets {SYSCTL} = {got}")
    got = read_scope(proc_root)
    if got != want:
        return CheckResult(False, f"running {SYSCTL} is {describe(got)}; want {want}")
    return CheckResult(True, f"running {SYSCTL} is {describe(got)}")


# --- live demonstration --------------------------------------------------------------------

PTRACE_ATTACH = 16  # linux/ptrace.h
PTRACE_DETACH = 17
PR_SET_DUMPABLE = 4  # linux/prctl.h
PR_SET_PTRACER = 0x59616D61  # "Yama"
WALL = 0x40000000  # __WALL: wait for any child, traced or not
UNPRIVILEGED = 65534  # nobody: a uid without CAP_SYS_PTRACE


@dataclass(frozen=True)
class Probe:
    """One attach attempt between two sibling processes."""

    declared: bool  # the target declared the attacker as its tracer
    errno: int  # 0: attached


def expected_attach(scope: int, declared: bool) -> bool:
    """Whether an unprivileged sibling may attach under ``scope``."""
    if scope == 0:
        return True
    if scope == 1:
        return declared
    return False


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _drop_privileges() -> None:
    if os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(UNPRIVILEGED, UNPRIVILEGED, UNPRIVILEGED)
        os.setresuid(UNPRIVILEGED, UNPRIVILEGED, UNPRIVILEGED)
    # A uid change clears the dumpable flag, which would refuse ptrace for a reason that is
    # not YAMA's; set it back.
    _libc().prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)


def _child(body: object) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            assert callable(body)
            code = int(body())
        finally:
            os._exit(code)
    return pid


def attach_probe(declared: bool, timeout: float = 5.0) -> Probe:
    """Fork a target and an attacker (siblings, both unprivileged); try PTRACE_ATTACH."""
    to_attacker_r, to_attacker_w = os.pipe()
    result_r, result_w = os.pipe()
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()

    def attacker() -> int:
        _drop_privileges()
        target = int(os.read(to_attacker_r, 32).decode() or "0")
        libc = _libc()
        rc = libc.ptrace(PTRACE_ATTACH, target, None, None)
        err = 0 if rc == 0 else ctypes.get_errno()
        if rc == 0:
            os.waitpid(target, WALL)
            libc.ptrace(PTRACE_DETACH, target, None, None)
        os.write(result_w, str(err).encode())
        return 0

    attacker_pid = _child(attacker)

    def target() -> int:
        os.close(hold_w)  # so that the read below ends when the parent closes its end
        _drop_privileges()
        if declared:
            _libc().prctl(PR_SET_PTRACER, attacker_pid, 0, 0, 0)
        os.write(ready_w, b"1")
        os.read(hold_r, 1)  # until the parent closes its end
        return 0

    target_pid = _child(target)
    try:
        ready, _, _ = select.select([ready_r], [], [], timeout)
        if not ready:
            raise InputError("ptrace probe: the target process did not start")
        os.read(ready_r, 1)
        os.write(to_attacker_w, str(target_pid).encode())
        ready, _, _ = select.select([result_r], [], [], timeout)
        if not ready:
            raise InputError("ptrace probe: the attaching process did not answer")
        return Probe(declared, int(os.read(result_r, 32).decode()))
    finally:
        for fd in (to_attacker_r, to_attacker_w, result_r, result_w, ready_r, ready_w, hold_r):
            os.close(fd)
        os.close(hold_w)
        _reap(attacker_pid, timeout)
        _reap(target_pid, timeout)


def _reap(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)


@dataclass(frozen=True)
class LiveResult:
    scope: int
    probes: tuple[Probe, ...]

    @property
    def ok(self) -> bool:
        return all((p.errno == 0) == expected_attach(self.scope, p.declared) for p in self.probes)


def live_check(proc_root: str | Path = "/proc") -> LiveResult:
    """Demonstrate the running policy with real attach attempts; ``YamaAbsent`` without YAMA."""
    scope = read_scope(proc_root)
    return LiveResult(scope, (attach_probe(False), attach_probe(True)))


def errno_text(value: int) -> str:
    return "attached" if value == 0 else f"refused ({errno.errorcode.get(value, value)})"
