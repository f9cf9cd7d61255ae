"""Front entries: what the installed command needs to serve a repeated ``run`` without Python.

The installed command is a small native front. It serves ``run --profile P [--audit]
[--caps C]... -- PROGRAM`` itself when it finds a current front entry for it, and hands
everything else to this package's CLI (the ``seccompiler-py`` entry point), naming itself in
``SECCOMPILER_FRONT``. A run that comes that way, whose filters this CLI found current in its
own cache (or has just cached), writes the front entry for the next one: the filters, and
every fact that decides them, for the front to check -- the stat of every folder and file of
the package the cache's fingerprint was taken of, the SHA-256 of the policy and of each file
it extends, how the profile argument resolved, the launcher. The entry's name hashes what the
front knows before reading anything: its own path, the working directory, the profile
argument and the capabilities as given. The front checks it all; anything that no longer
holds is a miss, and the run comes here again.

When a workload the front started has more to report than its exit status, the front passes
the launcher's status text in a memfd named by ``SECCOMPILER_FRONT_STATUS`` and this CLI
renders it. Both variables are taken out of the environment before anything runs, and each
is believed only as the front sets it: the front beside this entry point, a memfd of the
front's.
"""

from __future__ import annotations

import os
import sys

from seccompiler.runner import filtercache

FORMAT = "seccompiler-front 1"
_STATUS_MEMFD = "/memfd:seccompiler-status"
# The launcher's status is bounded (native/record.h: 4096 refusals one by one, 4096 kinds
# counted, each line under 9 kB with the longest executable path): under 72 MB. The front
# keeps up to 128 MiB of it.
MAX_STATUS = 128 << 20

front: str | None = None  # the front that handed this run over, when it did
status_fd: int | None = None  # the launcher's status text, when the front ran the workload
status_named = False  # SECCOMPILER_FRONT_STATUS was set: the workload has run already


class StatusUnreadable(Exception):
    """The front ran the workload, and its status cannot be read: it must not run again."""


def take_env(environ: dict[str, str] | None = None, argv0: str | None = None) -> None:
    """Take the front's variables out of the environment and keep those to believe."""
    global front, status_fd, status_named
    env = os.environ if environ is None else environ
    named = env.pop("SECCOMPILER_FRONT", None)
    fd_text = env.pop("SECCOMPILER_FRONT_STATUS", None)
    entry = sys.argv[0] if argv0 is None else argv0
    front = status_fd = None
    if named and os.path.isabs(named) and os.path.dirname(named) == os.path.dirname(entry):
        front = named
    status_named = fd_text is not None
    if fd_text is not None and fd_text.isdigit() and front is not None:
        fd = int(fd_text)
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(_STATUS_MEMFD):
                status_fd = fd
        except OSError:
            pass


def handed_status() -> str | None:
    """The status text of a workload the front ran, once; None when the front ran none.

    Raises StatusUnreadable when the front says it ran the workload but its status cannot
    be read: the caller reports that instead of running the workload a second time.
    """
    global status_fd, status_named
    if not status_named:
        return None
    fd, status_fd, status_named = status_fd, None, False
    if fd is None:
        raise StatusUnreadable("SECCOMPILER_FRONT_STATUS names no status of the front's")
    chunks: list[bytes] = []
    size = 0
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        while size <= MAX_STATUS and (chunk := os.read(fd, 1 << 16)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise StatusUnreadable(f"the front's status: {exc.strerror}") from None
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def key(front_path: str, cwd: str, profile: str, caps: tuple[str, ...]) -> str:
    """The entry's name: the front's path, the working directory, the profile argument and
    the capabilities as given (native/front.c computes the same)."""
    fields = [FORMAT, front_path, cwd, profile, *caps]
    return filtercache.sha256_hex(b"\0".join(os.fsencode(f) for f in fields))


def path_for(front_path: str, cwd: str, profile: str, caps: tuple[str, ...]) -> str | None:
    where = filtercache.cache_dir()
    if where is None:
        return None
    return os.path.join(where, f"front-{key(front_path, cwd, profile, caps)}.entry")


def lines(
    entry_key: str,
    profile: str,
    launcher: str,
    stats: list[tuple[str, os.stat_result]],
    filters: filtercache.Filters,
) -> list[str] | None:
    """The entry's lines (without the checksum); None when the filters' sources are unknown."""
    if filters.sources is None:
        return None
    bundled = filtercache.resolve_name(profile) != profile
    out = [FORMAT, f"key {entry_key}", f"policy {'bundled' if bundled else 'direct'}"]
    out.append(f"launcher {os.fsencode(launcher).hex()}")
    for p, st in stats:
        out.append(
            f"stat {st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} "
            f"{os.fsencode(p).hex()}"
        )
    for p, digest in filters.sources:
        out.append(f"source {digest} {os.fsencode(p).hex()}")
    out += [f"real {filters.real.hex()}", f"audit {filters.audit.hex()}"]
    return out


def write(profile: str, caps: tuple[str, ...], launcher: str, filters: filtercache.Filters) -> bool:
    """Write the front entry of this run, when a front handed it over; True when written."""
    if front is None or filters.sources is None:
        return False
    stats = filtercache.package_stats()
    try:
        cwd = os.getcwd()
    except OSError:
        return False
    path = path_for(front, cwd, profile, caps)
    if path is None or stats is None:
        return False
    entry_key = key(front, cwd, profile, caps)
    body = lines(entry_key, profile, launcher, stats, filters)
    return body is not None and filtercache.write_checked(path, body)


__all__ = [
    "FORMAT",
    "StatusUnreadable",
    "handed_status",
    "key",
    "lines",
    "path_for",
    "take_env",
    "write",
]
