"""File input and output with the project's guarantees.

- Reads of untrusted paths never block: every file is opened with ``O_NONBLOCK`` and refused
  unless it is what was expected (a regular file, or a directory), so a FIFO, a device or
  ``/dev/zero`` named as input is an error, not a hang.
- Writes are atomic (temporary file + rename) and never destroy what is not ours: a file or a
  directory is replaced only when the caller recognises it as an earlier output of its own
  (``OutputKind``, ``Recognise``), and no output may equal or contain an input.
- Paths under a ``--root`` are resolved as the kernel would resolve them inside that root
  (``openat2`` with ``RESOLVE_IN_ROOT``, or the same walk done component by component with
  ``O_NOFOLLOW`` where the kernel lacks it), so a symlink in the image never leads out of it.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from seccompiler.base.dirswap import Parent, make_staging, swap_in
from seccompiler.base.errors import UsageError
from seccompiler.base.fsread import (
    DEFAULT_MAX_BYTES,
    check_regular,
    decode_text,
    file_kind,
    open_file,
    open_regular,
    os_error,
    read_bytes,
    read_text,
)

# --- outputs ---------------------------------------------------------------------------------


def _real(p: str | Path) -> Path:
    try:
        return Path(os.path.realpath(p))
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.abspath(p))


def check_output(output: str | Path, inputs: Iterable[str | Path], what: str = "output") -> None:
    """Refuse an output path that equals or contains one of ``inputs`` (usage error)."""
    out = _real(output)
    for item in inputs:
        src = _real(item)
        if src == out:
            raise UsageError(
                f"{output}: the {what} is also an input ({item}); writing it would destroy "
                "the input",
                hint="choose another output path",
            )
        if src.is_relative_to(out):
            raise UsageError(
                f"{output}: the {what} contains the input {item}; replacing it would destroy "
                "the input",
                hint="choose an output directory outside the inputs",
            )


def _parent_dir(p: Path) -> None:
    """Create the parent directories of ``p``, with a clean error where one is not a directory."""
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(
            f"{p}: a component of the path exists and is not a directory",
            hint="choose another output path",
        ) from None
    except OSError as exc:
        raise os_error(p.parent, exc, "cannot create the directory") from None


def check_writable(path: str | Path) -> os.stat_result | None:
    """Refuse a file output where something other than a regular file (or nothing) is, or
    where a parent is not a directory — before anything is written. Returns what is there
    (``lstat``), or None."""
    p = Path(path)
    found: os.stat_result | None = None
    try:
        found = st = os.lstat(p)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise os_error(p, exc, "cannot write") from None
    else:
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            raise UsageError(
                f"{p}: is {file_kind(st.st_mode)}; only a regular file is replaced by an output",
                hint="choose another output path",
            )
    for parent in p.absolute().parents:
        try:
            st = os.stat(parent)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise os_error(parent, exc, "cannot write") from None
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(
                f"{p}: {parent} is {file_kind(st.st_mode)}, not a directory",
                hint="choose another output path",
            )
        break
    return found


def write_atomic(path: str | Path, data: bytes | str, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Only a regular file (or nothing) at ``path`` is replaced; a directory, a device or a FIFO
    there is refused, and so is a path whose parent is not a directory.
    """
    p = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    check_writable(p)
    _parent_dir(p)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    except OSError as exc:
        raise os_error(p.parent, exc, "cannot write") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise os_error(p, exc, "cannot write") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# An earlier output is told by its first bytes: a stamp line, a program's instructions (a
# seccomp filter is at most 4096 * 8 bytes) — or, for a JSON report, by the whole document.
SNIFF_BYTES = 64 * 1024
REPORT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class OutputKind:
    """One kind of file output, and how to tell an earlier one of ours from anyone else's.

    ``ours`` is given the file's first ``sniff`` bytes (all of a smaller file).
    """

    name: str  # what the refusal calls it: "policy", "BPF listing", …
    ours: Callable[[bytes], bool]
    sniff: int = SNIFF_BYTES

    def read_head(self, fd: int) -> bytes:
        """The first ``sniff`` bytes from ``fd``."""
        parts: list[bytes] = []
        left = self.sniff
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)


def first_line(*stamps: re.Pattern[str]) -> Callable[[bytes], bool]:
    """Ours when the first line matches one of ``stamps`` (the stamp a renderer writes)."""

    def ours(head: bytes) -> bool:
        line = head.split(b"\n", 1)[0].decode("utf-8", "replace")
        return any(s.fullmatch(line) for s in stamps)

    return ours


def json_report(name: str, *keys: str) -> OutputKind:
    """A JSON report: ours when the file is one JSON object that has every one of ``keys``."""

    def ours(whole: bytes) -> bool:
        if len(whole) >= REPORT_BYTES:
            return False  # not read whole, so not told apart
        try:
            doc = json.loads(whole)
        except (ValueError, RecursionError):
            return False
        return isinstance(doc, dict) and all(k in doc for k in keys)

    return OutputKind(name, ours, REPORT_BYTES)


def not_ours(path: str | Path, kind: OutputKind) -> UsageError:
    """The refusal of a file output whose path holds something ``kind`` does not recognise."""
    return UsageError(
        f"{path}: exists and is not a {kind.name} that seccompiler wrote; refusing to replace it",
        hint="remove it yourself if it may go, or choose another output path",
    )


def check_file_output(
    path: str | Path, kind: OutputKind, inputs: Iterable[str | Path] = (), what: str = "output"
) -> None:
    """Refuse (usage error) a file output that would destroy anything but our own output.

    Nothing, or a regular file that ``kind`` recognises as an earlier output of ours, may be
    replaced; an input, a symbolic link, or any other file there is refused.
    """
    check_output(path, inputs, what)
    st = check_writable(path)
    if st is None:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UsageError(
            f"{path}: is a symbolic link; an output is never written over or through one",
            hint="name the file itself, or choose another output path",
        )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise os_error(path, exc, "cannot write") from None
    try:
        head = kind.read_head(fd)
    except OSError as exc:
        raise os_error(path, exc, "cannot write") from None
    finally:
        os.close(fd)
    if not kind.ours(head):
        raise not_ours(path, kind)


def write_output(path: str | Path, data: bytes | str, kind: OutputKind, mode: int = 0o644) -> None:
    """``write_atomic`` to a file output, checked again just before (``check_file_output``)."""
    check_file_output(path, kind)
    write_atomic(path, data, mode)


Recognise = Callable[[Path], bool]


def holds_only(directory: Path, listed: Iterable[str]) -> bool:
    """Whether every file below ``directory`` is in ``listed`` (relative paths) and no
    directory below it is a symbolic link: what a stamp listing a tree's files vouches for."""
    names = set(listed)
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames:
            if os.path.islink(os.path.join(dirpath, name)):
                return False
        for name in filenames:
            if os.path.relpath(os.path.join(dirpath, name), directory) not in names:
                return False
    return True


def holds_only_ours(directory: Path, ours: Recognise | None) -> bool:
    """Whether ``directory`` is empty or recognised by ``ours`` as an earlier output."""
    try:
        if not any(directory.iterdir()):
            return True
    except OSError:
        return False
    return ours is not None and ours(directory)


def check_replaceable(target: str | Path, ours: Recognise | None = None) -> os.stat_result | None:
    """Refuse (usage error) a ``target`` that ``replace_tree`` would refuse; its lstat or None.

    Call it before the work that produces the tree, so a refusal costs nothing.
    """
    dest = Path(os.path.abspath(target))
    if dest.parent == dest:
        raise UsageError(f"{target}: cannot replace the root directory")
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise os_error(target, exc, "cannot write") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise UsageError(
                f"{target}: is a symbolic link; an output directory is never replaced through one",
                hint="name the directory itself",
            )
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{target}: is {file_kind(st.st_mode)}, expected a directory")
        if not holds_only_ours(dest, ours):
            raise UsageError(
                f"{target}: exists and holds files that are not an earlier output of this "
                "command; refusing to replace it",
                hint="choose a new or empty output directory, or remove this one yourself",
            )
    return st


def replace_tree(
    target: str | Path, files: Mapping[str, bytes], ours: Recognise | None = None
) -> None:
    """Replace directory ``target`` by one holding exactly ``files`` (relative path → bytes).

    ``target`` is replaced only when it does not exist, is empty, or ``ours`` recognises it as
    an earlier output of the same command; anything else is refused (usage error). The new
    tree is written beside the old one and swapped in with renames, so a failure at any point
    leaves the previous tree whole.
    """
    dest = Path(os.path.abspath(target))
    st = check_replaceable(target, ours)
    _parent_dir(dest)
    parent = Parent(str(dest.parent))
    try:
        staging = make_staging(parent, dest.name, 0o700)
    except OSError as exc:
        raise os_error(dest.parent, exc, "cannot write") from None
    fill = partial(_write_tree, dest.parent, files)
    try:
        swap_in(parent, dest.name, staging, st is not None, fill)
    except OSError as exc:
        raise os_error(target, exc, "cannot write") from None


def _write_tree(parent: Path, files: Mapping[str, bytes], name: str) -> None:
    """Write ``files`` below the new directory ``parent/name``, none outside it; dirs 0755."""
    top = parent / name
    for rel, content in sorted(files.items()):
        out = top / rel
        if not out.resolve().is_relative_to(top.resolve()):
            raise ValueError(f"output path escapes the tree: {rel}")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(content)
    for d in [top, *top.rglob("*")]:
        if d.is_dir():
            d.chmod(0o755)


__all__ = [
    "DEFAULT_MAX_BYTES",
    "SNIFF_BYTES",
    "OutputKind",
    "check_file_output",
    "check_output",
    "check_regular",
    "check_writable",
    "decode_text",
    "file_kind",
    "first_line",
    "holds_only",
    "json_report",
    "not_ours",
    "open_file",
    "open_regular",
    "read_bytes",
    "read_text",
    "replace_tree",
    "write_atomic",
    "write_output",
]
