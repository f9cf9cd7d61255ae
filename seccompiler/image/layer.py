"""Apply one layer tar to a root directory, treating every entry as hostile.

Nothing here uses ``tarfile.extract*``. Every path is checked as text first (no absolute
names, no ``..``, bounded lengths), then written through directory file descriptors opened
one component at a time with ``O_NOFOLLOW``: a symlink in a parent position is refused, a
symlink at the leaf is replaced, never followed. So no entry, whatever the archive holds
or the layers below made, can write outside the root.

Whiteouts follow the OCI image spec (image-layout "Whiteouts"): ``.wh.NAME`` deletes NAME
from the layers below, ``.wh..wh..opq`` empties its directory of what the layers below put
there. Entries of the same layer are never hidden by that layer's whiteouts.

Neutralised rather than refused: device nodes and FIFOs (skipped), setuid/setgid bits
(cleared), owners the kernel will not take (left to root). Each is recorded in ``notes``.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import stat
import tarfile
from dataclasses import dataclass, field
from typing import IO

from seccompiler.image.errors import Budget, ImageError, Limits, located
from seccompiler.image.rootdir import DIR_FLAGS, FILE_FLAGS, Root, lstat, remove
from seccompiler.image.tarpath import (
    CHUNK,
    EOF_HEADER,
    INVALID_HEADER,
    READ_ERRORS,
    escapes,
    normalise,
    probe_class,
)

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


@dataclass
class LayerReport:
    """What applying layers did besides writing: entries and bytes, and what was neutralised."""

    entries: int = 0
    bytes: int = 0
    notes: list[str] = field(default_factory=list)

    def note(self, where: str, member: str, text: str) -> None:
        if len(self.notes) < 200:
            self.notes.append(f"{where}: entry '{member}': {text}")
        elif len(self.notes) == 200:
            self.notes.append(f"{where}: further notes left out")


class _Layer:
    """State of one layer's application: which paths it wrote (whiteouts spare those)."""

    def __init__(
        self, root: Root, limits: Limits, budget: Budget, report: LayerReport, chown: bool
    ) -> None:
        self.root = root
        self.where = root.where
        self.limits = limits
        self.budget = budget
        self.report = report
        self.chown = chown
        self.touched: set[str] = {""}
        self.dir_modes: dict[str, int] = {}

    def touch(self, path: str) -> None:
        while path not in self.touched:
            self.touched.add(path)
            path = posixpath.dirname(path)

    def perm(self, info: tarfile.TarInfo, path: str) -> int:
        mode = info.mode & 0o7777
        if mode & (stat.S_ISUID | stat.S_ISGID):
            self.report.note(self.where, path, "setuid/setgid bit cleared")
            mode &= ~(stat.S_ISUID | stat.S_ISGID)
        return mode

    def owner(self, info: tarfile.TarInfo, path: str, name: str, dir_fd: int) -> None:
        if not self.chown:
            return
        try:
            os.chown(name, info.uid, info.gid, dir_fd=dir_fd, follow_symlinks=False)
        except (OSError, OverflowError):
            self.report.note(self.where, path, f"owner {info.uid}:{info.gid} not applied")

    def whiteout(self, path: str, member: str) -> None:
        base = posixpath.basename(path)
        parent = posixpath.dirname(path)
        if base == OPAQUE:
            with self.root.parent(path, member, create=True) as fd:
                assert fd is not None
                self._empty(fd, parent)
            self.touch(parent)
            return
        name = base[len(WHITEOUT) :]
        if name.startswith(WHITEOUT) or name in ("", ".", ".."):
            self.report.note(self.where, member, "unknown whiteout ignored")
            return
        target = posixpath.join(parent, name)
        if target in self.touched:
            return  # a whiteout never hides an entry of its own layer
        with self.root.parent(path, member, create=False) as fd:
            if fd is not None:
                remove(name, fd)

    def _empty(self, dir_fd: int, path: str) -> None:
        """Remove what the layers below put in ``path``, keeping this layer's entries."""
        for entry in os.scandir(dir_fd):
            child = posixpath.join(path, entry.name) if path else entry.name
            if child not in self.touched:
                remove(entry.name, dir_fd)
            elif entry.is_dir(follow_symlinks=False):
                sub = os.open(entry.name, DIR_FLAGS, dir_fd=dir_fd)
                try:
                    self._empty(sub, child)
                finally:
                    os.close(sub)

    def entry(self, tf: tarfile.TarFile, info: tarfile.TarInfo) -> None:
        member = info.name
        self.budget.entries += 1
        self.report.entries += 1
        if self.budget.entries > self.limits.max_entries:
            raise located(
                self.where,
                "too-many",
                f"more than {self.limits.max_entries} entries in the image",
                member=member,
            )
        path = normalise(info.name, self.where, self.limits)
        if path == "":
            if info.isdir():
                self.dir_modes[""] = self.perm(info, "/")
            return
        if posixpath.basename(path).startswith(WHITEOUT):
            self.whiteout(path, member)
            return
        if info.ischr() or info.isblk() or info.isfifo():
            kind = "FIFO" if info.isfifo() else "device node"
            self.report.note(self.where, member, f"{kind} skipped")
            return
        if not (info.isdir() or info.isreg() or info.issym() or info.islnk()):
            raise located(
                self.where, "entry-type", f"unsupported entry type {info.type!r}", member=member
            )
        if info.isreg() and info.size > self.limits.max_file_bytes:
            raise located(
                self.where,
                "too-large",
                f"file of {info.size} bytes exceeds {self.limits.max_file_bytes}",
                member=member,
            )
        name = posixpath.basename(path)
        with self.root.parent(path, member, create=True) as fd:
            assert fd is not None
            self.touch(posixpath.dirname(path))
            self._write(tf, info, path, name, fd, member)
        self.touch(path)

    def _write(
        self, tf: tarfile.TarFile, info: tarfile.TarInfo, path: str, name: str, fd: int, member: str
    ) -> None:
        old = lstat(name, fd)
        if info.isdir():
            if old is not None and not stat.S_ISDIR(old.st_mode):
                os.unlink(name, dir_fd=fd)
                old = None
            if old is None:
                os.mkdir(name, 0o700, dir_fd=fd)
            self.owner(info, path, name, fd)
            self.dir_modes[path] = self.perm(info, path)
            return
        if info.islnk():
            self._hardlink(info, path, name, fd, member)
            return
        if old is not None:
            remove(name, fd)
        if info.issym():
            self._symlink(info, path, name, fd, member)
        else:
            self._file(tf, info, path, name, fd, member)

    def _symlink(self, info: tarfile.TarInfo, path: str, name: str, fd: int, member: str) -> None:
        target = info.linkname
        if not target or "\x00" in target or len(os.fsencode(target)) > self.limits.max_path_bytes:
            raise located(self.where, "corrupt", "symlink target empty or too long", member=member)
        if not target.startswith("/") and escapes(posixpath.dirname(path), target):
            raise located(
                self.where,
                "symlink-escape",
                f"symlink to '{target}' points outside the image root",
                member=member,
                hint="relative symlinks must stay below the root (absolute ones are resolved "
                "inside the image)",
            )
        os.symlink(target, name, dir_fd=fd)
        self.owner(info, path, name, fd)

    def _hardlink(self, info: tarfile.TarInfo, path: str, name: str, fd: int, member: str) -> None:
        try:
            target = normalise(info.linkname, self.where, self.limits, what="hardlink target")
        except ImageError as exc:
            escape = exc.code in ("absolute-path", "path-traversal")
            code = "hardlink-escape" if escape else exc.code
            raise located(
                self.where,
                code,
                f"hardlink to '{info.linkname}' refused: {exc.message.split(': ', 1)[-1]}",
                member=member,
            ) from None
        if target == "" or target == path:
            raise located(
                self.where, "hardlink-escape", "hardlink to itself or the root", member=member
            )
        with self.root.parent(target, member, create=False) as tfd:
            tname = posixpath.basename(target)
            tst = None if tfd is None else lstat(tname, tfd)
            if tfd is None or tst is None:
                raise located(
                    self.where,
                    "hardlink-escape",
                    f"hardlink target '{target}' does not exist in the image",
                    member=member,
                )
            if stat.S_ISDIR(tst.st_mode):
                raise located(
                    self.where,
                    "hardlink-escape",
                    f"hardlink target '{target}' is a directory",
                    member=member,
                )
            if lstat(name, fd) is not None:
                remove(name, fd)
            os.link(tname, name, src_dir_fd=tfd, dst_dir_fd=fd, follow_symlinks=False)

    def _file(
        self, tf: tarfile.TarFile, info: tarfile.TarInfo, path: str, name: str, fd: int, member: str
    ) -> None:
        self.budget.bytes += info.size
        self.report.bytes += info.size
        if self.budget.bytes > self.limits.max_total_bytes:
            raise located(
                self.where,
                "too-large",
                f"image content exceeds {self.limits.max_total_bytes} bytes",
                member=member,
            )
        src = tf.extractfile(info)
        if src is None:
            raise located(self.where, "corrupt", "file data cannot be read", member=member)
        out = os.open(name, FILE_FLAGS, 0o600, dir_fd=fd)
        try:
            left = info.size
            while left > 0:
                chunk = src.read(min(CHUNK, left))
                if not chunk:
                    raise located(self.where, "truncated", "file data ends early", member=member)
                os.write(out, chunk)
                left -= len(chunk)
            os.fchmod(out, self.perm(info, path))
            if self.chown:
                try:
                    os.fchown(out, info.uid, info.gid)
                except (OSError, OverflowError):
                    self.report.note(self.where, path, f"owner {info.uid}:{info.gid} not applied")
        finally:
            os.close(out)

    def finish(self) -> None:
        """Give directories their modes last, deepest first, so that writing was never blocked."""
        for path in sorted(self.dir_modes, key=lambda p: -p.count("/") - (p != "")):
            mode = self.dir_modes[path]
            if path == "":
                os.fchmod(self.root.fd, mode)
                continue
            with self.root.parent(path, path, create=False) as fd:
                if fd is None:
                    continue
                name = posixpath.basename(path)
                try:
                    dfd = os.open(name, DIR_FLAGS, dir_fd=fd)
                except OSError:
                    continue  # removed or replaced later in the layer
                try:
                    os.fchmod(dfd, mode)
                finally:
                    os.close(dfd)


def apply_layer(
    fileobj: IO[bytes],
    root_fd: int,
    *,
    where: str,
    limits: Limits | None = None,
    budget: Budget | None = None,
    report: LayerReport | None = None,
    chown: bool | None = None,
) -> LayerReport:
    """Apply a layer tar (plain, gzip, bzip2 or xz) read from ``fileobj`` to ``root_fd``.

    ``where`` names the layer in errors (``image.tar[layer 2]``). Raises ``ImageError``;
    the root may then hold part of the layer, never anything outside it.
    """
    limits = limits or Limits()
    budget = budget or Budget()
    report = report if report is not None else LayerReport()
    chown = os.geteuid() == 0 if chown is None else chown
    layer = _Layer(Root(root_fd, where), limits, budget, report, chown)
    probe = probe_class()
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*", tarinfo=probe) as tf:
            for info in tf:
                layer.entry(tf, info)
            ended = getattr(probe, "last_error", None)
            if tf.offset > 0 and isinstance(ended, INVALID_HEADER):
                raise located(
                    where,
                    "corrupt",
                    f"invalid tar header at offset {tf.offset}: {ended}",
                    hint="the layer is damaged; entries after this point were not read",
                )
            if tf.offset > 0 and not isinstance(ended, EOF_HEADER):
                raise located(
                    where,
                    "truncated",
                    "archive ends without an end-of-archive block",
                    hint="the file was cut short; fetch or save it again",
                )
        layer.finish()
    except ImageError:
        raise
    except tarfile.ReadError as exc:
        code = "truncated" if "unexpected end" in str(exc) else "corrupt"
        raise located(where, code, f"cannot read the layer: {exc}") from None
    except EOFError as exc:
        raise located(where, "truncated", f"compressed data ends early: {exc}") from None
    except (gzip.BadGzipFile, tarfile.CompressionError) as exc:
        raise located(where, "corrupt", f"cannot decompress the layer: {exc}") from None
    except OSError as exc:
        raise located(where, "io", f"cannot write the layer: {exc.strerror or exc}") from None
    except READ_ERRORS as exc:
        raise located(where, "corrupt", f"cannot read the layer: {exc}") from None
    return report
