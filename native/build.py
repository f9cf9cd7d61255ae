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

# The cffi declarations: the C side is native/native.c, compiled into the module.
CDEF = """
struct sc_notif {
    uint64_t id;
    uint32_t pid;
    uint32_t flags;
    int32_t nr;
    uint32_t arch;
    uint64_t ip;
    uint64_t args[6];
};
long sc_install_filter(const unsigned char *prog, size_t len, unsigned long flags);
long sc_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
long sc_syscall_i386(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
long sc_syscall_x32(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
long sc_notif_recv(int fd, struct sc_notif *out);
long sc_notif_send(int fd, uint64_t id, int64_t val, int32_t error, uint32_t flags);
long sc_notif_id_valid(int fd, uint64_t id);
"""

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
