"""Where an image's files live: a directory or one tar, read by normalised relative path."""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import stat
import tarfile
from pathlib import Path
from typing import IO, Any, Protocol

from seccompiler.base.fsio import file_kind
from seccompiler.image.errors import ImageError, Limits, located
from seccompiler.image.tarpath import CHUNK, EOF_HEADER, normalise, probe_class


class Store(Protocol):
    """Files of an image container (a directory or a tar), by normalised relative path."""

    label: str

    def exists(self, rel: str) -> bool: ...

    def open(self, rel: str) -> IO[bytes]: ...


class DirStore:
    """An image laid out in a directory."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.label = str(base)

    def exists(self, rel: str) -> bool:
        return (self.base / rel).is_file()

    def open(self, rel: str) -> IO[bytes]:
        try:
            # O_NONBLOCK: a FIFO in the layout must be refused, not waited on
            fd = os.open(
                self.base / rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
            )
        except FileNotFoundError:
            raise located(
                self.label, "missing-blob", f"'{rel}' is missing from the image", member=rel
            ) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise located(
                    self.label, "format", f"'{rel}' is a symbolic link; not followed", member=rel
                ) from None
            raise located(
                self.label, "io", f"cannot open '{rel}': {exc.strerror}", member=rel
            ) from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise located(
                self.label,
                "format",
                f"'{rel}' is {file_kind(mode)}, not a regular file",
                member=rel,
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")


class TarStore:
    """An image saved as one tar (``docker save``, ``skopeo copy oci-archive:``…)."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self.label = str(path)
        self.members: dict[str, tarfile.TarInfo] = {}
        probe = probe_class()
        try:
            self.tf = tarfile.open(path, "r:*", tarinfo=probe)  # noqa: SIM115 closed by close()
        except (tarfile.TarError, OSError, EOFError) as exc:
            if "unexpected end of data" in str(exc):
                raise located(
                    self.label,
                    "truncated",
                    "archive ends in the middle of a file",
                    hint="the file was cut short; save it again",
                ) from None
            raise located(self.label, "format", f"not a readable tar archive: {exc}") from None
        try:
            for count, info in enumerate(self.tf, 1):
                if count > limits.max_outer_entries:
                    raise located(
                        self.label, "too-many", f"more than {limits.max_outer_entries} entries"
                    )
                name = normalise(info.name, self.label, limits)
                if info.isreg() or info.issym() or info.islnk():
                    self.members[name] = info
        except ImageError:
            self.tf.close()
            raise
        except (tarfile.TarError, OSError, EOFError) as exc:
            self.tf.close()
            raise located(self.label, "corrupt", f"cannot read the archive: {exc}") from None
        if not isinstance(getattr(probe, "last_error", None), EOF_HEADER):
            self.tf.close()
            raise located(
                self.label,
                "truncated",
                "archive ends without an end-of-archive block",
                hint="the file was cut short; save it again",
            )

    def close(self) -> None:
        self.tf.close()

    def _resolve(self, rel: str) -> tarfile.TarInfo:
        seen = 0
        while True:
            info = self.members.get(rel)
            if info is None:
                raise located(
                    self.label, "missing-blob", f"'{rel}' is missing from the image", member=rel
                )
            if info.isreg():
                return info
            seen += 1
            target = info.linkname
            if info.issym():
                target = posixpath.join(posixpath.dirname(rel), target)
            target = posixpath.normpath(target)
            if seen > 8 or target.startswith(("/", "../")) or target == "..":
                raise located(
                    self.label,
                    "hardlink-escape",
                    f"'{rel}' links to '{info.linkname}', outside the archive",
                    member=rel,
                )
            rel = target

    def exists(self, rel: str) -> bool:
        return rel in self.members

    def open(self, rel: str) -> IO[bytes]:
        fh = self.tf.extractfile(self._resolve(rel))
        if fh is None:
            raise located(self.label, "format", f"'{rel}' is not a file", member=rel)
        return fh


def blob_path(digest: str) -> str:
    alg, _, hexpart = digest.partition(":")
    return f"blobs/{alg}/{hexpart}"


def hasher(digest: str) -> Any:
    return hashlib.new(digest.partition(":")[0])


class HashingReader:
    """A reader that hashes what passes through it."""

    def __init__(self, raw: IO[bytes], alg: str) -> None:
        self.raw = raw
        self.hash = hashlib.new(alg)
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hash.update(data)
        self.count += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass
