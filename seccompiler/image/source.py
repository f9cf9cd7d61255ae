"""Read OCI image layouts (directory or tar), ``docker save`` archives and rootfs directories.

Formats (facts from the OCI image-spec and Docker's image save format):
- OCI layout: ``oci-layout``, ``index.json`` → manifest (possibly through nested indexes) →
  config and layer descriptors, each blob at ``blobs/<alg>/<hex>``, checked by digest and size.
- docker save: ``manifest.json`` lists ``Config`` and ``Layers`` paths; layers are checked
  against the config's ``rootfs.diff_ids`` (digests of the uncompressed tars), and the config
  against its file name when that is a digest.
- A directory without either file is a root filesystem used in place.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from seccompiler.base.errors import UsageError
from seccompiler.base.fsio import check_regular
from seccompiler.image.config import ImageConfig
from seccompiler.image.errors import Budget, Limits, located
from seccompiler.image.layer import LayerReport, apply_layer
from seccompiler.image.manifest import Image, LayerRef, open_docker, open_oci
from seccompiler.image.store import DirStore, HashingReader, Store, TarStore
from seccompiler.image.tarpath import CHUNK


def verify_layer(store: Store, layer: LayerRef, where: str, limits: Limits | None = None) -> None:
    """Hash a layer as stored and uncompressed; refuse it when either digest disagrees.

    The uncompressed size is bounded too (by ``limits.max_total_bytes`` plus room for tar
    headers), so a small gzip bomb is refused after reading that much, not after hours.
    """
    limits = limits or Limits()
    cap = limits.max_total_bytes + 1024 * limits.max_entries
    alg = (layer.digest or "sha256:").partition(":")[0]
    with store.open(layer.path) as raw:
        outer = HashingReader(raw, alg)
        head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
        diff = hashlib.sha256()
        seen = 0
        try:
            if head == b"\x1f\x8b" or layer.media_type.endswith("gzip"):
                src = cast(IO[bytes], gzip.GzipFile(fileobj=cast(IO[bytes], outer), mode="rb"))
            else:
                src = cast(IO[bytes], outer)
            while chunk := src.read(CHUNK):
                diff.update(chunk)
                seen += len(chunk)
                if seen > cap:
                    raise located(
                        where,
                        "too-large",
                        f"layer uncompresses to more than {cap} bytes",
                        hint="a compression bomb, or an image larger than the limits allow",
                    )
            outer.drain()
        except (OSError, EOFError, zlib.error) as exc:
            if layer.digest or layer.diff_id:
                raise located(where, "corrupt", f"cannot decompress the layer: {exc}") from None
            return  # unverifiable: apply_layer will report what is wrong with it
    if layer.size >= 0 and outer.count != layer.size:
        raise located(
            where,
            "size-mismatch",
            f"layer is {outer.count} bytes, the manifest says {layer.size}",
            hint="the image is corrupt or was tampered with",
        )
    got = f"{alg}:{outer.hash.hexdigest()}"
    if layer.digest and got != layer.digest:
        raise located(
            where,
            "digest-mismatch",
            f"layer hashes to {got[:19]}…, the manifest says {layer.digest[:19]}…",
            hint="the image is corrupt or was tampered with",
        )
    got = f"sha256:{diff.hexdigest()}"
    if layer.diff_id and got != layer.diff_id:
        raise located(
            where,
            "digest-mismatch",
            f"uncompressed layer hashes to {got[:19]}…, diff_id says {layer.diff_id[:19]}…",
            hint="the image is corrupt or was tampered with",
        )


def open_image(path: str | Path, *, ref: str | None = None, limits: Limits | None = None) -> Image:
    """Identify and open an image; close it with ``close_image``."""
    limits = limits or Limits()
    if not str(path):  # Path("") is ".": the working directory is no image asked for
        raise UsageError("'' names no image", hint="give the image's path")
    p = Path(path)
    if p.is_dir():
        store = DirStore(p)
        if store.exists("oci-layout") or store.exists("index.json"):
            return open_oci(store, limits, ref)
        if store.exists("manifest.json"):
            return open_docker(store, limits, ref)
        return Image("rootfs", str(p), ImageConfig())
    if not p.exists():
        raise UsageError(
            f"{p}: no such image",
            hint="give an OCI layout, a docker-save tar or a root filesystem directory",
        )
    check_regular(p)  # a FIFO or a device is refused before tarfile would block on it
    tstore = TarStore(p, limits)
    try:
        if tstore.exists("oci-layout") or tstore.exists("index.json"):
            return open_oci(tstore, limits, ref)
        if tstore.exists("manifest.json"):
            return open_docker(tstore, limits, ref)
    except BaseException:
        tstore.close()
        raise
    tstore.close()
    raise located(
        str(p),
        "format",
        "neither an OCI layout nor a docker-save archive",
        hint="an OCI layout has 'oci-layout' and 'index.json'; docker save writes 'manifest.json'",
    )


def close_image(image: Image) -> None:
    if isinstance(image.store, TarStore):
        image.store.close()


def unpack(image: Image, target: Path, *, limits: Limits | None = None) -> LayerReport:
    """Apply every layer of ``image`` to the empty directory ``target``, verified first."""
    limits = limits or Limits()
    budget = Budget()
    report = LayerReport(notes=list(image.notes))
    assert image.store is not None
    root_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for i, layer in enumerate(image.layers, 1):
            where = f"{image.path}[layer {i}: {layer.path}]"
            verify_layer(image.store, layer, where, limits)
            with image.store.open(layer.path) as fh:
                apply_layer(fh, root_fd, where=where, limits=limits, budget=budget, report=report)
        os.fchmod(root_fd, 0o755)
    finally:
        os.close(root_fd)
    return report


@dataclass
class Prepared:
    """A root filesystem ready to chroot into, with the config to run it by."""

    root: Path
    config: ImageConfig
    kind: str
    report: LayerReport


@contextlib.contextmanager
def prepared(
    path: str | Path,
    *,
    ref: str | None = None,
    limits: Limits | None = None,
    workdir: str | Path | None = None,
) -> Iterator[Prepared]:
    """Unpack ``path`` into a fresh directory (removed afterwards); rootfs dirs are used as is."""
    image = open_image(path, ref=ref, limits=limits)
    try:
        if image.kind == "rootfs":
            yield Prepared(Path(path).resolve(), image.config, "rootfs", LayerReport())
            return
        tmp = Path(tempfile.mkdtemp(prefix="seccompiler-image.", dir=workdir))
        try:
            report = unpack(image, tmp, limits=limits)
            yield Prepared(tmp, image.config, image.kind, report)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        close_image(image)


__all__ = [
    "DirStore",
    "Image",
    "LayerRef",
    "Prepared",
    "open_image",
    "prepared",
    "unpack",
    "verify_layer",
]
