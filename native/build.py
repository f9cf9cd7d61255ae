"""Build the native parts: the cffi module ``seccompiler._native`` and the probe and launcher.

Run by ``make setup`` as ``.venv/bin/python native/build.py``. Outputs are rebuilt only when
a source (``native/*.c``, ``native/*.h``, this file) is newer, so a second run is instant.
The probe and launcher are linked statically: the probe runs inside minimal container root
filesystems, and neither should depend on the libraries of the image it is pointed at.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
CFLAGS = ["-O2", "-Wall", "-Wextra", "-mno-red-zone"]  # inline asm pushes below the stack

# The cffi declarations: the same header native/native.c includes, so one layout for both.
CDEF = (HERE / "native.h").read_text()

EXECUTABLES = {"seccompiler-probe": "probe.c", "seccompiler-launch": "launch.c"}


def _sources() -> list[Path]:
    return [*HERE.glob("*.c"), *HERE.glob("*.h"), Path(__file__).resolve()]


def _stale(target: Path, deps: list[Path]) -> bool:
    if not target.exists():
        return True
    built = target.stat().st_mtime
    return any(d.stat().st_mtime > built for d in deps)


def build_executables() -> None:
    OUT.mkdir(exist_ok=True)
    deps = _sources()
    for name, src in EXECUTABLES.items():
        target = OUT / name
        if _stale(target, deps):
            cmd = ["gcc", *CFLAGS, "-static", "-o", str(target), str(HERE / src)]
            subprocess.run(cmd, check=True)


def module_path() -> Path:
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    return ROOT / "seccompiler" / f"_native{suffix}"


def build_module() -> None:
    target = module_path()
    if not _stale(target, _sources()):
        return
    from cffi import FFI

    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source(
        "seccompiler._native",
        (HERE / "native.c").read_text(),
        include_dirs=[str(HERE)],
        extra_compile_args=CFLAGS,
    )
    work = OUT / "cffi"
    work.mkdir(parents=True, exist_ok=True)
    built = Path(ffi.compile(tmpdir=str(work), verbose=False))
    shutil.copy2(built, target)
    target.touch()


def main() -> int:
    build_executables()
    build_module()
    return 0


if __name__ == "__main__":
    sys.exit(main())
