"""Build the native parts: the cffi module ``seccompiler._native``, the probe, the launcher
and the installed command's front.

Used two ways. The package build (``setup.py``: ``pip install .``, ``pip wheel .``) takes
``ffi`` for the extension module, calls ``build_executables`` to put the probe and the
launcher into the package (``seccompiler/_bin/``) and ``build_front`` for the ``seccompiler``
command itself (native/front.c). ``make setup`` runs this file directly to
build both in place for a development checkout; outputs are rebuilt only when a source
(``native/*.c``, ``native/*.h``, this file) is newer, so a second run is instant.
The probe and launcher are linked statically: the probe runs inside minimal container root
filesystems, and neither should depend on the libraries of the image it is pointed at.
``CC`` names the compiler, words allowed (``aarch64-linux-gnu-gcc`` or
``clang --target=aarch64-linux-gnu`` for a cross build, see ``--check-only``).

On an aarch64 host a second probe, ``seccompiler-probe-arm``, is built for the 32-bit arm
(AArch32) ABI, which a 64-bit process cannot enter: with ``ARM_CC`` when set, else the first
of ``ARM_COMPILERS`` that works. Without one, the install has no arm probe and
``seccompiler test`` says so instead of probing arm.

``--check-only CC [OUT]`` compiles every C file with ``CC`` and ``-Werror`` and links the
static executables into OUT (default ``native/out/<target>``), without Python: proof that the
C builds for that target. native.c is compiled
on its own there (it includes native.h, so its definitions are checked against the cffi
declarations); the glue cffi wraps around it needs the *target's* Python.h and pyconfig.h
(Debian's is per architecture), which a cross build does not have, and it is cffi's
generated, target-independent code.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = ROOT / "seccompiler" / "_bin"
WORK = HERE / "out"
# -ffp-contract=off: no fused multiply-add, so the planner's arithmetic (plan.h) is Python's
CFLAGS = ["-O2", "-Wall", "-Wextra", "-ffp-contract=off"]
# x86_64 only: the int 0x80 path pushes below the stack pointer, so no red zone there.
X86_CFLAGS = ["-mno-red-zone"]
# 32-bit arm: ARM state, since Thumb code keeps its frame pointer in r7, the syscall number's
# register (native/sc_raw.h).
ARM_CFLAGS = ["-marm"]
# Compilers for the 32-bit arm probe, tried in order (Debian: gcc-arm-linux-gnueabihf, or
# clang with libc6-dev-armhf-cross; the gcc cross packages conflict with gcc-multilib).
ARM_COMPILERS = ("arm-linux-gnueabihf-gcc", "clang --target=arm-linux-gnueabihf")
MISSING_CC = (
    "cannot build seccompiler's native parts: no C compiler '{cc}' with a static C library;"
    " install one (Debian: apt-get install gcc libc6-dev) and retry"
)

# The cffi declarations: the same header native/native.c includes, so one layout for both.
CDEF = (HERE / "native.h").read_text()

EXECUTABLES = {
    "seccompiler-probe": "probe.c",
    "seccompiler-launch": "launch.c",
    # the installed command (setup.py installs it as ``seccompiler``); kept here too for the
    # tests and benchmarks of a development checkout
    "seccompiler-front": "front.c",
}
FRONT = "seccompiler-front"
ARM_PROBE = "seccompiler-probe-arm"


def _sources() -> list[Path]:
    return [*HERE.glob("*.c"), *HERE.glob("*.h"), Path(__file__).resolve()]


def _stale(target: Path, deps: list[Path]) -> bool:
    if not target.exists():
        return True
    built = target.stat().st_mtime
    return any(d.stat().st_mtime > built for d in deps)


def compiler() -> str:
    return os.environ.get("CC", "gcc")


def _words(cc: str) -> list[str]:
    return shlex.split(cc)


def target(cc: str | None = None) -> str:
    """The machine ``cc`` compiles for (``-dumpmachine``), '' when it cannot be run."""
    try:
        done = subprocess.run(
            [*_words(cc or compiler()), "-dumpmachine"], capture_output=True, text=True, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def cflags(cc: str | None = None) -> list[str]:
    """Flags for ``cc``, with the x86_64-only or arm-only ones when it targets those."""
    machine = target(cc)
    if machine.startswith("x86_64"):
        return [*CFLAGS, *X86_CFLAGS]
    if machine.startswith("arm"):
        return [*CFLAGS, *ARM_CFLAGS]
    return list(CFLAGS)


def usable(cc: str) -> bool:
    """Whether ``cc`` can be run (its first word is on PATH)."""
    words = _words(cc)
    return bool(words) and shutil.which(words[0]) is not None


def require_compiler(cc: str | None = None) -> None:
    """Stop with one line saying what to install when no C compiler can be run."""
    cc = cc or compiler()
    if not usable(cc):
        sys.exit("error: " + MISSING_CC.format(cc=cc))


def _link(cc: str, flags: list[str], src: str, target_path: Path) -> None:
    cmd = [*_words(cc), *flags, "-static", "-o", str(target_path), str(HERE / src)]
    if subprocess.run(cmd, check=False).returncode != 0:
        sys.exit(f"error: {MISSING_CC.format(cc=cc)} (compiling {src} failed)")


def arm_compiler() -> str | None:
    """The compiler for the 32-bit arm probe: ``ARM_CC``, else the first usable one."""
    chosen = os.environ.get("ARM_CC")
    if chosen:
        return chosen
    return next((c for c in ARM_COMPILERS if usable(c) and target(c).startswith("arm")), None)


def build_executables(
    out: Path = BIN, *, cc: str | None = None, force: bool = False, extra: list[str] | None = None
) -> None:
    """Compile and statically link the probe and the launcher into ``out``.

    For an aarch64 ``cc`` also the 32-bit arm probe, when an arm compiler is present.
    """
    cc = cc or compiler()
    require_compiler(cc)
    out.mkdir(parents=True, exist_ok=True)
    deps = _sources()
    flags = [*cflags(cc), *(extra or [])]
    for name, src in EXECUTABLES.items():
        if force or _stale(out / name, deps):
            _link(cc, flags, src, out / name)
    if not target(cc).startswith("aarch64"):
        return
    arm = arm_compiler()
    if arm is None:
        print(
            f"note: no 32-bit arm compiler ({' or '.join(ARM_COMPILERS)}): building without"
            f" {ARM_PROBE}, so the arm ABI will not be probed",
            file=sys.stderr,
        )
    elif force or _stale(out / ARM_PROBE, deps):
        _link(arm, [*cflags(arm), *(extra or [])], "probe.c", out / ARM_PROBE)


def build_front(target_path: Path, cc: str | None = None) -> None:
    """Compile and statically link the installed command's native front (front.c)."""
    cc = cc or compiler()
    require_compiler(cc)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    _link(cc, cflags(cc), EXECUTABLES[FRONT], target_path)


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


def check_only(cc: str, out: Path | None = None) -> int:
    """Compile every C source with ``cc`` (a cross compiler) and ``-Werror``, without Python.

    native.c to an object, the probe and the launcher linked statically: proof it builds.
    """
    require_compiler(cc)
    machine = target(cc)
    if not machine:
        sys.exit(f"error: '{cc}' does not say what it compiles for (-dumpmachine)")
    out = out or WORK / machine
    out.mkdir(parents=True, exist_ok=True)
    flags = [*cflags(cc), "-Werror"]
    obj = [*_words(cc), *flags, "-c", "-o", str(out / "native.o"), str(HERE / "native.c")]
    if subprocess.run(obj, check=False).returncode != 0:
        return 1
    for name, src in EXECUTABLES.items():
        _link(cc, flags, src, out / name)
    print(f"built native.o, {', '.join(EXECUTABLES)} for {machine} with {cc} into {out}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--check-only"]:
        # --check-only [CC [OUT]]: OUT defaults to native/out/<target>
        cc = argv[1] if len(argv) > 1 else compiler()
        return check_only(cc, Path(argv[2]) if len(argv) > 2 else None)
    build_executables()
    build_module()
    return 0


if __name__ != "__main__":  # loaded by setup.py's cffi_modules: it takes this object
    ffi = make_ffi()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
