"""File input and output with the project's guarantees: bounded reads, atomic writes."""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from seccompiler.base.errors import InputError, Location, UsageError

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def read_bytes(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a whole file, refusing missing files (usage) and oversized ones (input)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise UsageError(f"{p}: no such file", hint="check the path") from None
    except IsADirectoryError:
        raise UsageError(f"{p}: is a directory, expected a file") from None
    except PermissionError:
        raise UsageError(f"{p}: permission denied") from None
    except OSError as exc:
        raise UsageError(f"{p}: cannot read: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise InputError(
            f"file is larger than {max_bytes} bytes",
            hint="split it, or check that this is the file you meant",
            location=Location(str(p)),
        )
    return data


def read_text(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Read a UTF-8 text file with the limits of ``read_bytes``."""
    data = read_bytes(path, max_bytes)
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


def write_atomic(path: str | Path, data: bytes | str, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_tree(target: str | Path, files: Mapping[str, bytes]) -> None:
    """Replace directory ``target`` by one holding exactly ``files`` (relative path → bytes).

    The new tree is written beside the old one and swapped in with renames, so a failure
    at any point leaves the previous tree whole.
    """
    dest = Path(target).absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.new.", dir=dest.parent))
    try:
        for rel, content in sorted(files.items()):
            out = staging / rel
            if not out.resolve().is_relative_to(staging.resolve()):
                raise ValueError(f"output path escapes the tree: {rel}")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(content)
        for d in [staging, *staging.rglob("*")]:
            if d.is_dir():
                d.chmod(0o755)
        if dest.exists() and _exchange(staging, dest):
            shutil.rmtree(staging, ignore_errors=True)  # now holds the old tree
        elif dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old.", dir=dest.parent))
            old.rmdir()
            os.rename(dest, old)
            os.rename(staging, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # see linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step with renameat2(RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(rc == 0)
