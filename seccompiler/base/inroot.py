"""A node image root (``--root``): read, write and replace files below it, never outside it.

Every path is resolved inside the root as the kernel would after ``chroot`` (``rootopen``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from seccompiler.base.dirswap import Parent, make_staging, swap_in
from seccompiler.base.errors import UsageError
from seccompiler.base.fsio import OutputKind, not_ours
from seccompiler.base.fsread import (
    DEFAULT_MAX_BYTES,
    DIR_FLAGS,
    READ_FLAGS,
    file_kind,
    os_error,
    read_fd,
)
from seccompiler.base.rootopen import MAX_LINKS, open_in_root, path_parts


class RootDir:
    """A directory tree (a node image) whose paths are all resolved inside it.

    ``RootDir(path)`` refuses a root that does not exist (it is never created), that is not
    a directory, or that is this machine's ``/`` under another name (unless ``allow_host``).
    Every method takes a path relative to the root (a leading ``/`` is allowed and means the
    root) and resolves it as the kernel would after ``chroot(root)``: symlinks, absolute or
    relative, ``..`` and all, never lead outside.
    """

    def __init__(self, path: str | Path, *, allow_host: bool = False, flag: str = "--root"):
        self.path = str(path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise UsageError(
                f"{flag} {path}: no such directory", hint="create the root directory first"
            ) from None
        except OSError as exc:
            raise os_error(path, exc) from None
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{flag} {path}: is {file_kind(st.st_mode)}, expected a directory")
        if (
            not allow_host
            and os.stat("/").st_ino == st.st_ino
            and os.stat("/").st_dev == (st.st_dev)
        ):
            raise UsageError(
                f"{flag} {path}: is this machine's / (through a symlink or otherwise)",
                hint="name the node image's root directory",
            )
        try:
            self.fd = os.open(path, DIR_FLAGS)
        except OSError as exc:
            raise os_error(path, exc) from None

    def check_writable(self) -> None:
        """Refuse a root on a read-only file system before anything is written anywhere."""
        if not os.access(self.path, os.W_OK, effective_ids=True):
            raise UsageError(
                f"--root {self.path}: not writable (a read-only mount?)",
                hint="mount the node image read-write",
            )

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> RootDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def show(self, rel: str) -> str:
        """How to name ``rel`` to a user: the root's path joined with it."""
        return f"{self.path.rstrip('/')}/{rel.lstrip('/')}"

    def _err(self, rel: str, exc: OSError, what: str) -> UsageError:
        return os_error(self.show(rel), exc, what)

    def open(self, rel: str, flags: int, mode: int = 0o644) -> int:
        return open_in_root(self.fd, rel.lstrip("/") or ".", flags, mode)

    def opendir(self, rel: str) -> int | None:
        """A descriptor of directory ``rel``; None when it does not exist."""
        try:
            return self.open(rel, DIR_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self._err(rel, exc, "cannot open") from None

    def makedirs(self, rel: str, _links: int = 0) -> int:
        """Create directory ``rel`` and its parents inside the root; return its descriptor.

        A symlink on the way whose target is missing is followed as the node would follow it
        (inside the root) and its target created.
        """
        done = ""
        fd = os.dup(self.fd)
        parts = path_parts(rel)
        try:
            for i, name in enumerate(parts):
                if name == "..":
                    raise UsageError(f"{self.show(rel)}: '..' in an output path")
                done = f"{done}/{name}"
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise self._err(done, exc, "cannot create the directory") from None
                try:
                    nxt = self.open(done, DIR_FLAGS)
                except NotADirectoryError:
                    raise UsageError(
                        f"{self.show(done)}: exists and is not a directory",
                        hint="the node image has a file where a directory is needed",
                    ) from None
                except FileNotFoundError:
                    # a dangling symlink: create its target (inside the root) instead
                    target = os.readlink(name, dir_fd=fd)
                    if _links >= MAX_LINKS:
                        raise self._err(done, OSError(errno.ELOOP, "loop"), "cannot open") from None
                    base = "/" if target.startswith("/") else done.rsplit("/", 1)[0] + "/"
                    rest = "/".join(parts[i + 1 :])
                    os.close(fd)
                    fd = -1
                    # normpath of an absolute path stops '..' at the root, as the kernel does
                    return self.makedirs(posixpath.normpath(f"{base}{target}/{rest}"), _links + 1)
                except OSError as exc:
                    raise self._err(done, exc, "cannot open") from None
                os.close(fd)
                fd = nxt
            return fd
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise

    def read_bytes(self, rel: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes | None:
        """The content of regular file ``rel``; None when it does not exist."""
        try:
            fd = self.open(rel, READ_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self._err(rel, exc, "cannot read") from None
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise UsageError(f"{self.show(rel)}: is {file_kind(mode)}, expected a regular file")
            os.set_blocking(fd, True)
            return read_fd(fd, self.show(rel), max_bytes)
        finally:
            os.close(fd)

    def listdir(self, rel: str) -> list[tuple[str, int]]:
        """(name, st_mode without following links) of each entry of directory ``rel``."""
        fd = self.opendir(rel)
        if fd is None:
            return []
        try:
            out = []
            for name in sorted(os.listdir(fd)):
                try:
                    out.append((name, os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode))
                except OSError:
                    continue
            return out
        finally:
            os.close(fd)

    def check_replaceable(self, rel: str, kind: OutputKind) -> None:
        """Refuse (usage error) file ``rel`` unless it is absent or ``kind`` recognises it."""
        head, _, name = rel.strip("/").rpartition("/")
        dfd = self.opendir(head)
        if dfd is None:
            return
        try:
            self._check_ours(dfd, name, rel, kind)
        finally:
            os.close(dfd)

    def _check_ours(self, dfd: int, name: str, rel: str, kind: OutputKind) -> None:
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._err(rel, exc, "cannot write") from None
        if stat.S_ISDIR(st.st_mode):
            return  # refused by write_atomic, with its own message
        if stat.S_ISREG(st.st_mode):
            try:
                fd = os.open(name, READ_FLAGS | os.O_NOFOLLOW, dir_fd=dfd)
                try:
                    first = kind.read_head(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise self._err(rel, exc, "cannot read") from None
            if kind.ours(first):
                return
        raise not_ours(self.show(rel), kind)

    def write_atomic(
        self, rel: str, data: bytes, mode: int = 0o644, kind: OutputKind | None = None
    ) -> None:
        """Write file ``rel`` inside the root through a temporary file and a rename.

        With ``kind``, a file already there is replaced only when ``kind`` recognises it as
        an earlier output of ours; anything else is refused.
        """
        head, _, name = rel.strip("/").rpartition("/")
        if name in ("", ".", ".."):
            raise UsageError(f"{self.show(rel)}: not a file name")
        dfd = self.makedirs(head)
        try:
            if kind is not None:
                self._check_ours(dfd, name, rel, kind)
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                pass
            else:
                if stat.S_ISDIR(st.st_mode):
                    raise UsageError(
                        f"{self.show(rel)}: is a directory, expected a file",
                        hint="the node image has a directory where our file belongs",
                    )
            tmp = f".{name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
            try:
                fd = os.open(
                    tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=dfd
                )
            except OSError as exc:
                raise self._err(rel, exc, "cannot write") from None
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, mode, dir_fd=dfd, follow_symlinks=False)
                os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except OSError as exc:
                _unlink_at(tmp, dfd)
                raise self._err(rel, exc, "cannot write") from None
            except BaseException:
                _unlink_at(tmp, dfd)
                raise
        finally:
            os.close(dfd)

    def replace_tree(
        self, rel: str, files: Mapping[str, bytes], ours: Callable[[int], bool]
    ) -> None:
        """Replace directory ``rel`` by one holding exactly ``files`` (relative path → bytes).

        ``ours(dirfd)`` must recognise an existing, non-empty directory as an earlier output;
        anything else is refused.
        """
        head, _, name = rel.strip("/").rpartition("/")
        if name in ("", ".", ".."):
            raise UsageError(f"{self.show(rel)}: not a directory name")
        dfd = self.makedirs(head)
        try:
            exists = self._replaceable(dfd, name, rel, ours)
            parent = Parent(fd=dfd)
            try:
                staging = make_staging(parent, name, 0o755)
                swap_in(parent, name, staging, exists, lambda s: _write_tree(dfd, s, files))
            except OSError as exc:
                raise self._err(rel, exc, "cannot write") from None
        finally:
            os.close(dfd)

    def _replaceable(self, dfd: int, name: str, rel: str, ours: Callable[[int], bool]) -> bool:
        """Whether ``name`` exists below ``dfd``; refuse it unless it is a directory of ours."""
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(
                f"{self.show(rel)}: is {file_kind(st.st_mode)}; refusing to replace it "
                "with a directory",
                hint="the node image has something else where our directory belongs",
            )
        old = os.open(name, DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dfd)
        try:
            mine = not os.listdir(old) or ours(old)
        finally:
            os.close(old)
        if not mine:
            raise UsageError(
                f"{self.show(rel)}: holds files that are not ours; refusing to replace it",
                hint="move them away, or remove the directory yourself",
            )
        return True


def _write_tree(dfd: int, top: str, files: Mapping[str, bytes]) -> None:
    """Write ``files`` below the new directory ``top`` (a name below ``dfd``)."""
    tfd = os.open(top, DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dfd)
    try:
        for rel, content in sorted(files.items()):
            _write_new(tfd, rel, content)
    finally:
        os.close(tfd)


def _write_new(dirfd: int, rel: str, content: bytes) -> None:
    """Create file ``rel`` (and its directories) below ``dirfd``, never through a link."""
    *dirs, name = rel.split("/")
    if any(p in ("", ".", "..") for p in (*dirs, name)):
        raise ValueError(f"not a plain relative path: {rel!r}")
    fd = os.dup(dirfd)
    try:
        for d in dirs:
            with contextlib.suppress(FileExistsError):
                os.mkdir(d, 0o755, dir_fd=fd)
            nxt = os.open(d, DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd)
        with os.fdopen(out, "wb") as fh:
            fh.write(content)
    finally:
        os.close(fd)


def _unlink_at(name: str, dfd: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dfd)
