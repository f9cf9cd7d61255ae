"""The hostile-input harness: run a CLI case with a time bound and classify what happened.

Every case runs ``seccompiler`` in a forked child (the parent has the package imported
already, so a case costs milliseconds, not an interpreter start), with its own process group,
stdin, stdout and stderr, and a deadline. The outcome of each case is tallied:

- a **traceback**: anything escaped the CLI's error rendering (a Python traceback on stderr);
- a **hang**: the deadline passed (the child's whole process group is then killed);
- an **escape**: a case reported a write outside where it was allowed (``Tally.escape``).

``conftest.py`` prints ``hostile: N cases, T tracebacks, E escapes, H hangs`` at the end of
the run. To add cases: write ``test_*.py`` here, build inputs with the generators below, call
``hostile(...)`` (the fixture) and assert on the ``Outcome``; call ``check_confined`` (or
``TALLY.escape``) for anything that must stay inside a directory.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import resource
import select
import signal
import sys
import tarfile
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 20.0
TRACEBACK_EXIT = 99  # the child's status when an exception escaped main()
REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "keisson-default.yaml"


@dataclass
class Tally:
    cases: int = 0
    tracebacks: list[str] = field(default_factory=list)
    escapes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)

    def escape(self, what: str) -> None:
        self.escapes.append(what)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def merge(self, other: dict[str, Any]) -> None:
        """Add a tally another test process kept (pytest-xdist workers send theirs)."""
        self.cases += other["cases"]
        self.tracebacks += other["tracebacks"]
        self.escapes += other["escapes"]
        self.hangs += other["hangs"]

    def report(self, write: Callable[[str], object]) -> None:
        """The summary line, then each offending case."""
        write(self.line())
        for kind, cases in (
            ("traceback", self.tracebacks),
            ("escape", self.escapes),
            ("hang", self.hangs),
        ):
            for case in cases:
                write(f"  {kind}: {case}")

    def line(self) -> str:
        return (
            f"hostile: {self.cases} cases, {len(self.tracebacks)} tracebacks, "
            f"{len(self.escapes)} escapes, {len(self.hangs)} hangs"
        )


TALLY = Tally()
_preloaded: list[bool] = []


@dataclass
class Outcome:
    argv: list[str]
    code: int | None  # None: it hung and was killed
    out: str
    err: str
    seconds: float

    @property
    def hung(self) -> bool:
        return self.code is None

    @property
    def traceback(self) -> bool:
        return self.code == TRACEBACK_EXIT or "Traceback (most recent call last)" in self.err

    @property
    def clean(self) -> bool:
        """Finished, without a traceback, with one of the CLI's own statuses."""
        return not self.hung and not self.traceback

    def __str__(self) -> str:
        status = "hung" if self.hung else f"exit {self.code}"
        return f"seccompiler {' '.join(self.argv)} → {status}\n{self.err[-2000:]}"


def preload() -> None:
    """Import every command once in this process, so that forked cases start warm."""
    import importlib

    from seccompiler.commands.cli import COMMANDS

    for target in COMMANDS.values():
        importlib.import_module(target.split(":")[0])


def _child(
    argv: list[str],
    cwd: str | None,
    stdin: str | None,
    out: int,
    err: int,
    memory: int | None,
    prepare: Callable[[], None] | None,
) -> None:
    os.setpgid(0, 0)
    if prepare is not None:
        prepare()
    if memory is not None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, resource.getrlimit(resource.RLIMIT_AS)[1]))
    if stdin == "closed":
        os.close(0)
    else:
        fd = os.open(stdin or os.devnull, os.O_RDONLY)
        os.dup2(fd, 0)
        os.close(fd)
    os.dup2(out, 1)
    os.dup2(err, 2)
    if cwd:
        os.chdir(cwd)
    code = TRACEBACK_EXIT
    try:
        sys.stdin = open(0, closefd=False) if stdin != "closed" else None  # type: ignore[assignment]  # noqa: SIM115
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        from seccompiler.commands.cli import main

        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = TRACEBACK_EXIT
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except BaseException:
                pass
        os._exit(code)


def run_case(
    argv: list[str],
    *,
    cwd: str | Path | None = None,
    stdin: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    memory: int | None = None,
    prepare: Callable[[], None] | None = None,
) -> Outcome:
    """Run ``seccompiler argv`` in a forked child; tally and return what happened.

    ``stdin`` is a file to read from, ``"closed"`` for a closed descriptor 0, or None for
    /dev/null; ``memory`` caps the case's address space (bytes); ``prepare`` runs in the
    child first (e.g. to enter a private mount namespace).
    """
    argv = [str(a) for a in argv]
    if not _preloaded:
        preload()
        _preloaded.append(True)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            _child(
                argv,
                str(cwd) if cwd else None,
                str(stdin) if stdin else None,
                out.fileno(),
                err.fileno(),
                memory,
                prepare,
            )
        code = _wait(pid, timeout)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        outcome = Outcome(
            argv,
            code,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            seconds,
        )
    TALLY.cases += 1
    if outcome.hung:
        TALLY.hangs.append(" ".join(argv))
    elif outcome.traceback:
        TALLY.tracebacks.append(" ".join(argv))
    return outcome


def _wait(pid: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    pidfd = os.pidfd_open(pid)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([pidfd], [], [], left)
            if ready:
                _, status = os.waitpid(pid, 0)
                _kill_group(pid)  # anything the case left behind
                return os.waitstatus_to_exitcode(status)
    finally:
        os.close(pidfd)
    _kill_group(pid)
    os.waitpid(pid, 0)
    return None


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


# --- generated hostile inputs ----------------------------------------------------------------


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def link(path: Path, target: str | Path) -> Path:
    path.symlink_to(target)
    return path


def loop(path: Path) -> Path:
    """A symlink that points at itself."""
    path.symlink_to(path.name)
    return path


_CLONE_NEWNS = 0x00020000  # linux/sched.h
_MS_RDONLY, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18


def read_only(path: Path) -> Callable[[], None]:
    """A ``prepare`` step: in a private mount namespace of the child, make ``path`` read-only.

    Nothing changes outside the child: the namespace dies with it.
    """

    def enter() -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        target = os.fsencode(path)
        for rc in (
            libc.unshare(_CLONE_NEWNS),
            libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None),
            libc.mount(target, target, None, _MS_BIND, None),
            libc.mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY, None),
        ):
            if rc != 0:
                os._exit(98)  # the case could not be set up: reported as exit 98

    return enter


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes | str]]:
    """Every entry under ``root`` (without following links): type, size, content or target."""
    out: dict[str, tuple[int, int, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if p.is_symlink():
                out[str(p.relative_to(root))] = (st.st_mode, 0, os.readlink(p))
            elif p.is_file():
                out[str(p.relative_to(root))] = (st.st_mode, st.st_size, p.read_bytes())
            else:
                out[str(p.relative_to(root))] = (st.st_mode, 0, b"")
    return out


def check_confined(
    outside: Path, before: dict[str, tuple[int, int, bytes | str]], what: str
) -> bool:
    """Whether ``outside`` is unchanged since ``before``; a change is tallied as an escape."""
    if snapshot(outside) != before:
        TALLY.escape(what)
        return False
    return True


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def oci_layout(dest: Path, layer: bytes, env: list[str] | None = None) -> dict[str, Path]:
    """A one-layer OCI layout at ``dest``; returns the paths of its index and blobs by role.

    ``layer`` is written as given (gzip it or not to taste), declared as a gzip layer.
    """
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes) -> tuple[dict[str, object], Path]:
        d = _digest(data)
        path = blobs / d.split(":")[1]
        path.write_bytes(data)
        return {"digest": d, "size": len(data)}, path

    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": env or ["PATH=/bin"], "Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": [_digest(b"")]},
    }
    cdesc, cpath = blob(json.dumps(config).encode())
    ldesc, lpath = blob(layer)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cdesc},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **ldesc}],
    }
    mdesc, mpath = blob(json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **mdesc,
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    (dest / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (dest / "index.json").write_text(json.dumps(index))
    return {"index": dest / "index.json", "manifest": mpath, "config": cpath, "layer": lpath}


def empty_layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("etc")
        info.type = tarfile.DIRTYPE
        tf.addfile(info)
    return gzip.compress(buf.getvalue(), mtime=0)
