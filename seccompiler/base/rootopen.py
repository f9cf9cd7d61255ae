"""Open a path as the kernel would resolve it inside a root directory, never outside it.

``openat2`` with ``RESOLVE_IN_ROOT``, or the same walk done component by component with
``O_NOFOLLOW`` where the kernel lacks it, so a symlink in the image never leads out of it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat

from seccompiler.base.fsread import DIR_FLAGS

_SYS_OPENAT2 = 437  # same number on every architecture (asm-generic/unistd.h)
_RESOLVE_NO_MAGICLINKS = 0x02  # linux/openat2.h
_RESOLVE_IN_ROOT = 0x10
MAX_LINKS = 40  # the kernel's MAXSYMLINKS


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_openat2_state: list[bool] = []  # [] unknown, [True] works, [False] unsupported


def _openat2(dirfd: int, rel: str, flags: int, mode: int) -> int | None:
    """openat2(RESOLVE_IN_ROOT); None where the kernel or libc cannot do it."""
    if _openat2_state == [False]:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        _openat2_state[:] = [False]
        return None
    if not flags & os.O_CREAT and flags & os.O_TMPFILE != os.O_TMPFILE:
        mode = 0  # openat2 refuses a mode it would not use
    how = _OpenHow(flags, mode, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
    libc.syscall.restype = ctypes.c_long
    fd = int(
        libc.syscall(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dirfd),
            ctypes.c_char_p(os.fsencode(rel)),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
    )
    if fd >= 0:
        _openat2_state[:] = [True]
        return fd
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EPERM) and not _openat2_state:
        # ENOSYS: an old kernel; EPERM: a seccomp filter refusing the unknown syscall.
        _openat2_state[:] = [False]
        return None
    if err == errno.EAGAIN:  # a rename raced the lookup; the walk below handles it
        return None
    raise OSError(err, os.strerror(err), rel)


def path_parts(rel: str) -> list[str]:
    """The components of ``rel`` that name something (no empty ones, no ``.``)."""
    return [p for p in rel.split("/") if p not in ("", ".")]


def _walk_open(root_fd: int, rel: str, flags: int, mode: int) -> int:
    """Resolve ``rel`` inside ``root_fd`` one component at a time, as openat2 would.

    Symlinks are read and followed by hand (absolute targets restart at the root, ``..``
    stops at the root), every step opened with ``O_NOFOLLOW`` relative to the directory
    before it, so no step can leave the root.
    """
    todo = path_parts(rel)
    stack = [os.dup(root_fd)]
    links = 0
    try:
        while True:
            if not todo:
                return os.open(".", flags & ~(os.O_CREAT | os.O_EXCL), mode, dir_fd=stack[-1])
            name = todo.pop(0)
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            last = not todo
            try:
                st = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
            except FileNotFoundError:
                if last and flags & os.O_CREAT:
                    return os.open(name, flags | os.O_NOFOLLOW, mode, dir_fd=stack[-1])
                raise
            if stat.S_ISLNK(st.st_mode):
                if last and flags & os.O_EXCL:
                    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), rel)
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), rel)
                target = os.readlink(name, dir_fd=stack[-1])
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                todo = path_parts(target) + todo
                continue
            if last:
                return os.open(name, flags | os.O_NOFOLLOW, mode, dir_fd=stack[-1])
            stack.append(os.open(name, DIR_FLAGS | os.O_NOFOLLOW, dir_fd=stack[-1]))
    finally:
        for fd in stack:
            os.close(fd)


def open_in_root(root_fd: int, rel: str, flags: int, mode: int = 0o644) -> int:
    """Open ``rel`` resolved inside the directory ``root_fd`` as if it were ``/``."""
    fd = _openat2(root_fd, rel, flags | os.O_CLOEXEC, mode)
    if fd is not None:
        return fd
    return _walk_open(root_fd, rel, flags | os.O_CLOEXEC, mode)
