"""The ``dist/`` tree as a whole: compare it with a rebuild, install its node half into an image.

``dist/`` is written only through ``ioutil.replace_tree`` (all files or none); these helpers
work on the in-memory ``{relative path: bytes}`` map the build produces.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from seccompiler.base.errors import UsageError
from seccompiler.base.fsio import replace_tree, write_atomic
from seccompiler.platform.artifacts.paths import NODE_PREFIX, PLATFORM_DIR

MAX_FILE = 64 * 1024 * 1024


@dataclass(frozen=True)
class Difference:
    """One way ``dist/`` differs from what a build would write now."""

    path: str
    kind: str  # "changed", "missing" (would be written) or "unexpected" (would be removed)

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}"


def _on_disk(root: Path) -> dict[str, Path]:
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


def compare(dist: str | Path, files: Mapping[str, bytes], whole: bool = True) -> list[Difference]:
    """Differences between the tree at ``dist`` and ``files``; empty when up to date.

    With ``whole`` false only the paths in ``files`` are looked at (a node image root holds
    much more than our files, and walking it would be slow).
    """
    root = Path(dist)
    if not root.is_dir():
        return [Difference(path, "missing") for path in sorted(files)]
    if whole:
        present = _on_disk(root)
    else:
        present = {p: root / p for p in files if (root / p).is_file() or (root / p).is_symlink()}
    out: list[Difference] = []
    for path in sorted(set(present) | set(files)):
        if path not in present:
            out.append(Difference(path, "missing"))
        elif path not in files:
            out.append(Difference(path, "unexpected"))
        else:
            disk = present[path]
            same = (
                not disk.is_symlink()
                and disk.stat().st_size == len(files[path])
                and disk.read_bytes() == files[path]
            )
            if not same:
                out.append(Difference(path, "changed"))
    return out


def node_files(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The node-side files, keyed by their absolute path on the node."""
    prefix = f"{NODE_PREFIX}/"
    return {
        "/" + path.removeprefix(prefix): data
        for path, data in sorted(files.items())
        if path.startswith(prefix)
    }


def install(files: Mapping[str, bytes], root: str | Path) -> list[str]:
    """Install the node-side files under image ``root`` at their real paths.

    Each file is replaced atomically; the platform's own profile directory
    (``…/seccomp/keisson``) is replaced as a whole, so profiles no longer built disappear.
    Returns the absolute node paths written.
    """
    base = Path(root)
    if not base.is_dir():
        raise UsageError(f"{root}: not a directory", hint="pass the node image's root directory")
    node = node_files(files)
    marker = f"/seccomp/{PLATFORM_DIR}/"
    profile_dirs: dict[str, dict[str, bytes]] = {}
    for path, data in node.items():
        if marker in path:
            head, tail = path.split(marker, 1)
            profile_dirs.setdefault(head + marker.rstrip("/"), {})[tail] = data
    for directory, content in sorted(profile_dirs.items()):
        replace_tree(base / directory.lstrip("/"), content)
    for path, data in node.items():
        if marker not in path:
            write_atomic(base / path.lstrip("/"), data)
    return sorted(node)


@dataclass
class Timings:
    """Wall time per build stage, in seconds, in the order the stages ran."""

    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - start

    @property
    def total(self) -> float:
        return sum(self.stages.values())
