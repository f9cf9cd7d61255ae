"""The package build: the cffi module and the static probe and launcher go into the wheel,
and the native front becomes the ``seccompiler`` command.

Metadata lives in pyproject.toml; this file only adds the native parts (native/build.py),
so ``pip install .`` and ``pip wheel .`` give an install that can run ``test`` and ``run``.
Without a C compiler the build stops with one line saying what to install.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

# setuptools has no build_scripts of its own: the one it runs (distutils')
build_scripts = Distribution().get_command_class("build_scripts")

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


class BuildScriptsWithFront(build_scripts):
    """The ``seccompiler`` command is the native front (native/front.c), compiled here; it
    hands all but a repeated ``run`` to the ``seccompiler-py`` entry point beside it."""

    def copy_scripts(self) -> tuple[list[str], list[str]]:
        target = Path(self.build_dir) / "seccompiler"
        _native().build_front(target)
        target.chmod(0o755)
        return [str(target)], []


_native().require_compiler()
setup(
    cffi_modules=["native/build.py:ffi"],
    scripts=["native/front.c"],  # compiled into the command ``seccompiler`` (above)
    cmdclass={"build_py": BuildPyWithExecutables, "build_scripts": BuildScriptsWithFront},
)
