"""Replacing a directory whole, by path and under a root: the same steps, the same outcomes.

Both ways are checked with and without renameat2(RENAME_EXCHANGE), since a kernel or libc
without it takes the rename-aside path, which the rest of the suite does not reach here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from seccompiler.base import dirswap
from seccompiler.base.fsio import replace_tree
from seccompiler.base.inroot import RootDir

OLD = {"a.txt": b"old\n", "sub/gone.txt": b"gone\n"}
NEW = {"a.txt": b"new\n", "sub/b/c.txt": b"c\n"}

Replace = Callable[[Path, Mapping[str, bytes]], None]


def _by_path(top: Path, files: Mapping[str, bytes]) -> None:
    replace_tree(top / "out", files, lambda d: (d / "a.txt").exists())


def _under_root(top: Path, files: Mapping[str, bytes]) -> None:
    with RootDir(top) as root:
        root.replace_tree("/out", files, lambda fd: True)


def _tree(top: Path) -> dict[str, bytes]:
    return {str(p.relative_to(top)): p.read_bytes() for p in top.rglob("*") if p.is_file()}


@pytest.fixture(params=[True, False], ids=["exchange", "rename-aside"])
def swap_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if not request.param:
        monkeypatch.setattr(dirswap, "exchange", lambda *a: False)


@pytest.mark.parametrize("replace", [_by_path, _under_root], ids=["path", "root"])
@pytest.mark.usefixtures("swap_kind")
def test_the_new_tree_replaces_the_old_and_nothing_is_left_beside(
    tmp_path: Path, replace: Replace
) -> None:
    replace(tmp_path, OLD)
    replace(tmp_path, NEW)
    assert _tree(tmp_path / "out") == NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("replace", [_by_path, _under_root], ids=["path", "root"])
@pytest.mark.usefixtures("swap_kind")
def test_a_failed_fill_leaves_the_old_tree_whole(tmp_path: Path, replace: Replace) -> None:
    replace(tmp_path, OLD)
    with pytest.raises(ValueError):
        replace(tmp_path, {"a.txt": b"new\n", "../escape.txt": b"x\n"})
    assert _tree(tmp_path / "out") == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
