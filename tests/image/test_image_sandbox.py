"""The per-run view: changes are forgotten, /proc and a minimal /dev are there."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from seccompiler.image import sandbox
from seccompiler.image.sandbox import run_view


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "motd").write_text("hello\n")
    return root


@pytest.mark.parametrize("overlay", [True, False])
def test_changes_are_forgotten(
    tmp_path: Path, overlay: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not overlay:
        monkeypatch.setattr(sandbox, "_mount_overlay", lambda *a: False)
    root = _root(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    with run_view(root, workdir=work) as view:
        assert (view / "etc" / "motd").read_text() == "hello\n"
        (view / "etc" / "motd").write_text("changed\n")
        (view / "new").write_text("x")
        assert (view / "proc").is_dir()
        assert os.readlink(view / "dev" / "fd") == "/proc/self/fd"
        if os.geteuid() == 0:
            st = (view / "dev" / "null").stat()
            assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1
    assert (root / "etc" / "motd").read_text() == "hello\n"
    assert sorted(p.name for p in root.iterdir()) == ["etc"]
    assert list(work.iterdir()) == []


def test_image_dev_symlink_is_left_alone(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "dev").symlink_to("/")
    with run_view(root, workdir=tmp_path) as view:
        assert os.readlink(view / "dev") == "/"
        assert not (view / "null").exists()
