"""Layer tar entries as text: path checks, and telling a cut-off archive from its end."""

from __future__ import annotations

import os
import tarfile
import zlib
from typing import Any

from seccompiler.image.errors import Limits, located

CHUNK = 1 << 20

# Header errors tarfile raises internally and turns into a silent end of archive; we want
# to tell a proper end-of-archive block from a cut-off file (typeshed lists only HeaderError).
EOF_HEADER: type[Exception] = tarfile.EOFHeaderError  # type: ignore[attr-defined]
HEADER_ERROR: type[Exception] = tarfile.HeaderError
INVALID_HEADER: type[Exception] = tarfile.InvalidHeaderError  # type: ignore[attr-defined]
READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError, ValueError, UnicodeError)


def probe_class() -> type[tarfile.TarInfo]:
    """A TarInfo whose class remembers why the last header could not be read."""

    class Probe(tarfile.TarInfo):
        last_error: Exception | None = None

        @classmethod
        def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Any:
            try:
                return super().frombuf(buf, encoding, errors)
            except HEADER_ERROR as exc:
                Probe.last_error = exc
                raise

    return Probe


def normalise(name: str, where: str, limits: Limits, *, what: str = "path") -> str:
    """Check an archive path as text and return it without ``./`` and doubled slashes."""
    member = name
    if "\x00" in name:
        raise located(where, "corrupt", f"{what} contains a NUL byte", member=member)
    if name.startswith("/"):
        raise located(
            where,
            "absolute-path",
            f"absolute {what} refused",
            member=member,
            hint="layer entries are relative to the image root",
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise located(
            where,
            "path-traversal",
            f"'..' in the {what} refused",
            member=member,
            hint="an entry may not reach outside the image root",
        )
    if len(os.fsencode(name)) > limits.max_path_bytes:
        raise located(
            where,
            "name-too-long",
            f"{what} longer than {limits.max_path_bytes} bytes",
            member=member,
        )
    if len(parts) > limits.max_depth:
        raise located(
            where, "too-many", f"{what} deeper than {limits.max_depth} levels", member=member
        )
    for p in parts:
        if len(os.fsencode(p)) > limits.max_name_bytes:
            raise located(
                where,
                "name-too-long",
                f"a {what} component is longer than {limits.max_name_bytes} bytes",
                member=member,
            )
    return "/".join(parts)


def escapes(parent: str, target: str) -> bool:
    """True when relative symlink ``target`` written in ``parent`` climbs above the root."""
    depth = len([p for p in parent.split("/") if p])
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False
