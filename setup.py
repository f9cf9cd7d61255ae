"""The package build: the cffi module and the static probe and launcher go into the wheel.

Metadata lives in pyproject.toml; this file only adds the native parts (native/build.py),
so ``pip install .`` and ``pip wheel .`` give an install that can run ``test`` and ``run``.
Without a C compiler the build stops with one line saying what to install.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _native():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "_seccompiler_native_build", HERE / "native" / "build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithExecutables(build_py):
    """Also compile the probe and the launcher into the built package's ``_bin/``."""

    def run(self) -> None:
        super().run()
        native = _native()
        native.build_executables(Path(self.build_lib) / "seccompiler" / "_bin", force=True)


_native().require_compiler()
setup(cffi_modules=["native/build.py:ffi"], cmdclass={"build_py": BuildPyWithExecutables})
