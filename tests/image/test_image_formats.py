"""Image formats: OCI layout (dir and tar), docker-save archive, rootfs dir; digests checked."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import pytest
from imagekit import (
    BUSYBOX,
    Entry,
    busybox_entries,
    busybox_image,
    config_doc,
    docker_files,
    layer_tar,
    oci_files,
    write_dir,
    write_tar,
)

from seccompiler.base.errors import UsageError
from seccompiler.image import ImageError, open_image, prepared
from seccompiler.image.config import parse_config
from seccompiler.image.errors import Limits
from seccompiler.image.source import DirStore, LayerRef, verify_layer

pytestmark = pytest.mark.skipif(
    not BUSYBOX.exists(), reason="needs busybox-static (make test-deps)"
)

KINDS = ["oci-dir", "oci-tar", "docker", "rootfs"]


@pytest.mark.parametrize("kind", KINDS)
def test_busybox_image_unpacks(tmp_path: Path, kind: str) -> None:
    path = busybox_image(tmp_path, kind, cmd=["/bin/sh", "-c", "echo hi"], workdir="/tmp")
    with prepared(path, workdir=tmp_path) as prep:
        assert prep.kind == ("oci" if kind.startswith("oci") else kind)
        busybox = prep.root / "bin" / "busybox"
        assert busybox.read_bytes() == BUSYBOX.read_bytes()
        assert os.access(busybox, os.X_OK)
        assert os.readlink(prep.root / "bin" / "sh") == "busybox"
        if kind != "rootfs":
            assert prep.config.cmd == ("/bin/sh", "-c", "echo hi")
            assert prep.config.working_dir == "/tmp"
            assert prep.config.environment()["GREETING"] == "hello from the image"
            assert oct(prep.root.stat().st_mode & 0o777) == "0o755"
        root = prep.root
    if kind != "rootfs":
        assert not root.exists(), "the unpacked root is removed afterwards"


@pytest.mark.parametrize("kind", ["oci-dir", "oci-tar", "docker"])
def test_layers_apply_in_order_with_whiteouts(tmp_path: Path, kind: str) -> None:
    upper = layer_tar([Entry("bin/.wh.ls", data=b""), Entry("etc/motd", data=b"layer 2\n")])
    path = busybox_image(tmp_path, kind, extra=[upper])
    with prepared(path, workdir=tmp_path) as prep:
        assert not (prep.root / "bin" / "ls").exists()
        assert (prep.root / "bin" / "cat").is_symlink()
        assert (prep.root / "etc" / "motd").read_text() == "layer 2\n"


def _oci(tmp_path: Path, layers: list[bytes] | None = None) -> tuple[Path, dict[str, bytes]]:
    layers = layers or [layer_tar([Entry("hello", data=b"world")])]
    files = oci_files(layers, config_doc(layers))
    return tmp_path / "oci", files


def _layer_blob(files: dict[str, bytes]) -> str:
    index = json.loads(files["index.json"])
    mhex = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads(files[f"blobs/sha256/{mhex}"])
    return "blobs/sha256/" + manifest["layers"][0]["digest"].split(":")[1]


def _refused(path: Path, tmp_path: Path) -> ImageError:
    with pytest.raises(ImageError) as info, prepared(path, workdir=tmp_path):
        pass
    assert not any(p.name.startswith("seccompiler-image.") for p in tmp_path.iterdir())
    return info.value


def test_layer_digest_mismatch_is_refused_before_unpacking(tmp_path: Path) -> None:
    dest, files = _oci(tmp_path)
    blob = _layer_blob(files)
    other = gzip.compress(layer_tar([Entry("evil", data=b"swapped")]), mtime=0)
    files[blob] = other[: len(files[blob])].ljust(len(files[blob]), b"\0")
    err = _refused(write_dir(dest, files), tmp_path)
    assert err.code in ("digest-mismatch", "corrupt")
    assert "layer 1" in str(err.location)


def test_layer_size_mismatch_is_refused(tmp_path: Path) -> None:
    dest, files = _oci(tmp_path)
    blob = _layer_blob(files)
    files[blob] += b"\0"
    assert _refused(write_dir(dest, files), tmp_path).code == "size-mismatch"


def test_recompressed_layer_fails_the_descriptor_digest(tmp_path: Path) -> None:
    dest, files = _oci(tmp_path)
    blob = _layer_blob(files)
    raw = gzip.decompress(files[blob])
    files[blob] = gzip.compress(raw, compresslevel=1, mtime=123)
    assert _refused(write_dir(dest, files), tmp_path).code in ("size-mismatch", "digest-mismatch")


def test_manifest_digest_mismatch_is_refused(tmp_path: Path) -> None:
    dest, files = _oci(tmp_path)
    index = json.loads(files["index.json"])
    mblob = "blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]
    files[mblob] = files[mblob].replace(b'"schemaVersion": 2', b'"schemaVersion": 3')
    err = _refused(write_dir(dest, files), tmp_path)
    assert (err.code, err.member) == ("digest-mismatch", mblob)


def test_missing_blob_is_refused(tmp_path: Path) -> None:
    dest, files = _oci(tmp_path)
    del files[_layer_blob(files)]
    assert _refused(write_dir(dest, files), tmp_path).code == "missing-blob"


def test_malformed_digest_is_refused(tmp_path: Path) -> None:
    dest, files = _oci(tmp_path)
    index = json.loads(files["index.json"])
    index["manifests"][0]["digest"] = "sha256:../../../etc/passwd"
    files["index.json"] = json.dumps(index).encode()
    assert _refused(write_dir(dest, files), tmp_path).code == "bad-digest"


def test_zstd_layers_are_refused_with_a_hint(tmp_path: Path) -> None:
    dest, files = _oci(tmp_path)
    index = json.loads(files["index.json"])
    mhex = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads(files.pop(f"blobs/sha256/{mhex}"))
    manifest["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+zstd"
    mdata = json.dumps(manifest).encode()
    mdigest = hashlib.sha256(mdata).hexdigest()
    files[f"blobs/sha256/{mdigest}"] = mdata
    index["manifests"][0].update(digest=f"sha256:{mdigest}", size=len(mdata))
    files["index.json"] = json.dumps(index).encode()
    err = _refused(write_dir(dest, files), tmp_path)
    assert err.code == "media-type"
    assert "gzip" in err.hint


def test_truncated_image_tar_is_refused(tmp_path: Path) -> None:
    _, files = _oci(tmp_path)
    whole = write_tar(tmp_path / "whole.tar", files).read_bytes()
    cut = tmp_path / "cut.tar"
    content = -(-len(whole.rstrip(b"\0")) // 512) * 512  # up to where the end blocks begin
    for size in (len(whole) // 3, len(whole) // 2, content):
        cut.write_bytes(whole[:size])
        assert _refused(cut, tmp_path).code in ("truncated", "missing-blob", "size-mismatch")


def test_docker_archive_diff_id_mismatch(tmp_path: Path) -> None:
    layers = [layer_tar([Entry("a", data=b"a")])]
    cfg = config_doc([layer_tar([Entry("a", data=b"b")])])
    path = write_tar(tmp_path / "d.tar", docker_files(layers, cfg))
    assert _refused(path, tmp_path).code == "digest-mismatch"


def test_docker_archive_config_digest_checked(tmp_path: Path) -> None:
    layers = [layer_tar([Entry("a", data=b"a")])]
    files = docker_files(layers, config_doc(layers))
    cname = next(n for n in files if n.endswith(".json") and n != "manifest.json")
    files[cname] = files[cname].replace(b"PATH=/bin", b"PATH=/xxx")
    err = _refused(write_tar(tmp_path / "d.tar", files), tmp_path)
    assert (err.code, err.member) == ("digest-mismatch", cname)


@pytest.mark.parametrize("bad", ["../outside/layer.tar", "/etc/passwd"])
def test_docker_manifest_paths_may_not_escape(tmp_path: Path, bad: str) -> None:
    layers = [layer_tar([Entry("a", data=b"a")])]
    files = docker_files(layers, config_doc(layers))
    manifest = json.loads(files["manifest.json"])
    manifest[0]["Layers"] = [bad]
    files["manifest.json"] = json.dumps(manifest).encode()
    assert _refused(write_tar(tmp_path / "d.tar", files), tmp_path).code in (
        "path-traversal",
        "absolute-path",
    )


def test_several_images_need_a_ref(tmp_path: Path) -> None:
    one = oci_files(
        [layer_tar([Entry("a", data=b"1")])],
        config_doc([layer_tar([Entry("a", data=b"1")])]),
        ref="one",
    )
    two = oci_files(
        [layer_tar([Entry("a", data=b"2")])],
        config_doc([layer_tar([Entry("a", data=b"2")])]),
        ref="two",
    )
    index = json.loads(one["index.json"])
    index["manifests"] += json.loads(two["index.json"])["manifests"]
    path = write_dir(tmp_path / "oci", {**one, **two, "index.json": json.dumps(index).encode()})
    err = _refused(path, tmp_path)
    assert err.code == "platform"
    assert "one" in err.hint and "two" in err.hint
    with prepared(path, ref="two", workdir=tmp_path) as prep:
        assert (prep.root / "a").read_bytes() == b"2"


def test_not_an_image(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello" * 1000)
    assert _refused(junk, tmp_path).code == "format"
    with pytest.raises(UsageError):
        open_image(tmp_path / "missing")


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"config": {"Env": "PATH=/bin"}}, "Env"),
        ({"config": {"Cmd": [1, 2]}}, "Cmd"),
        ({"config": {"User": 0}}, "User"),
        ({"config": []}, "config"),
        ([], "object"),
        ({"config": {"Cmd": ["a\0b"]}}, "'Cmd[0]' holds a NUL byte"),
        ({"config": {"Entrypoint": ["sh", "\0"]}}, "'Entrypoint[1]' holds a NUL byte"),
        ({"config": {"WorkingDir": "/a\0b"}}, "'WorkingDir' holds a NUL byte"),
        ({"config": {"Env": ["PATH=/bin\0:/x"]}}, "'Env[0]' holds a NUL byte"),
        ({"config": {"Env": ["A=1", "B\0=1"]}}, "'Env[1]' holds a NUL byte"),
        ({"config": {"User": "app\0"}}, "'User' holds a NUL byte"),
    ],
)
def test_config_types_are_checked(doc: object, field: str) -> None:
    with pytest.raises(ImageError) as info:
        parse_config(json.dumps(doc).encode(), "cfg")
    assert info.value.code == "config"
    assert field in info.value.message


def test_config_defaults() -> None:
    cfg = parse_config(b'{"config": {"Env": ["A=1", "PATH=/x", "junk"]}}', "cfg")
    assert cfg.environment() == {"A": "1", "PATH": "/x"}
    assert parse_config(b"{}", "cfg").environment()["PATH"].startswith("/usr/local/sbin")
    assert cfg.command(("ls",)) == ("ls",)


def test_busybox_entries_are_complete() -> None:
    names = {e.name for e in busybox_entries()}
    assert {"bin/busybox", "bin/sh", "etc/passwd", "tmp"} <= names


def test_gzip_bomb_is_refused_while_verifying(tmp_path: Path) -> None:
    bomb = gzip.compress(bytes(50 << 20), mtime=0)  # 50 MiB of zeros in ~50 KiB
    (tmp_path / "blob").write_bytes(bomb)
    limits = Limits(max_total_bytes=1 << 20, max_entries=16)
    with pytest.raises(ImageError) as info:
        verify_layer(DirStore(tmp_path), LayerRef("blob", media_type="x+gzip"), "w", limits)
    assert info.value.code == "too-large"


def _tar_with_links(dest: Path, files: dict[str, bytes], links: dict[str, str]) -> Path:
    import io
    import tarfile

    with tarfile.open(dest, "w") as tf:
        for rel, data in sorted(files.items()):
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for rel, target in links.items():
            info = tarfile.TarInfo(rel)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return dest


@pytest.mark.parametrize(
    ("target", "ok"),
    [("../first/layer.tar", True), ("../../outside.tar", False), ("/etc/passwd", False)],
)
def test_docker_archive_layer_symlinks(tmp_path: Path, target: str, ok: bool) -> None:
    """Older docker save writes a repeated layer as a symlink to the first copy."""
    layer = layer_tar([Entry("f", data=b"same")])
    files = docker_files([layer, layer], config_doc([layer, layer]))
    manifest = json.loads(files["manifest.json"])
    first, second = manifest[0]["Layers"]
    files["first/layer.tar"] = files.pop(first)
    del files[second]
    manifest[0]["Layers"] = ["first/layer.tar", "second/layer.tar"]
    files["manifest.json"] = json.dumps(manifest).encode()
    path = _tar_with_links(tmp_path / "d.tar", files, {"second/layer.tar": target})
    if ok:
        with prepared(path, workdir=tmp_path) as prep:
            assert (prep.root / "f").read_bytes() == b"same"
    else:
        assert _refused(path, tmp_path).code == "hardlink-escape"
