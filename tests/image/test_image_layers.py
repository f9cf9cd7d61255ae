"""Layer application: hostile entries are refused or neutralised; whiteouts work as specified.

The ``jail`` fixture asserts after every test that nothing outside the target root changed.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from imagekit import Entry, Jail, layer_tar

from seccompiler.image.errors import Budget, ImageError, Limits
from seccompiler.image.layer import LayerReport, apply_layer


def apply(jail: Jail, *layers: bytes, limits: Limits | None = None) -> LayerReport:
    report = LayerReport()
    budget = Budget()
    fd = jail.fd()
    try:
        for i, data in enumerate(layers, 1):
            apply_layer(
                io.BytesIO(data),
                fd,
                where=f"test[layer {i}]",
                limits=limits,
                budget=budget,
                report=report,
            )
    finally:
        os.close(fd)
    return report


def refused(jail: Jail, *layers: bytes, limits: Limits | None = None) -> ImageError:
    with pytest.raises(ImageError) as info:
        apply(jail, *layers, limits=limits)
    assert info.value.location is not None
    assert info.value.location.path.startswith("test[layer")
    return info.value


HOSTILE = [
    # (entries, code, member)
    ([Entry("../evil", data=b"x")], "path-traversal", "../evil"),
    ([Entry("a/../../evil", data=b"x")], "path-traversal", "a/../../evil"),
    ([Entry("/evil", data=b"x")], "absolute-path", "/evil"),
    ([Entry("/etc/passwd", data=b"x")], "absolute-path", "/etc/passwd"),
    ([Entry("up", "symlink", target="../sentinel")], "symlink-escape", "up"),
    ([Entry("a/b/up", "symlink", target="../../../secret")], "symlink-escape", "a/b/up"),
    # an absolute symlink is fine in itself (the chroot resolves it), but never followed:
    (
        [Entry("out", "symlink", target="/"), Entry("out/evil", data=b"x")],
        "symlink-parent",
        "out/evil",
    ),
    (
        [Entry("d", "dir"), Entry("in", "symlink", target="d"), Entry("in/x", data=b"x")],
        "symlink-parent",
        "in/x",
    ),
    ([Entry("f", data=b"x"), Entry("f/x", data=b"y")], "symlink-parent", "f/x"),
    ([Entry("h", "hardlink", target="../sentinel")], "hardlink-escape", "h"),
    ([Entry("h", "hardlink", target="/etc/passwd")], "hardlink-escape", "h"),
    ([Entry("h", "hardlink", target="missing")], "hardlink-escape", "h"),
    ([Entry("d", "dir"), Entry("h", "hardlink", target="d")], "hardlink-escape", "h"),
    (
        [Entry("s", "symlink", target="/"), Entry("h", "hardlink", target="s/etc/passwd")],
        "symlink-parent",
        "h",
    ),
    ([Entry("x" * 256, data=b"x")], "name-too-long", "x" * 256),
    ([Entry("/".join(["d"] * 200), data=b"x")], "too-many", "/".join(["d"] * 200)),
]


@pytest.mark.parametrize(("entries", "code", "member"), HOSTILE)
def test_hostile_entries_are_refused(
    jail: Jail, entries: list[Entry], code: str, member: str
) -> None:
    err = refused(jail, layer_tar(entries))
    assert (err.code, err.member) == (code, member)


def test_symlink_at_leaf_is_replaced_not_followed(jail: Jail) -> None:
    apply(
        jail,
        layer_tar([Entry("p", "symlink", target=str(jail.outer / "sentinel"))]),
        layer_tar([Entry("p", data=b"overwritten")]),
    )
    assert (jail.root / "p").read_bytes() == b"overwritten"
    assert not (jail.root / "p").is_symlink()


def test_hardlink_to_a_symlink_links_the_symlink(jail: Jail) -> None:
    apply(
        jail,
        layer_tar(
            [
                Entry("s", "symlink", target=str(jail.outer / "sentinel")),
                Entry("h", "hardlink", target="s"),
            ]
        ),
    )
    assert os.readlink(jail.root / "h") == str(jail.outer / "sentinel")


def test_hardlink_inside_the_root_works(jail: Jail) -> None:
    apply(jail, layer_tar([Entry("a/f", data=b"same"), Entry("b/g", "hardlink", target="a/f")]))
    assert (jail.root / "a/f").stat().st_ino == (jail.root / "b/g").stat().st_ino


@pytest.mark.parametrize(
    ("limits", "entries", "code"),
    [
        (Limits(max_file_bytes=10), [Entry("f", data=b"x" * 11)], "too-large"),
        (
            Limits(max_total_bytes=10),
            [Entry("f", data=b"x" * 6), Entry("g", data=b"x" * 6)],
            "too-large",
        ),
        (Limits(max_entries=3), [Entry(f"f{i}", data=b"") for i in range(4)], "too-many"),
        (Limits(max_path_bytes=20), [Entry("a" * 21, data=b"")], "name-too-long"),
    ],
)
def test_absurd_sizes_and_counts(
    jail: Jail, limits: Limits, entries: list[Entry], code: str
) -> None:
    assert refused(jail, layer_tar(entries), limits=limits).code == code


def test_limits_count_over_all_layers(jail: Jail) -> None:
    one = layer_tar([Entry("a", data=b""), Entry("b", data=b"")])
    assert refused(jail, one, one, limits=Limits(max_entries=3)).code == "too-many"


@pytest.mark.parametrize(
    ("kind", "what"), [("chr", "device node"), ("blk", "device node"), ("fifo", "FIFO")]
)
def test_device_nodes_and_fifos_are_skipped(jail: Jail, kind: str, what: str) -> None:
    report = apply(jail, layer_tar([Entry("dev/node", kind, mode=0o666)]))
    assert not (jail.root / "dev/node").exists()
    assert any("dev/node" in n and what in n for n in report.notes)


def test_setuid_and_setgid_bits_are_cleared(jail: Jail) -> None:
    report = apply(
        jail,
        layer_tar([Entry("bin/su", data=b"#!", mode=0o6755), Entry("shared", "dir", mode=0o3775)]),
    )
    assert stat.S_IMODE((jail.root / "bin/su").stat().st_mode) == 0o755
    assert stat.S_IMODE((jail.root / "shared").stat().st_mode) == 0o1775
    assert sum("setuid/setgid" in n for n in report.notes) == 2


def test_truncated_tar_is_refused_at_every_cut(jail: Jail) -> None:
    data = layer_tar([Entry("a", data=b"x" * 3000), Entry("b", data=b"y" * 100)])
    end = 512 + 3072 + 512 + 512  # two headers and their padded data: where the end blocks begin
    assert data[end : end + 1024] == bytes(1024)
    for cut in (100, 512, 1024, 2000, 3584, 3700, 4096, 4400, end):
        err = refused(jail, data[:cut])
        assert err.code in ("truncated", "corrupt"), (cut, err)


def test_truncated_gzip_layer_is_refused(jail: Jail) -> None:
    data = layer_tar([Entry("a", data=os.urandom(5000))], compress=True)
    assert refused(jail, data[: len(data) // 2]).code == "truncated"


@pytest.mark.parametrize("data", [b"", b"not a tar at all" * 40, b"\x1f\x8b" + b"\0" * 600])
def test_garbage_is_refused(jail: Jail, data: bytes) -> None:
    assert refused(jail, data).code in ("corrupt", "truncated")


def test_empty_layer_is_fine(jail: Jail) -> None:
    assert apply(jail, layer_tar([])).entries == 0


def test_unknown_entry_type_is_refused(jail: Jail) -> None:
    data = bytearray(layer_tar([Entry("odd", data=b"")]))
    # find the ustar header of "odd" (after the pax header) and retype it as 'Z'
    pos = data.index(b"odd\0")
    header = pos - pos % 512
    data[header + 156] = ord("Z")
    chk = sum(data[header : header + 148]) + 8 * 32 + sum(data[header + 156 : header + 512])
    data[header + 148 : header + 156] = b"%06o\0 " % chk
    assert refused(jail, bytes(data)).code == "entry-type"


# ---------------------------------------------------------------- whiteouts (OCI image-spec)


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_whiteouts_delete_from_lower_layers(jail: Jail) -> None:
    lower = layer_tar(
        [
            Entry("a/one", data=b"1"),
            Entry("a/two", data=b"2"),
            Entry("b/x", data=b"x"),
            Entry("b/sub/y", data=b"y"),
            Entry("c", data=b"c"),
            Entry("gone/deep/z", data=b"z"),
        ]
    )
    upper = layer_tar(
        [
            Entry("a/.wh.one", data=b""),
            Entry(".wh.c", data=b""),
            Entry("b/.wh..wh..opq", data=b""),
            Entry("b/new", data=b"n"),
            Entry(".wh.gone", data=b""),
            Entry(".wh.never-existed", data=b""),
        ]
    )
    apply(jail, lower, upper)
    assert tree(jail.root) == {"a", "a/two", "b", "b/new"}


def test_whiteouts_never_hide_their_own_layer(jail: Jail) -> None:
    lower = layer_tar([Entry("d/old", data=b"o"), Entry("e/old", data=b"o")])
    upper = layer_tar(
        [
            Entry("d/keep", data=b"k"),
            Entry("d/.wh.keep", data=b""),
            Entry("d/.wh..wh..opq", data=b""),
            Entry("e/.wh..wh..opq", data=b""),
            Entry("e/sub/new", data=b"n"),
        ]
    )
    apply(jail, lower, upper)
    assert tree(jail.root) == {"d", "d/keep", "e", "e/sub", "e/sub/new"}


def test_opaque_directory_keeps_nested_entries_of_its_layer(jail: Jail) -> None:
    lower = layer_tar([Entry("d/sub/old", data=b"o"), Entry("d/top", data=b"t")])
    upper = layer_tar([Entry("d/sub/new", data=b"n"), Entry("d/.wh..wh..opq", data=b"")])
    apply(jail, lower, upper)
    assert tree(jail.root) == {"d", "d/sub", "d/sub/new"}


def test_whiteout_removes_a_symlink_not_its_target(jail: Jail) -> None:
    lower = layer_tar([Entry("s", "symlink", target=str(jail.outer / "secret"))])
    apply(jail, lower, layer_tar([Entry(".wh.s", data=b"")]))
    assert tree(jail.root) == set()
    assert (jail.outer / "secret" / "file").exists()


def test_opaque_marker_below_a_symlink_is_refused(jail: Jail) -> None:
    lower = layer_tar([Entry("s", "symlink", target=str(jail.outer / "secret"))])
    err = refused(jail, lower, layer_tar([Entry("s/.wh..wh..opq", data=b"")]))
    assert err.code == "symlink-parent"


def test_replacing_a_directory_with_a_file_and_back(jail: Jail) -> None:
    apply(
        jail,
        layer_tar([Entry("x/y", data=b"y")]),
        layer_tar([Entry("x", data=b"file")]),
        layer_tar([Entry("x", "dir", mode=0o700)]),
    )
    assert (jail.root / "x").is_dir()
    assert stat.S_IMODE((jail.root / "x").stat().st_mode) == 0o700


def test_owners_and_modes_are_applied(jail: Jail) -> None:
    apply(
        jail,
        layer_tar(
            [
                Entry("home/app", "dir", mode=0o750, uid=1000, gid=1000),
                Entry("home/app/f", data=b"x", mode=0o600, uid=1000, gid=1000),
            ]
        ),
    )
    st = (jail.root / "home/app/f").stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (1000, 1000)
    assert stat.S_IMODE((jail.root / "home/app").stat().st_mode) == 0o750


def test_corrupt_header_mid_archive_is_refused(jail: Jail) -> None:
    data = bytearray(layer_tar([Entry("a", data=b"x" * 10), Entry("b", data=b"y")]))
    data[1024 + 150] ^= 0xFF  # break the second header's checksum field
    err = refused(jail, bytes(data))
    assert err.code == "corrupt"
    assert "offset 1024" in err.message
