"""OCI layouts and ``docker save`` archives: from index and manifest to config and layers."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from seccompiler.arch.abi import by_machine
from seccompiler.image.config import ImageConfig, load_json, parse_config
from seccompiler.image.errors import Limits, located
from seccompiler.image.store import Store, blob_path, hasher
from seccompiler.image.tarpath import normalise

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
        h = hasher(digest)
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
    native = by_machine(machine)
    return native.goarch if native is not None else machine


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


def open_oci(store: Store, limits: Limits, ref: str | None) -> Image:
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


def open_docker(store: Store, limits: Limits, ref: str | None) -> Image:
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
