"""Writing below one root directory through fds, one path component at a time."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator

from seccompiler.image.errors import located

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Root:
    """Directory-fd operations below one root; paths are normalised, '' is the root."""

    def __init__(self, root_fd: int, where: str) -> None:
        self.fd = root_fd
        self.where = where

    @contextlib.contextmanager
    def parent(self, path: str, member: str, *, create: bool) -> Iterator[int | None]:
        """Yield an fd of ``path``'s parent directory (None if absent and not ``create``)."""
        parts = path.split("/")[:-1]
        fd = os.dup(self.fd)
        try:
            for i, part in enumerate(parts):
                try:
                    nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        yield None
                        return
                    os.mkdir(part, 0o755, dir_fd=fd)
                    nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    prefix = "/".join(parts[: i + 1])
                    kind = "a symlink" if exc.errno == errno.ELOOP else "not a directory"
                    raise located(
                        self.where,
                        "symlink-parent",
                        f"parent '{prefix}' is {kind}; writing through it is refused",
                        member=member,
                        hint="a layer may not write below a symlink or a file",
                    ) from None
                os.close(fd)
                fd = nxt
            yield fd
        finally:
            os.close(fd)


def lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def remove(name: str, dir_fd: int) -> None:
    """Remove an entry of any kind without following symlinks."""
    st = lstat(name, dir_fd)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)
