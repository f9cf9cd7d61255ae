"""Build the static syscall caller the live tests run under real filters."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def sc_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sc") / "sc"
    cc = shutil.which("gcc") or shutil.which("cc")
    assert cc, "a C compiler is needed for the live tests"
    subprocess.run([cc, "-static", "-O1", "-o", str(out), str(HERE / "sc.c")], check=True)
    return out
