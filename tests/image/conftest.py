from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


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


@pytest.fixture
def jail(tmp_path: Path) -> Iterator[Jail]:
    outer = tmp_path / "outer"
    root = outer / "root"
    root.mkdir(parents=True)
    (outer / "sentinel").write_text("do not touch\n")
    (outer / "secret").mkdir()
    (outer / "secret" / "file").write_text("secret\n")
    (outer / "etc").mkdir()
    (outer / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\n")
    before = snapshot(outer, root)
    yield Jail(outer, root)
    assert snapshot(outer, root) == before, "something was written outside the target root"
