"""Property tests: whatever bytes or entries an archive holds, the reader gives a result or a
clean ImageError, and nothing outside the target root changes."""

from __future__ import annotations

import gzip
import io
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imagekit import Entry, config_doc, layer_tar, oci_files, snapshot, write_tar

from seccompiler.image import ImageError, prepared
from seccompiler.image.errors import Limits
from seccompiler.image.layer import apply_layer
from seccompiler.image.plan import resolve_in_root

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = Limits(max_entries=200, max_total_bytes=1 << 20, max_file_bytes=1 << 16)

_parts = st.sampled_from(["a", "b", "..", ".", "", "etc", ".wh.a", ".wh..wh..opq", "x" * 300])
_names = st.lists(_parts, min_size=1, max_size=5).map("/".join) | st.sampled_from(
    ["/abs", "/", "./a", "a//b", "../../x"]
)
_targets = _names | st.sampled_from(["/", "/etc/passwd", "../sentinel", "a", "../../../../"])
_entries = st.builds(
    Entry,
    name=_names,
    kind=st.sampled_from(["file", "dir", "symlink", "hardlink", "chr", "fifo"]),
    data=st.binary(max_size=64),
    mode=st.sampled_from([0o644, 0o755, 0o4755, 0o000, 0o1777]),
    target=_targets,
)


def _check(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outer = Path(tmp)
        root = outer / "root"
        root.mkdir()
        (outer / "sentinel").write_text("x")
        (outer / "etc").mkdir()
        before = snapshot(outer, root)
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            apply_layer(io.BytesIO(data), fd, where="fuzz", limits=LIMITS)
        except ImageError as err:
            assert err.code and err.location is not None
        finally:
            os.close(fd)
        assert snapshot(outer, root) == before


@SETTINGS
@given(st.lists(_entries, max_size=12), st.booleans())
def test_random_entries(entries: list[Entry], compress: bool) -> None:
    _check(layer_tar(entries, compress=compress))


_SEED = layer_tar(
    [
        Entry("d", "dir"),
        Entry("d/f", data=b"hello" * 50),
        Entry("d/s", "symlink", target="f"),
        Entry("d/h", "hardlink", target="d/f"),
        Entry("d/.wh.s", data=b""),
    ]
)


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.integers(0, 255)), max_size=8),
    st.integers(0, len(_SEED)),
    st.booleans(),
)
def test_mutated_tar(flips: list[tuple[int, int]], cut: int, compress: bool) -> None:
    data = bytearray(_SEED)
    for pos, value in flips:
        data[pos] = value
    raw = bytes(data[:cut])
    _check(gzip.compress(raw) if compress else raw)


@SETTINGS
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    _check(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 30 * 512), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_image_tar(flips: list[tuple[int, int]]) -> None:
    layers = [layer_tar([Entry("a", data=b"a" * 100)])]
    files = oci_files(layers, config_doc(layers))
    with tempfile.TemporaryDirectory() as tmp:
        whole = bytearray(write_tar(Path(tmp) / "img.tar", files).read_bytes())
        for pos, value in flips:
            whole[pos % len(whole)] = value
        path = Path(tmp) / "img.tar"
        path.write_bytes(bytes(whole))
        work = Path(tmp) / "work"
        work.mkdir()
        try:
            with prepared(path, workdir=work) as prep:
                assert prep.root.is_dir()
        except ImageError as err:
            assert err.code
        assert list(work.iterdir()) == []


_link_targets = st.sampled_from(
    [
        "/",
        "..",
        "../..",
        "a",
        "/a/b",
        "../../../etc",
        "b/../..",
        "x",
        "/proc/self/root",
        "a/b/c",
        ".",
    ]
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["a/l1", "a/b/l2", "l3", "a/b/c"]), _link_targets), max_size=4
    ),
    st.sampled_from(["l3/x", "/a/l1/b", "a/b/l2/c", "/a/b/c", "../../l3", "a/../../etc"]),
)
def test_resolving_inside_a_root_never_leaves_it(links: list[tuple[str, str]], path: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        (root / "a" / "b").mkdir(parents=True)
        for name, target in links:
            p = root / name
            if not p.exists() and not p.is_symlink():
                p.symlink_to(target)
        got = resolve_in_root(root, path)
        if got is not None:
            assert got.startswith("/")
            host = root.joinpath(*[p for p in got.split("/") if p])
            assert host == root or root in host.parents
            assert not any(q.is_symlink() for q in [host, *host.parents] if root in q.parents)
