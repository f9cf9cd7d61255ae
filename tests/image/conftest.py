"""Fixtures of the image tests; helpers live in imagekit.py (put on sys.path here, since the
suite imports test modules by path)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from imagekit import Jail, snapshot


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
