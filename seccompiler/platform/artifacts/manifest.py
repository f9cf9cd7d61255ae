"""``MANIFEST.json``: what a build produced, for signing and for drift checks."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from seccompiler import __version__
from seccompiler.arch import tables
from seccompiler.platform.artifacts.render import canonical_json

MANIFEST = "MANIFEST.json"


def manifest(files: Mapping[str, bytes], tool_version: str = __version__) -> bytes:
    """Every file (except the manifest itself) with its sha256 and size, plus the versions."""
    entries = {
        path: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for path, data in sorted(files.items())
        if path != MANIFEST
    }
    return canonical_json(
        {
            "files": entries,
            "syscall_table": {
                "kernel": tables.kernel_version(),
                "source": tables.source_stamp(),
            },
            "tool": {"name": "seccompiler", "version": tool_version},
        }
    )
