"""A throwaway view of an image root for one run, with the few files a container expects.

Every run gets its own copy-on-write view: an overlayfs whose lower layer is the unpacked
root (or the user's rootfs directory) and whose upper layer is discarded afterwards. So the
run with the profile starts from the same files as the run without it, and a rootfs
directory is never changed. Where overlayfs cannot be mounted (no privilege, odd paths) the
root is copied instead.

In the view, as a container engine would provide: an empty /proc (the launcher mounts a
fresh procfs there in the new PID namespace) and a minimal /dev (null, zero, full, random,
urandom, and the fd/stdin/stdout/stderr links).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

_MNT_DETACH = 2  # linux/fs.h
# major/minor numbers from Documentation/admin-guide/devices.txt
_DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9)}
_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _mount_overlay(lower: Path, upper: Path, work: Path, target: Path) -> bool:
    if any(c in str(p) for p in (lower, upper, work) for c in ",:\\"):
        return False  # the option string cannot carry these unescaped
    libc = _libc()
    if libc is None:
        return False
    opts = f"lowerdir={lower},upperdir={upper},workdir={work}".encode()
    rc = libc.mount(b"overlay", os.fsencode(target), b"overlay", 0, opts)
    return bool(rc == 0)


def _umount(target: Path) -> None:
    libc = _libc()
    if libc is not None:
        libc.umount2(os.fsencode(target), _MNT_DETACH)


def _furnish(root: Path) -> None:
    """Add /proc and a minimal /dev unless the image has its own (never through symlinks)."""
    for name in ("proc", "dev"):
        p = root / name
        if not p.exists() and not p.is_symlink():
            p.mkdir(mode=0o755)
    dev = root / "dev"
    if dev.is_symlink() or not dev.is_dir():
        return
    for name, (major, minor) in _DEVICES.items():
        p = dev / name
        if p.exists() or p.is_symlink():
            continue
        with contextlib.suppress(OSError):  # mknod needs CAP_MKNOD; the run goes on without
            os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(major, minor))
            os.chmod(p, 0o666)
    for name, target in _LINKS.items():
        p = dev / name
        if not p.exists() and not p.is_symlink():
            p.symlink_to(target)


@contextlib.contextmanager
def run_view(root: Path, *, workdir: str | Path | None = None) -> Iterator[Path]:
    """Yield a directory that looks like ``root`` and forgets every change on exit."""
    base = Path(tempfile.mkdtemp(prefix="seccompiler-run.", dir=workdir))
    merged, upper, work = base / "merged", base / "upper", base / "work"
    for d in (merged, upper, work):
        d.mkdir()
    merged.chmod(0o755)
    mounted = _mount_overlay(root.resolve(), upper, work, merged)
    try:
        if not mounted:
            merged.rmdir()
            shutil.copytree(root, merged, symlinks=True)
        _furnish(merged)
        yield merged
    finally:
        if mounted:
            _umount(merged)
        shutil.rmtree(base, ignore_errors=True)
