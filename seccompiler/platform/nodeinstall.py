"""``seccompiler node install``: put a build's node files onto a node, all at once or not at all.

Layout under the node's root (``--root``, ``/host`` in the DaemonSet):

- ``var/lib/seccompiler/node/releases/<digest>/<node path>``: the files of one build, written
  and fsynced before anything visible changes (``<digest>`` is MANIFEST.json's sha256);
- ``var/lib/seccompiler/node/current``: a symlink to the release in force. Switching it is
  one ``rename(2)``, so a node has the old set or the new one, whatever moment the installer
  is killed at;
- at each real path (``etc/sysctl.d/60-keisson-yama.conf``, the kubelet profiles, …) a
  symlink to ``/var/lib/seccompiler/node/current/<node path>``: absolute, as the host reads
  it; below ``--root`` every path is resolved as the kernel would inside that root
  (``fsio.RootDir``), so the links lead to the same files there and nothing leaves the root.

Order: stage the release, link the paths that hold nothing yet (they lead nowhere until the
switch), switch ``current``, then replace the byte-identical copies ``build --root`` leaves
(replaced earlier, they would lead nowhere on a first install), remove the stale links, and
only last remove the old releases.

Each release records which paths it linked (``INSTALLED.json``) and stays in the store until
the links it made that the new build no longer has are gone, so the next install removes
exactly those, also after a kill; a path holding anything else than our own link (or a
byte-identical copy) is refused before anything is written. Every file of the build is
checked against MANIFEST.json first, and on every run so is the release already on the node:
a file that differs (tampered with, deleted) is written again from the build.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seccompiler.base import jsontext
from seccompiler.base.errors import InputError, Location, UsageError
from seccompiler.base.fsread import read_bytes
from seccompiler.base.inroot import RootDir
from seccompiler.platform.artifacts import installer
from seccompiler.platform.artifacts.manifest import MANIFEST
from seccompiler.platform.artifacts.paths import NODE_PREFIX

STORE = "var/lib/seccompiler/node"
RECORD = "INSTALLED.json"
MAX_MANIFEST = 4 * 1024 * 1024


@dataclass(frozen=True)
class Release:
    """The node files of one build, verified against its manifest."""

    digest: str  # sha256 of MANIFEST.json
    files: dict[str, bytes]  # node path without the leading '/' → content


@dataclass
class Outcome:
    """What an install did (or, for an unchanged node, did not need to do)."""

    digest: str
    written: list[str] = field(default_factory=list)  # links created or replaced
    removed: list[str] = field(default_factory=list)  # stale links of an earlier install
    repaired: list[str] = field(default_factory=list)  # release files that differed from the build
    collected: list[str] = field(default_factory=list)  # releases no longer in force
    unchanged: bool = False


def _bad(path: str, message: str, hint: str = "") -> InputError:
    return InputError(message, hint=hint or "rebuild the tree with `seccompiler build`",
                      location=Location(path))  # fmt: skip


def _safe_rel(rel: Any, where: str) -> str:
    ok = (
        isinstance(rel, str)
        and rel
        and not rel.startswith("/")
        and all(p not in ("", ".", "..") for p in rel.split("/"))
    )
    if not ok:
        raise _bad(where, f"manifest names an unsafe path {rel!r}")
    return str(rel)


def load_release(src: str | Path) -> Release:
    """Read ``src``'s MANIFEST.json and every node file it lists; refuse any mismatch."""
    base = Path(src)
    man_path = base / MANIFEST
    if not base.is_dir():
        raise UsageError(f"{base}: no such directory", hint="pass the tree `build` wrote")
    raw = read_bytes(man_path, MAX_MANIFEST)
    where = str(man_path)
    doc = jsontext.loads_bytes(raw, where)
    entries = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        raise _bad(where, "MANIFEST.json has no 'files' object")
    files: dict[str, bytes] = {}
    for rel, entry in sorted(entries.items()):
        rel = _safe_rel(rel, where)
        if not rel.startswith(f"{NODE_PREFIX}/"):
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise _bad(where, f"{rel}: manifest entry has no sha256")
        size = entry.get("size")
        path = base / rel
        if path.is_symlink() or not path.is_file():
            raise _bad(str(path), "listed in MANIFEST.json but missing (or not a regular file)")
        data = read_bytes(path, MAX_MANIFEST * 16)
        if len(data) != size or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise _bad(
                str(path),
                "content does not match MANIFEST.json (sha256 or size differs)",
                "the tree was changed or corrupted after the build; nothing was installed",
            )
        files[rel.removeprefix(f"{NODE_PREFIX}/")] = data
    if not files:
        raise _bad(where, "MANIFEST.json lists no node files")
    return Release(hashlib.sha256(raw).hexdigest(), files)


def _link_target(node_path: str) -> str:
    """What the link at ``node_path`` points to: absolute, as the host (and, inside
    ``--root``, the resolution of every path below it) reads it."""
    return f"/{STORE}/current/{node_path}"


def _lstat(dfd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _is_ours(dfd: int, name: str, node_path: str) -> bool:
    st = _lstat(dfd, name)
    return (
        st is not None
        and stat.S_ISLNK(st.st_mode)
        and os.readlink(name, dir_fd=dfd) == _link_target(node_path)
    )


def _read_paths(root: RootDir, where_rel: str) -> list[str]:
    """The paths a release's record says it linked ([] when it has no record)."""
    where = root.show(where_rel)
    hint = "remove it to start over; nothing was changed"
    try:
        raw = root.read_bytes(where_rel, MAX_MANIFEST)
        if raw is None:
            return []
        doc = jsontext.loads_bytes(raw, where)
    except InputError as exc:
        message = f"the record of an installed release is unreadable: {exc.message}"
        raise InputError(message, hint=hint, location=exc.location) from None
    except UsageError as exc:  # not a regular file
        message = f"the record of an installed release is unreadable: {exc.message}"
        raise _bad(where, message, hint) from None
    try:
        return [_safe_rel(p, where) for p in doc["paths"]]
    except (KeyError, TypeError):
        raise _bad(where, "the record of an installed release is unreadable", hint) from None


def _recorded_paths(root: RootDir, digest: str) -> set[str]:
    """Every path a release still in the store linked, but the one of ``digest``.

    The store is the journal: a release stays there until the links it made that the new
    build lacks are gone, so a run killed after the switch still knows them.
    """
    paths: set[str] = set()
    for name, _mode in root.listdir(f"{STORE}/releases"):
        if name.startswith(".") or name == digest:
            continue  # a partial staging; the build being installed is checked below
        paths.update(_read_paths(root, f"{STORE}/releases/{name}/{RECORD}"))
    return paths


def _record_bytes(release: Release) -> bytes:
    record = {"digest": release.digest, "paths": sorted(release.files)}
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()


def _stage(root: RootDir, release: Release) -> bool:
    """Write the release directory; False when a complete one is already there."""
    releases = f"{STORE}/releases"
    if _lstat_in(root, f"{releases}/{release.digest}/{RECORD}") is not None:
        return False
    rfd = root.makedirs(releases)
    try:
        _remove_at(rfd, release.digest)  # a partial one from a killed run
        tmp = f".{release.digest[:12]}.{os.getpid()}.new"
        _remove_at(rfd, tmp)
        for rel, data in sorted(release.files.items()):
            root.write_atomic(f"{releases}/{tmp}/{rel}", data)
        root.write_atomic(f"{releases}/{tmp}/{RECORD}", _record_bytes(release))
        os.rename(tmp, release.digest, src_dir_fd=rfd, dst_dir_fd=rfd)
        os.fsync(rfd)
    finally:
        os.close(rfd)
    return True


def _repair(root: RootDir, release: Release) -> list[str]:
    """Check a staged release file by file against the build (whose every file matched
    MANIFEST.json's sha256) and rewrite, each in one rename, the files that differ or are
    missing; return their node paths."""
    top = f"{STORE}/releases/{release.digest}"
    want = {**release.files, RECORD: _record_bytes(release)}
    repaired = []
    for rel, data in sorted(want.items()):
        path = f"{top}/{rel}"
        try:
            have = root.read_bytes(path, len(data) + 1)
        except (InputError, UsageError):
            have = None  # a directory, a device, too large: not ours to keep either way
        if have == data:
            continue
        head, _, name = path.rpartition("/")
        dfd = root.makedirs(head)
        try:
            st = _lstat(dfd, name)
            if st is not None and stat.S_ISDIR(st.st_mode):
                _remove_at(dfd, name)
        finally:
            os.close(dfd)
        root.write_atomic(path, data)
        repaired.append(f"/{path}")
    return repaired


def _lstat_in(root: RootDir, rel: str) -> os.stat_result | None:
    head, _, name = rel.rpartition("/")
    dfd = root.opendir(head)
    if dfd is None:
        return None
    try:
        return _lstat(dfd, name)
    finally:
        os.close(dfd)


def _remove_at(dfd: int, name: str) -> None:
    st = _lstat(dfd, name)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dfd, ignore_errors=True)
    else:
        os.unlink(name, dir_fd=dfd)


def _check_paths(root: RootDir, release: Release, old: set[str]) -> None:
    """Refuse, before anything changes, a node path that holds something not ours."""
    for rel, data in sorted(release.files.items()):
        head, _, name = rel.rpartition("/")
        dfd = root.opendir(head)
        if dfd is None:
            continue
        try:
            st = _lstat(dfd, name)
            if st is None or _is_ours(dfd, name, rel):
                continue
            if stat.S_ISLNK(st.st_mode) and rel in old:
                continue  # a link of ours from an earlier layout
            if stat.S_ISREG(st.st_mode) and root.read_bytes(rel, MAX_MANIFEST * 16) == data:
                continue  # a byte-identical copy (what `build --root` leaves)
        finally:
            os.close(dfd)
        raise UsageError(
            f"{root.show(rel)}: exists and was not installed by seccompiler",
            hint="move it away (or remove it) if the platform should own this path; "
            "nothing was changed",
        )


def _link(root: RootDir, rel: str, *, copies: bool) -> bool:
    """Make ``rel`` our symlink atomically; False when it already is.

    A regular file there (the byte-identical copy `build --root` leaves) is replaced only
    with ``copies``, once ``current`` leads to the new release: before the switch the link
    would lead nowhere on a first install. Any other path is linked only without ``copies``,
    before the switch, so the new paths appear together with the new release.
    """
    head, _, name = rel.rpartition("/")
    dfd = root.makedirs(head)
    try:
        if _is_ours(dfd, name, rel):
            return False
        st = _lstat(dfd, name)
        if (st is not None and stat.S_ISREG(st.st_mode)) != copies:
            return False
        tmp = f".{name}.seccompiler-link"
        _remove_at(dfd, tmp)
        os.symlink(_link_target(rel), tmp, dir_fd=dfd)
        os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        return True
    finally:
        os.close(dfd)


def _switch(root: RootDir, digest: str) -> bool:
    """Point ``current`` at the release of ``digest`` in one rename; False when it does."""
    sfd = root.makedirs(STORE)
    target = f"releases/{digest}"
    try:
        try:
            if os.readlink("current", dir_fd=sfd) == target:
                return False
        except OSError:
            pass  # absent, or not a link: replaced below
        _remove_at(sfd, ".current.new")
        os.symlink(target, ".current.new", dir_fd=sfd)
        os.replace(".current.new", "current", src_dir_fd=sfd, dst_dir_fd=sfd)
        os.fsync(sfd)
        return True
    finally:
        os.close(sfd)


def _unlink_ours(root: RootDir, rel: str) -> bool:
    head, _, name = rel.rpartition("/")
    dfd = root.opendir(head)
    if dfd is None:
        return False
    try:
        if not _is_ours(dfd, name, rel):
            return False
        os.unlink(name, dir_fd=dfd)
        return True
    finally:
        os.close(dfd)


def _collect(root: RootDir, keep: str) -> list[str]:
    """Remove releases other than the one in force (a killed run may leave them)."""
    rfd = root.opendir(f"{STORE}/releases")
    if rfd is None:
        return []
    removed = []
    try:
        for name in sorted(os.listdir(rfd)):
            if name != keep:
                _remove_at(rfd, name)
                if not name.startswith("."):
                    removed.append(f"/{STORE}/releases/{name}")
    finally:
        os.close(rfd)
    return removed


def install(src: str | Path, root_path: str | Path) -> Outcome:
    """Install the node files of the build in ``src`` under ``root_path``; see the module doc."""
    release = load_release(src)  # everything verified before anything is touched
    with RootDir(root_path, allow_host=True) as root:
        old_paths = _recorded_paths(root, release.digest)
        _check_paths(root, release, old_paths)
        outcome = Outcome(release.digest)
        staged = _stage(root, release)
        if not staged:
            outcome.repaired = _repair(root, release)
        for rel in sorted(release.files):
            if _link(root, rel, copies=False):
                outcome.written.append("/" + rel)
        switched = _switch(root, release.digest)
        for rel in sorted(release.files):
            if _link(root, rel, copies=True):
                outcome.written.append("/" + rel)
        outcome.written.sort()
        # Only now are the old releases' links known to be unneeded; their records stay in
        # the store until the links are gone, so a kill here is finished by the next run.
        for rel in sorted(old_paths - release.files.keys()):
            if _unlink_ours(root, rel):
                outcome.removed.append("/" + rel)
        outcome.collected = _collect(root, release.digest)
        changes = (outcome.repaired, outcome.written, outcome.removed, outcome.collected)
        outcome.unchanged = not staged and not switched and not any(changes)
    return outcome


def read_installed(root_path: str | Path, node_path: str) -> bytes | None:
    """What the node reads at ``node_path``, resolved inside ``root_path`` (for checks)."""
    with RootDir(root_path, allow_host=True) as root:
        return root.read_bytes(node_path, MAX_MANIFEST * 16)


YAMA_KEY = "kernel.yama.ptrace_scope"


def release_scope(release: Release) -> int | None:
    """The ptrace scope the release's sysctl drop-in sets, if it has one."""
    for rel, data in sorted(release.files.items()):
        if not rel.startswith("etc/sysctl.d/"):
            continue
        for line in data.decode("utf-8", "replace").splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == YAMA_KEY and value.strip() in ("0", "1", "2", "3"):
                return int(value.strip())
    return None


# Node labels: the gate the default-profile policy schedules pods by, and which build it is.
MANIFEST_LABEL = "seccomp.keisson.io/manifest"
PROFILE_LABEL_PREFIX = installer.GATE_PREFIX


def profile_labels(release: Release) -> dict[str, str]:
    """The labels a node carries once ``release`` is installed: one per kubelet profile
    (``profiles.seccomp.keisson.io/<name>: installed``) and the manifest digest."""
    out = {MANIFEST_LABEL: release.digest[:32]}
    for rel in sorted(release.files):
        head, _, name = rel.rpartition("/")
        if "/seccomp/" in f"/{head}/" and head.endswith("/keisson") and name.endswith(".json"):
            out[installer.gate_label(name.removesuffix(".json"))] = installer.READY
    return out
