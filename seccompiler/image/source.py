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
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, cast

from seccompiler.base.errors import UsageError
from seccompiler.image.config import ImageConfig, load_json, parse_config
from seccompiler.image.errors import Budget, ImageError, Limits, located
from seccompiler.image.layer import _EOF_HEADER, LayerReport, _probe_class, apply_layer, normalise

_DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
_INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
_MANIFEST_TYPES = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
}
_LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
}
_REF_NAME = "org.opencontainers.image.ref.name"
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm"}
_CHUNK = 1 << 20


class Store(Protocol):
    """Files of an image container (a directory or a tar), by normalised relative path."""

    label: str

    def exists(self, rel: str) -> bool: ...

    def open(self, rel: str) -> IO[bytes]: ...


class DirStore:
    """An image laid out in a directory."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.label = str(base)

    def exists(self, rel: str) -> bool:
        return (self.base / rel).is_file()

    def open(self, rel: str) -> IO[bytes]:
        try:
            fd = os.open(self.base / rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise located(
                self.label, "missing-blob", f"'{rel}' is missing from the image", member=rel
            ) from None
        except OSError as exc:
            raise located(
                self.label, "io", f"cannot open '{rel}': {exc.strerror}", member=rel
            ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise located(self.label, "format", f"'{rel}' is not a regular file", member=rel)
        return os.fdopen(fd, "rb")


class TarStore:
    """An image saved as one tar (``docker save``, ``skopeo copy oci-archive:``…)."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self.label = str(path)
        self.members: dict[str, tarfile.TarInfo] = {}
        probe = _probe_class()
        try:
            self.tf = tarfile.open(path, "r:*", tarinfo=probe)  # noqa: SIM115 closed by close()
        except (tarfile.TarError, OSError, EOFError) as exc:
            if "unexpected end of data" in str(exc):
                raise located(
                    self.label,
                    "truncated",
                    "archive ends in the middle of a file",
                    hint="the file was cut short; save it again",
                ) from None
            raise located(self.label, "format", f"not a readable tar archive: {exc}") from None
        try:
            for count, info in enumerate(self.tf, 1):
                if count > limits.max_outer_entries:
                    raise located(
                        self.label, "too-many", f"more than {limits.max_outer_entries} entries"
                    )
                name = normalise(info.name, self.label, limits)
                if info.isreg() or info.issym() or info.islnk():
                    self.members[name] = info
        except ImageError:
            self.tf.close()
            raise
        except (tarfile.TarError, OSError, EOFError) as exc:
            self.tf.close()
            raise located(self.label, "corrupt", f"cannot read the archive: {exc}") from None
        if not isinstance(getattr(probe, "last_error", None), _EOF_HEADER):
            self.tf.close()
            raise located(
                self.label,
                "truncated",
                "archive ends without an end-of-archive block",
                hint="the file was cut short; save it again",
            )

    def close(self) -> None:
        self.tf.close()

    def _resolve(self, rel: str) -> tarfile.TarInfo:
        seen = 0
        while True:
            info = self.members.get(rel)
            if info is None:
                raise located(
                    self.label, "missing-blob", f"'{rel}' is missing from the image", member=rel
                )
            if info.isreg():
                return info
            seen += 1
            target = info.linkname
            if info.issym():
                target = posixpath.join(posixpath.dirname(rel), target)
            target = posixpath.normpath(target)
            if seen > 8 or target.startswith(("/", "../")) or target == "..":
                raise located(
                    self.label,
                    "hardlink-escape",
                    f"'{rel}' links to '{info.linkname}', outside the archive",
                    member=rel,
                )
            rel = target

    def exists(self, rel: str) -> bool:
        return rel in self.members

    def open(self, rel: str) -> IO[bytes]:
        fh = self.tf.extractfile(self._resolve(rel))
        if fh is None:
            raise located(self.label, "format", f"'{rel}' is not a file", member=rel)
        return fh


@dataclass(frozen=True)
class LayerRef:
    """One layer: where its bytes are and what they must hash to."""

    path: str
    digest: str = ""  # of the blob as stored (OCI descriptor); '' when unknown
    size: int = -1  # of the blob as stored; -1 when unknown
    diff_id: str = ""  # of the uncompressed tar (config rootfs.diff_ids)
    media_type: str = ""


@dataclass
class Image:
    """An image opened for unpacking: its config, its layers in order, and notes."""

    kind: str  # "oci", "docker" or "rootfs"
    path: str
    config: ImageConfig
    layers: tuple[LayerRef, ...] = ()
    store: Store | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, Any]
    annotations: dict[str, Any]


def _descriptor(obj: Any, where: str, what: str) -> Descriptor:
    if not isinstance(obj, dict):
        raise located(where, "format", f"{what}: descriptor must be an object")
    digest, size, mt = obj.get("digest"), obj.get("size"), obj.get("mediaType", "")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise located(
            where,
            "bad-digest",
            f"{what}: digest {digest!r} is not sha256/sha512 hex",
            hint="a digest is 'sha256:' followed by 64 lowercase hex digits",
        )
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise located(where, "format", f"{what}: size must be a non-negative integer")
    if not isinstance(mt, str):
        raise located(where, "format", f"{what}: mediaType must be a string")
    platform = obj.get("platform") or {}
    annotations = obj.get("annotations") or {}
    if not isinstance(platform, dict) or not isinstance(annotations, dict):
        raise located(where, "format", f"{what}: platform and annotations must be objects")
    return Descriptor(mt, digest, size, platform, annotations)


def blob_path(digest: str) -> str:
    alg, _, hexpart = digest.partition(":")
    return f"blobs/{alg}/{hexpart}"


def _hasher(digest: str) -> Any:
    return hashlib.new(digest.partition(":")[0])


def _read_meta(
    store: Store, rel: str, limits: Limits, *, digest: str = "", size: int = -1
) -> bytes:
    """Read a small JSON file, checking size and digest when the caller knows them."""
    with store.open(rel) as fh:
        data = fh.read(limits.max_meta_bytes + 1)
    if len(data) > limits.max_meta_bytes:
        raise located(
            store.label, "too-large", f"larger than {limits.max_meta_bytes} bytes", member=rel
        )
    if size >= 0 and len(data) != size:
        raise located(
            store.label,
            "size-mismatch",
            f"{len(data)} bytes where the descriptor says {size}",
            member=rel,
        )
    if digest:
        h = _hasher(digest)
        h.update(data)
        got = f"{digest.partition(':')[0]}:{h.hexdigest()}"
        if got != digest:
            raise located(
                store.label,
                "digest-mismatch",
                f"content hashes to {got[:19]}…, expected {digest[:19]}…",
                member=rel,
                hint="the image is corrupt or was tampered with",
            )
    return data


def _host_arch() -> str:
    machine = os.uname().machine
    return _GOARCH.get(machine, machine)


def _pick(cands: list[Descriptor], where: str, ref: str | None) -> Descriptor:
    if ref is not None:
        named = [d for d in cands if d.annotations.get(_REF_NAME) == ref]
        if not named:
            known = sorted(
                {str(d.annotations.get(_REF_NAME)) for d in cands if _REF_NAME in d.annotations}
            )
            raise located(
                where,
                "platform",
                f"no image named '{ref}'",
                hint=f"names in this layout: {', '.join(known) or 'none'}",
            )
        cands = named
    arch = _host_arch()
    fits = [
        d
        for d in cands
        if not d.platform
        or (
            d.platform.get("os", "linux") == "linux"
            and d.platform.get("architecture", arch) == arch
        )
    ]
    if not fits:
        raise located(where, "platform", f"no image for linux/{arch} in the index")
    if len({d.digest for d in fits}) > 1 and ref is None:
        names = sorted({str(d.annotations.get(_REF_NAME, d.digest[:19])) for d in fits})
        raise located(
            where,
            "platform",
            "the layout holds several images",
            hint=f"choose one with --ref: {', '.join(names)}",
        )
    return fits[0]


def _open_oci(store: Store, limits: Limits, ref: str | None) -> Image:
    where = store.label
    notes: list[str] = []
    if not store.exists("oci-layout"):
        notes.append(f"{where}: no 'oci-layout' file; reading index.json anyway")
    index = load_json(_read_meta(store, "index.json", limits), where, "index.json")
    desc: Descriptor | None = None
    doc = index
    for _depth in range(4):
        if not isinstance(doc, dict) or not isinstance(doc.get("manifests"), list):
            raise located(where, "format", "image index has no 'manifests' list")
        cands = [_descriptor(m, where, f"manifests[{i}]") for i, m in enumerate(doc["manifests"])]
        desc = _pick(cands, where, ref)
        ref = None  # names live on the top-level index only
        data = _read_meta(store, blob_path(desc.digest), limits, digest=desc.digest, size=desc.size)
        doc = load_json(data, where, f"manifest {desc.digest[:19]}")
        if desc.media_type in _INDEX_TYPES or (
            isinstance(doc, dict) and "manifests" in doc and "layers" not in doc
        ):
            continue
        break
    else:
        raise located(where, "format", "image indexes nested too deeply")
    assert desc is not None
    if desc.media_type and desc.media_type not in _MANIFEST_TYPES:
        raise located(where, "media-type", f"unsupported manifest type '{desc.media_type}'")
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list):
        raise located(where, "format", "manifest has no 'layers' list")
    cdesc = _descriptor(doc.get("config"), where, "config")
    config = parse_config(
        _read_meta(store, blob_path(cdesc.digest), limits, digest=cdesc.digest, size=cdesc.size),
        f"{where}[config]",
    )
    ldescs = [_descriptor(d, where, f"layers[{i}]") for i, d in enumerate(doc["layers"])]
    if len(ldescs) > limits.max_layers:
        raise located(where, "too-many", f"more than {limits.max_layers} layers")
    for d in ldescs:
        if d.media_type not in _LAYER_TYPES:
            hint = "recompress it with gzip (e.g. skopeo copy --dest-compress-format gzip)"
            raise located(
                where,
                "media-type",
                f"unsupported layer type '{d.media_type}'",
                hint=hint if "zstd" in d.media_type else "",
            )
    diff_ids = config.diff_ids if len(config.diff_ids) == len(ldescs) else ()
    layers = tuple(
        LayerRef(
            blob_path(d.digest), d.digest, d.size, diff_ids[i] if diff_ids else "", d.media_type
        )
        for i, d in enumerate(ldescs)
    )
    return Image("oci", where, config, layers, store, notes)


def _open_docker(store: Store, limits: Limits, ref: str | None) -> Image:
    where = store.label
    doc = load_json(_read_meta(store, "manifest.json", limits), where, "manifest.json")
    if not isinstance(doc, list) or not doc or not all(isinstance(e, dict) for e in doc):
        raise located(where, "format", "manifest.json must be a non-empty list of objects")
    entries: list[dict[str, Any]] = doc
    if ref is not None:
        entries = [e for e in entries if ref in (e.get("RepoTags") or [])]
        if not entries:
            raise located(where, "platform", f"no image tagged '{ref}' in the archive")
    elif len(entries) > 1:
        tags = sorted(t for e in entries for t in (e.get("RepoTags") or []) if isinstance(t, str))
        raise located(
            where,
            "platform",
            "the archive holds several images",
            hint=f"choose one with --ref: {', '.join(tags) or '(untagged)'}",
        )
    entry = entries[0]
    cpath, lpaths = entry.get("Config"), entry.get("Layers")
    if not isinstance(cpath, str) or not isinstance(lpaths, list):
        raise located(where, "format", "manifest.json entry needs 'Config' and 'Layers'")
    if not all(isinstance(p, str) for p in lpaths):
        raise located(where, "format", "'Layers' must be a list of paths")
    if len(lpaths) > limits.max_layers:
        raise located(where, "too-many", f"more than {limits.max_layers} layers")
    cpath = normalise(cpath, where, limits)
    named = re.search(r"(?:^|/)(?:sha256/)?([a-f0-9]{64})(?:\.json)?$", cpath)
    config = parse_config(
        _read_meta(store, cpath, limits, digest=f"sha256:{named.group(1)}" if named else ""),
        f"{where}[{cpath}]",
    )
    if config.diff_ids and len(config.diff_ids) != len(lpaths):
        raise located(
            where,
            "format",
            f"{len(lpaths)} layers but {len(config.diff_ids)} diff_ids in the config",
        )
    layers = []
    for i, p in enumerate(lpaths):
        rel = normalise(p, where, limits)
        blob = re.fullmatch(r"blobs/sha256/([a-f0-9]{64})", rel)
        layers.append(
            LayerRef(
                rel,
                f"sha256:{blob.group(1)}" if blob else "",
                -1,
                config.diff_ids[i] if config.diff_ids else "",
            )
        )
    notes = [] if config.diff_ids else [f"{where}: config has no diff_ids; layers not verified"]
    return Image("docker", where, config, tuple(layers), store, notes)


class _Hashing:
    """A reader that hashes what passes through it."""

    def __init__(self, raw: IO[bytes], alg: str) -> None:
        self.raw = raw
        self.hash = hashlib.new(alg)
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hash.update(data)
        self.count += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


def verify_layer(store: Store, layer: LayerRef, where: str, limits: Limits | None = None) -> None:
    """Hash a layer as stored and uncompressed; refuse it when either digest disagrees.

    The uncompressed size is bounded too (by ``limits.max_total_bytes`` plus room for tar
    headers), so a small gzip bomb is refused after reading that much, not after hours.
    """
    limits = limits or Limits()
    cap = limits.max_total_bytes + 1024 * limits.max_entries
    alg = (layer.digest or "sha256:").partition(":")[0]
    with store.open(layer.path) as raw:
        outer = _Hashing(raw, alg)
        head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
        diff = hashlib.sha256()
        seen = 0
        try:
            if head == b"\x1f\x8b" or layer.media_type.endswith("gzip"):
                src = cast(IO[bytes], gzip.GzipFile(fileobj=cast(IO[bytes], outer), mode="rb"))
            else:
                src = cast(IO[bytes], outer)
            while chunk := src.read(_CHUNK):
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
        except (OSError, EOFError) as exc:
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
    p = Path(path)
    if p.is_dir():
        store = DirStore(p)
        if store.exists("oci-layout") or store.exists("index.json"):
            return _open_oci(store, limits, ref)
        if store.exists("manifest.json"):
            return _open_docker(store, limits, ref)
        return Image("rootfs", str(p), ImageConfig())
    if not p.exists():
        raise UsageError(
            f"{p}: no such image",
            hint="give an OCI layout, a docker-save tar or a root filesystem directory",
        )
    tstore = TarStore(p, limits)
    try:
        if tstore.exists("oci-layout") or tstore.exists("index.json"):
            return _open_oci(tstore, limits, ref)
        if tstore.exists("manifest.json"):
            return _open_docker(tstore, limits, ref)
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
