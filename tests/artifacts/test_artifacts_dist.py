"""dist/ as a whole: drift detection and installation into a node image root."""

from __future__ import annotations

from pathlib import Path

import pytest

from seccompiler.base.errors import UsageError
from seccompiler.base.fsio import replace_tree
from seccompiler.platform.artifacts import dist

FILES = {
    "MANIFEST.json": b"{}\n",
    "cluster/x.yaml": b"kind: X\n",
    "node/etc/sysctl.d/60-keisson-yama.conf": b"kernel.yama.ptrace_scope = 1\n",
    "node/var/lib/kubelet/seccomp/keisson/default.json": b'{"defaultAction": "A"}\n',
    "node/var/lib/kubelet/seccomp/keisson/web.json": b'{"defaultAction": "B"}\n',
}


def built(tmp_path: Path) -> Path:
    out = tmp_path / "dist"
    replace_tree(out, FILES)
    return out


def test_up_to_date_tree_has_no_differences(tmp_path: Path) -> None:
    assert dist.compare(built(tmp_path), FILES) == []


EDITS = [
    ("cluster/x.yaml", b"kind: Y\n", "changed"),
    ("cluster/x.yaml", b"kind: X\n\n", "changed"),
    ("cluster/extra.yaml", b"", "unexpected"),
    ("MANIFEST.json", None, "missing"),
]


@pytest.mark.parametrize(("path", "content", "kind"), EDITS)
def test_hand_edits_are_reported(
    tmp_path: Path, path: str, content: bytes | None, kind: str
) -> None:
    out = built(tmp_path)
    if content is None:
        (out / path).unlink()
    else:
        (out / path).write_bytes(content)
    assert dist.compare(out, FILES) == [dist.Difference(path, kind)]
    assert str(dist.compare(out, FILES)[0]) == f"{kind}: {path}"


def test_partial_compare_ignores_other_files(tmp_path: Path) -> None:
    out = built(tmp_path)
    (out / "unrelated").write_text("x")
    assert dist.compare_in_root(out, FILES) == []
    (out / "cluster/x.yaml").unlink()
    assert dist.compare_in_root(out, FILES) == [dist.Difference("cluster/x.yaml", "missing")]


def test_missing_dist_reports_everything_missing(tmp_path: Path) -> None:
    diffs = dist.compare(tmp_path / "nope", FILES)
    assert {d.kind for d in diffs} == {"missing"}
    assert len(diffs) == len(FILES)


def test_node_files_are_keyed_by_real_path() -> None:
    assert sorted(dist.node_files(FILES)) == [
        "/etc/sysctl.d/60-keisson-yama.conf",
        "/var/lib/kubelet/seccomp/keisson/default.json",
        "/var/lib/kubelet/seccomp/keisson/web.json",
    ]


def test_install_into_image_root(tmp_path: Path) -> None:
    root = tmp_path / "img"
    seccomp = root / "var/lib/kubelet/seccomp"
    (seccomp / "keisson").mkdir(parents=True)
    (seccomp / "keisson/stale.json").write_text("{}")
    (seccomp / "other.json").write_text("{}")  # not ours: left alone
    (root / "etc/sysctl.d").mkdir(parents=True)
    (root / "etc/sysctl.d/99-local.conf").write_text("vm.swappiness = 1\n")
    written = dist.install(FILES, root)
    assert written == sorted(dist.node_files(FILES))
    for path, data in dist.node_files(FILES).items():
        assert (root / path.lstrip("/")).read_bytes() == data
    assert not (seccomp / "keisson/stale.json").exists()
    assert (seccomp / "other.json").exists()
    assert (root / "etc/sysctl.d/99-local.conf").exists()
    assert not list(root.rglob(".*"))  # no staging leftovers
    assert not (root / "cluster").exists()


def test_install_needs_an_existing_root(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        dist.install(FILES, tmp_path / "missing")


def test_timings_accumulate() -> None:
    t = dist.Timings()
    with t.stage("a"):
        pass
    with t.stage("a"):
        pass
    with t.stage("b"):
        pass
    assert list(t.stages) == ["a", "b"]
    assert t.total == pytest.approx(sum(t.stages.values()))
