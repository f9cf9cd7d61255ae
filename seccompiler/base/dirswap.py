"""Replace a directory whole: build the new tree beside it, swap it in, clean up after.

One implementation of the steps for both kinds of caller: plain paths (``fsio.replace_tree``)
and paths under a ``--root`` reached through a directory descriptor
(``inroot.RootDir.replace_tree``). The caller decides whether the old tree may be replaced
and writes the new one into the staging folder; a failure at any point leaves the old tree
whole and removes the staging folder.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STAGING_MAX_AGE = 3600.0  # seconds after which our own leftover staging folders are removed

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # see linux/fs.h


def exchange(afd: int, a: str | Path, bfd: int, b: str | Path) -> bool:
    """Swap two paths in one step with renameat2(RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = fn(afd, os.fsencode(a), bfd, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(rc == 0)


def staging_name(name: str, kind: str) -> str:
    """``.<name>.<kind>.<pid>.<unique>``: the pid tells a later run whether its owner died."""
    return f".{name}.{kind}.{os.getpid()}.{time.monotonic_ns()}"


def is_stale(entry: str, name: str, mtime: float) -> bool:
    """Whether ``entry`` is a staging folder of ours whose run is over (or is very old)."""
    for kind in ("new", "old"):
        prefix = f".{name}.{kind}."
        if entry.startswith(prefix):
            pid = entry[len(prefix) :].split(".", 1)[0]
            if time.time() - mtime > STAGING_MAX_AGE:
                return True
            if pid.isdigit() and int(pid) != os.getpid():
                try:
                    os.kill(int(pid), 0)
                except ProcessLookupError:
                    return True  # the run that made it was killed
                except OSError:
                    return False
    return False


@dataclass(frozen=True)
class Parent:
    """The directory that holds the tree being replaced, named by ``path`` or held as ``fd``.

    With ``fd``, every name is resolved relative to the descriptor (the ``*at`` calls), so a
    caller confined to a root never leaves it; without, names are joined to ``path``.
    """

    path: str = ""
    fd: int | None = None

    def at(self, name: str) -> str:
        return name if self.fd is not None else os.path.join(self.path, name)

    def listdir(self) -> list[str]:
        return os.listdir(self.path if self.fd is None else self.fd)

    def lstat(self, name: str) -> os.stat_result:
        return os.stat(self.at(name), dir_fd=self.fd, follow_symlinks=False)

    def mkdir(self, name: str, mode: int) -> None:
        os.mkdir(self.at(name), mode, dir_fd=self.fd)

    def rename(self, src: str, dst: str) -> None:
        os.rename(self.at(src), self.at(dst), src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def exchange(self, a: str, b: str) -> bool:
        fd = _AT_FDCWD if self.fd is None else self.fd
        return exchange(fd, self.at(a), fd, self.at(b))

    def rmtree(self, name: str) -> None:
        shutil.rmtree(self.at(name), dir_fd=self.fd, ignore_errors=True)


def clean_stale(parent: Parent, name: str) -> None:
    """Remove our own ``.<name>.new.*`` / ``.old.*`` folders left by a run that was killed."""
    try:
        entries = parent.listdir()
    except OSError:
        return
    for entry in entries:
        try:
            st = parent.lstat(entry)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and is_stale(entry, name, st.st_mtime):
            parent.rmtree(entry)


def make_staging(parent: Parent, name: str, mode: int) -> str:
    """Clear what killed runs left, then create the staging folder for ``name``; its name."""
    clean_stale(parent, name)
    staging = staging_name(name, "new")
    parent.mkdir(staging, mode)
    return staging


def swap_in(
    parent: Parent, name: str, staging: str, exists: bool, fill: Callable[[str], None]
) -> None:
    """Fill ``staging`` and put it in the place of ``name``; on any failure remove it, re-raise.

    An old tree is swapped out in one step where the kernel can (the staging name then holds
    the old tree), else renamed aside first; either way it is removed once the new one is in.
    """
    try:
        fill(staging)
        if not exists:
            parent.rename(staging, name)
        elif parent.exchange(staging, name):
            parent.rmtree(staging)  # now holds the old tree
        else:
            aside = staging_name(name, "old")
            parent.rename(name, aside)
            parent.rename(staging, name)
            parent.rmtree(aside)
    except BaseException:
        parent.rmtree(staging)
        raise
