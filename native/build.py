"""Build the native parts: the cffi module ``seccompiler._native`` and the probe and launcher.

Used two ways. The package build (``setup.py``: ``pip install .``, ``pip wheel .``) takes
``ffi`` for the extension module and calls ``build_executables`` to put the probe and the
launcher into the package (``seccompiler/_bin/``). ``make setup`` runs this file directly to
build both in place for a development checkout; outputs are rebuilt only when a source
(``native/*.c``, ``native/*.h``, this file) is newer, so a second run is instant.
The probe and launcher are linked statically: the probe runs inside minimal container root
filesystems, and neither should depend on the libraries of the image it is pointed at.
``CC`` names the compiler (``aarch64-linux-gnu-gcc`` for a cross build, see ``--check-only``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = ROOT / "seccompiler" / "_bin"
WORK = HERE / "out"
CFLAGS = ["-O2", "-Wall", "-Wextra"]
# x86_64 only: the int 0x80 path pushes below the stack pointer, so no red zone there.
X86_CFLAGS = ["-mno-red-zone"]
MISSING_CC = (
    "cannot build seccompiler's native parts: no C compiler '{cc}' with a static C library;"
    " install one (Debian: apt-get install gcc libc6-dev) and retry"
)

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


def compiler() -> str:
    return os.environ.get("CC", "gcc")


def cflags(cc: str | None = None) -> list[str]:
    """Flags for ``cc``, with the x86_64-only ones when it targets x86_64."""
    target = subprocess.run(
        [cc or compiler(), "-dumpmachine"], capture_output=True, text=True, check=False
    ).stdout
    return [*CFLAGS, *(X86_CFLAGS if target.startswith("x86_64") else [])]


def require_compiler(cc: str | None = None) -> None:
    """Stop with one line saying what to install when no C compiler can be run."""
    cc = cc or compiler()
    if shutil.which(cc) is None:
        sys.exit("error: " + MISSING_CC.format(cc=cc))


def build_executables(out: Path = BIN, *, cc: str | None = None, force: bool = False) -> None:
    """Compile and statically link the probe and the launcher into ``out``."""
    cc = cc or compiler()
    require_compiler(cc)
    out.mkdir(parents=True, exist_ok=True)
    deps = _sources()
    flags = cflags(cc)
    for name, src in EXECUTABLES.items():
        target = out / name
        if force or _stale(target, deps):
            cmd = [cc, *flags, "-static", "-o", str(target), str(HERE / src)]
            if subprocess.run(cmd, check=False).returncode != 0:
                sys.exit(f"error: {MISSING_CC.format(cc=cc)} (compiling {src} failed)")


def module_path() -> Path:
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    return ROOT / "seccompiler" / f"_native{suffix}"


def make_ffi() -> object:
    """The cffi builder of ``seccompiler._native`` (C side: native/native.c)."""
    from cffi import FFI

    builder = FFI()
    builder.cdef(CDEF)
    builder.set_source(
        "seccompiler._native",
        (HERE / "native.c").read_text(),
        include_dirs=[str(HERE)],
        extra_compile_args=cflags(),
    )
    return builder


def build_module() -> None:
    target = module_path()
    if not _stale(target, _sources()):
        return
    require_compiler()
    work = WORK / "cffi"
    work.mkdir(parents=True, exist_ok=True)
    built = Path(make_ffi().compile(tmpdir=str(work), verbose=False))  # type: ignore[attr-defined]
    shutil.copy2(built, target)
    target.touch()


def check_only(cc: str) -> int:
    """Compile every C source with ``cc`` (a cross compiler) without Python: proof it builds."""
    require_compiler(cc)
    out = WORK / cc
    out.mkdir(parents=True, exist_ok=True)
    flags = [*cflags(cc), "-Werror"]
    obj = [cc, *flags, "-c", "-o", str(out / "native.o"), str(HERE / "native.c")]
    if subprocess.run(obj, check=False).returncode != 0:
        return 1
    build_executables(out, cc=cc, force=True)
    print(f"built native.o, {', '.join(EXECUTABLES)} with {cc} into {out}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--check-only"]:
        return check_only(argv[1] if len(argv) > 1 else compiler())
    build_executables()
    build_module()
    return 0


if __name__ != "__main__":  # loaded by setup.py's cffi_modules: it takes this object
    ffi = make_ffi()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
