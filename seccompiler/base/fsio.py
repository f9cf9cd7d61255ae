"""File input and output with the project's guarantees.

- Reads of untrusted paths never block: every file is opened with ``O_NONBLOCK`` and refused
  unless it is what was expected (a regular file, or a directory), so a FIFO, a device or
  ``/dev/zero`` named as input is an error, not a hang.
- Writes are atomic (temporary file + rename) and never destroy what is not ours: a directory
  is replaced only when the caller recognises it as an earlier output of its own, and no
  output may equal or contain an input.
- Paths under a ``--root`` are resolved as the kernel would resolve them inside that root
  (``openat2`` with ``RESOLVE_IN_ROOT``, or the same walk done component by component with
  ``O_NOFOLLOW`` where the kernel lacks it), so a symlink in the image never leads out of it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
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


def check_writable(path: str | Path) -> None:
    """Refuse a file output where something other than a regular file (or nothing) is, or
    where a parent is not a directory — before anything is written."""
    p = Path(path)
    try:
        st = os.lstat(p)
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


Recognise = Callable[[Path], bool]


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
    "check_output",
    "check_regular",
    "check_writable",
    "decode_text",
    "file_kind",
    "open_file",
    "open_regular",
    "read_bytes",
    "read_text",
    "replace_tree",
    "write_atomic",
]
