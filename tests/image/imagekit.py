"""Build real test images: layer tars, OCI layouts (dir and tar) and docker-save archives.

The busybox images are made from Debian's busybox-static (installed by `make test-deps`), so
nothing is downloaded at test time. Hostile layers are written with tarfile's low-level
TarInfo so that they can hold what no honest tool would write.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUSYBOX = Path("/bin/busybox")
APPLETS = (
    "sh",
    "uname",
    "echo",
    "cat",
    "ls",
    "true",
    "false",
    "pwd",
    "id",
    "env",
    "sleep",
    "mkdir",
    "rm",
    "touch",
    "find",
    "wc",
    "head",
    "tar",
    "gzip",
    "sort",
    "date",
)


@dataclass
class Entry:
    """One tar entry: kind is file, dir, symlink, hardlink, chr, blk or fifo."""

    name: str
    kind: str = "file"
    data: bytes = b""
    mode: int = 0o644
    target: str = ""
    uid: int = 0
    gid: int = 0


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "chr": tarfile.CHRTYPE,
    "blk": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def layer_tar(entries: list[Entry], *, compress: bool = False) -> bytes:
    """A layer tar holding exactly ``entries`` in order (names are not sanitised)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type = _TYPES[e.kind]
            info.mode = e.mode if e.kind != "dir" or e.mode != 0o644 else 0o755
            info.uid, info.gid = e.uid, e.gid
            info.linkname = e.target
            info.mtime = 1_700_000_000
            if e.kind == "file":
                info.size = len(e.data)
                tf.addfile(info, io.BytesIO(e.data))
            else:
                tf.addfile(info)
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def busybox_entries(applets: tuple[str, ...] = APPLETS) -> list[Entry]:
    """A minimal root: /bin/busybox, applet symlinks, /etc/passwd and /etc/group, /tmp."""
    entries = [
        Entry("bin", "dir", mode=0o755),
        Entry("bin/busybox", data=BUSYBOX.read_bytes(), mode=0o755),
        *(Entry(f"bin/{a}", "symlink", target="busybox") for a in applets),
        Entry("etc", "dir", mode=0o755),
        Entry(
            "etc/passwd",
            data=b"root:x:0:0:root:/root:/bin/sh\n"
            b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
            b"app:x:1000:1000:app:/home/app:/bin/sh\n",
        ),
        Entry("etc/group", data=b"root:x:0:\nnogroup:x:65534:\napp:x:1000:\n"),
        Entry("tmp", "dir", mode=0o1777),
        Entry("root", "dir", mode=0o700),
        Entry("home", "dir", mode=0o755),
        Entry("home/app", "dir", mode=0o755, uid=1000, gid=1000),
    ]
    return entries


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_doc(
    uncompressed: list[bytes],
    *,
    env: list[str] | None = None,
    cmd: list[str] | None = None,
    entrypoint: list[str] | None = None,
    user: str = "",
    workdir: str = "",
) -> dict[str, Any]:
    cfg: dict[str, Any] = {"Env": env or ["PATH=/bin", "GREETING=hello from the image"]}
    if cmd is not None:
        cfg["Cmd"] = cmd
    if entrypoint is not None:
        cfg["Entrypoint"] = entrypoint
    if user:
        cfg["User"] = user
    if workdir:
        cfg["WorkingDir"] = workdir
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [digest(u) for u in uncompressed]},
    }


def _blob(blobs: dict[str, bytes], data: bytes) -> dict[str, Any]:
    d = digest(data)
    blobs[f"blobs/sha256/{d.split(':')[1]}"] = data
    return {"digest": d, "size": len(data)}


def oci_files(layers: list[bytes], config: dict[str, Any], ref: str = "latest") -> dict[str, bytes]:
    """The files of an OCI layout for one image; ``layers`` are uncompressed tars (gzipped here)."""
    blobs: dict[str, bytes] = {}
    cdesc = _blob(blobs, json.dumps(config).encode())
    ldescs = [
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            **_blob(blobs, gzip.compress(layer, mtime=0)),
        }
        for layer in layers
    ]
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cdesc},
        "layers": ldescs,
    }
    mdesc = _blob(blobs, json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **mdesc,
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {"org.opencontainers.image.ref.name": ref},
            }
        ],
    }
    return {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps(index).encode(),
        **blobs,
    }


def docker_files(
    layers: list[bytes], config: dict[str, Any], tag: str = "test:latest"
) -> dict[str, bytes]:
    """The files of a classic ``docker save`` archive (``<id>/layer.tar``, ``<hex>.json``)."""
    cjson = json.dumps(config).encode()
    chex = hashlib.sha256(cjson).hexdigest()
    files = {f"{chex}.json": cjson}
    paths = []
    for i, layer in enumerate(layers):
        lid = hashlib.sha256(layer + bytes([i])).hexdigest()
        files[f"{lid}/layer.tar"] = layer
        files[f"{lid}/VERSION"] = b"1.0"
        paths.append(f"{lid}/layer.tar")
    files["manifest.json"] = json.dumps(
        [{"Config": f"{chex}.json", "RepoTags": [tag], "Layers": paths}]
    ).encode()
    return files


def write_dir(dest: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return dest


def write_tar(dest: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(dest, "w") as tf:
        for rel, data in sorted(files.items()):
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return dest


def busybox_image(tmp: Path, kind: str, *, extra: list[bytes] | None = None, **config: Any) -> Path:
    """A busybox image as 'oci-dir', 'oci-tar', 'docker' (archive) or 'rootfs' (directory)."""
    layers = [layer_tar(busybox_entries()), *(extra or [])]
    cfg = config_doc(layers, **config)
    if kind == "oci-dir":
        return write_dir(tmp / "oci", oci_files(layers, cfg))
    if kind == "oci-tar":
        return write_tar(tmp / "oci.tar", oci_files(layers, cfg))
    if kind == "docker":
        return write_tar(tmp / "docker.tar", docker_files(layers, cfg))
    if kind == "rootfs":
        root = tmp / "rootfs"
        (root / "bin").mkdir(parents=True)
        shutil.copy2(BUSYBOX, root / "bin" / "busybox")
        for a in APPLETS:
            (root / "bin" / a).symlink_to("busybox")
        (root / "tmp").mkdir(mode=0o1777)
        return root
    raise ValueError(kind)


def snapshot(base: Path, skip: Path) -> dict[str, str]:
    """Every path under ``base`` except ``skip``'s subtree, with a digest of what it is."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        d = Path(dirpath)
        if d == skip or skip in d.parents:
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            p = d / name
            if p == skip:
                continue
            st = p.lstat()
            if p.is_symlink():
                what = "link:" + os.readlink(p)
            elif p.is_file():
                what = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                what = "dir"
            out[str(p.relative_to(base))] = f"{what}:{st.st_mode:o}"
    return out


@dataclass
class Jail:
    """A target root inside a directory of decoys that nothing may touch."""

    outer: Path
    root: Path

    def fd(self) -> int:
        return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
