"""Reading untrusted paths without blocking: only what was expected (a regular file) is read.

Every file is opened with ``O_NONBLOCK`` and refused unless it is a regular file, so a FIFO,
a device or ``/dev/zero`` named as input is an error, not a hang; reads are bounded.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import IO

from seccompiler.base.errors import InputError, Location, UsageError

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def file_kind(mode: int) -> str:
    """What a file of ``mode`` is, for messages: "a FIFO", "a character device"…"""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def os_error(p: str | Path, exc: OSError, what: str = "cannot read") -> UsageError:
    if isinstance(exc, FileNotFoundError):
        return UsageError(f"{p}: no such file", hint="check the path")
    if isinstance(exc, PermissionError):
        return UsageError(f"{p}: permission denied")
    if exc.errno == errno.ELOOP:
        return UsageError(f"{p}: too many levels of symbolic links (a symlink loop?)")
    if exc.errno == errno.ENOTDIR:
        return UsageError(f"{p}: a component of the path is not a directory")
    return UsageError(f"{p}: {what}: {exc.strerror or exc}")


def open_regular(path: str | Path) -> int:
    """Open ``path`` for reading without blocking; refuse anything but a regular file.

    Returns a file descriptor in blocking mode, ready to read.
    """
    try:
        fd = os.open(path, READ_FLAGS)
    except OSError as exc:
        raise os_error(path, exc) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            hint = "name the file itself" if stat.S_ISDIR(mode) else "name a regular file"
            raise UsageError(f"{path}: is {file_kind(mode)}, expected a regular file", hint=hint)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(path: str | Path) -> IO[bytes]:
    """``open_regular`` as a binary file object."""
    return os.fdopen(open_regular(path), "rb")


def check_regular(path: str | Path) -> None:
    """Refuse ``path`` unless it is a readable regular file (without blocking on it)."""
    os.close(open_regular(path))


def read_fd(fd: int, p: str | Path, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise os_error(p, exc) from None
    if total > max_bytes:
        raise InputError(
            f"file is larger than {max_bytes} bytes",
            hint="split it, or check that this is the file you meant",
            location=Location(str(p)),
        )
    return b"".join(chunks)


def read_bytes(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a whole regular file: missing/special files are usage errors, oversized input."""
    fd = open_regular(path)
    try:
        return read_fd(fd, path, max_bytes)
    finally:
        os.close(fd)


def decode_text(data: bytes, path: str | Path) -> str:
    """UTF-8 text of ``data``; a located error when it is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(
            "file is not valid UTF-8 text",
            hint="save it as UTF-8",
            location=Location(str(path), line, col),
        ) from None


def read_text(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Read a UTF-8 text file with the limits of ``read_bytes``."""
    return decode_text(read_bytes(path, max_bytes), path)
