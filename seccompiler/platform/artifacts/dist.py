"""The ``dist/`` tree as a whole: compare it with a rebuild, install its node half into an image.

``dist/`` is written only through ``ioutil.replace_tree`` (all files or none); these helpers
work on the in-memory ``{relative path: bytes}`` map the build produces.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from seccompiler.base import jsontext
from seccompiler.base.errors import SeccompilerError
from seccompiler.base.fsio import read_bytes
from seccompiler.base.inroot import RootDir
from seccompiler.platform.artifacts.manifest import MANIFEST
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
        if p.is_symlink() or not p.is_dir()
    }


def _same(disk: Path, want: bytes) -> bool:
    try:
        return read_bytes(disk, len(want)) == want
    except (SeccompilerError, OSError):
        return False  # a symlink, FIFO, device or oversized file is not what we wrote


def compare(dist: str | Path, files: Mapping[str, bytes]) -> list[Difference]:
    """Differences between the tree at ``dist`` and ``files``; empty when up to date."""
    root = Path(dist)
    if not root.is_dir():
        return [Difference(path, "missing") for path in sorted(files)]
    present = _on_disk(root)
    out: list[Difference] = []
    for path in sorted(set(present) | set(files)):
        if path not in present:
            out.append(Difference(path, "missing"))
        elif path not in files:
            out.append(Difference(path, "unexpected"))
        elif present[path].is_symlink() or not _same(present[path], files[path]):
            out.append(Difference(path, "changed"))
    return out


def compare_in_root(root: str | Path, files: Mapping[str, bytes]) -> list[Difference]:
    """Differences between ``files`` (paths inside a node image) and that image.

    Only the paths in ``files`` are looked at (the image holds much more than our files),
    each resolved inside ``root`` as the node would resolve it.
    """
    out: list[Difference] = []
    with RootDir(root) as base:
        for path, data in sorted(files.items()):
            try:
                disk = base.read_bytes(path, len(data) + 1)
            except SeccompilerError:
                out.append(Difference(path, "changed"))
                continue
            if disk is None:
                out.append(Difference(path, "missing"))
            elif disk != data:
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


def is_ours(directory: Path) -> bool:
    """Whether ``directory`` holds an earlier build: our MANIFEST.json listing every file in it.

    ``build`` replaces its output directory whole, so it must be sure the directory holds
    nothing else: a file the manifest does not list (a source, a note) makes it not ours.
    """
    try:
        path = directory / MANIFEST
        doc = jsontext.loads_bytes(read_bytes(path, MAX_FILE), str(path))
    except (OSError, SeccompilerError):
        return False
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), dict):
        return False
    tool = doc.get("tool")
    if not isinstance(tool, dict) or tool.get("name") != "seccompiler":
        return False
    listed = set(doc["files"]) | {MANIFEST}
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames:
            if os.path.islink(os.path.join(dirpath, name)):
                return False
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), directory)
            if rel not in listed:
                return False
    return True


def _only_profiles(dirfd: int) -> bool:
    """Our profile directory on a node holds nothing but folders of profile JSON files."""
    for name in os.listdir(dirfd):
        mode = os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode
        if stat.S_ISDIR(mode) and not name.startswith("."):
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dirfd)
            try:
                if not _only_profiles(sub):
                    return False
            finally:
                os.close(sub)
        elif not (stat.S_ISREG(mode) and name.endswith(".json") and not name.startswith(".")):
            return False
    return True


def install(files: Mapping[str, bytes], root: str | Path) -> list[str]:
    """Install the node-side files under image ``root`` at their real paths.

    Paths are resolved inside ``root`` as the node would resolve them (a symlink in the image
    never leads out of it). Each file is replaced atomically; the platform's own profile
    directory (``…/seccomp/keisson``) is replaced as a whole, so profiles no longer built
    disappear — but only when it holds nothing but profile files. Returns the absolute node
    paths written.
    """
    node = node_files(files)
    marker = f"/seccomp/{PLATFORM_DIR}/"
    profile_dirs: dict[str, dict[str, bytes]] = {}
    for path, data in node.items():
        if marker in path:
            head, tail = path.split(marker, 1)
            profile_dirs.setdefault(head + marker.rstrip("/"), {})[tail] = data
    with RootDir(root) as base:
        for directory, content in sorted(profile_dirs.items()):
            base.replace_tree(directory, content, _only_profiles)
        for path, data in node.items():
            if marker not in path:
                base.write_atomic(path, data)
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
