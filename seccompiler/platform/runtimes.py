"""What each container runtime version accepts in ``linux.seccomp``, as data with sources.

A profile that names something its runtime does not know makes every container on the node
fail to start (runc 1.1.5: ``string SCMP_ARCH_RISCV64 is not a valid arch for seccomp``).
``FEATURES`` says, per feature of the OCI object, the first version of each runtime that loads
it; ``problems`` judges a whole profile for one runtime target. Facts come from the runtimes'
source at the tags named in ``source`` (runc: libcontainer/seccomp/config.go,
libcontainer/specconv/spec_linux.go, libcontainer/seccomp/seccomp_linux.go; crun:
src/libcrun/seccomp.c; libseccomp: src/arch.c ``arch_def_lookup_name``). docs/runtimes.md
is the same table for readers.

Kubernetes does not check a Localhost profile either: containerd unmarshals the file into the
runtime-spec type and hands it on unchanged; CRI-O converts it with containers/common
(``LoadProfileFromBytes``, which also understands Docker's ``archMap``) and hands the result
on. So what loads is what the runtime (runc or crun) and its libseccomp load.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from seccompiler.base.errors import UsageError

Version = tuple[int, ...]
NEVER: Version = (999,)

RUNTIMES = ("runc", "crun")
# The oldest release of each runtime the table describes; older ones are refused as targets.
FLOOR: dict[str, Version] = {"runc": (1, 1, 0), "crun": (1, 0)}


@dataclass(frozen=True)
class Runtime:
    """One runtime target: ``runc-1.1.5``, optionally ``/libseccomp-2.5.4`` it links."""

    name: str
    version: Version
    libseccomp: Version | None = None

    def __str__(self) -> str:
        text = f"{self.name}-{_vtext(self.version)}"
        if self.libseccomp is not None:
            text += f"/libseccomp-{_vtext(self.libseccomp)}"
        return text


def _vtext(v: Version) -> str:
    return ".".join(str(p) for p in v)


_SPEC = re.compile(
    r"(?P<name>[a-z]+)-(?P<version>\d+(?:\.\d+){0,2})(?:/libseccomp-(?P<lib>\d+(?:\.\d+){0,2}))?"
)


def parse(text: str) -> Runtime:
    """``runc-1.1.5`` or ``crun-1.14/libseccomp-2.5.4`` → ``Runtime``; ``ValueError`` if not."""
    m = _SPEC.fullmatch(text.strip())
    if m is None:
        raise ValueError(
            f"'{text}' is not NAME-VERSION (e.g. runc-1.1.5, crun-1.14/libseccomp-2.5.4)"
        )
    name = m["name"]
    if name not in RUNTIMES:
        raise ValueError(f"unknown runtime '{name}': the table knows {', '.join(RUNTIMES)}")
    version = tuple(int(p) for p in m["version"].split("."))
    if version < FLOOR[name]:
        raise ValueError(
            f"{name} {_vtext(version)} is older than the table goes back "
            f"({name} {_vtext(FLOOR[name])})"
        )
    lib = tuple(int(p) for p in m["lib"].split(".")) if m["lib"] else None
    return Runtime(name, version, lib)


def parse_option(text: str) -> Runtime:
    """``parse`` for a command-line value: a bad one is a usage error."""
    try:
        return parse(text)
    except ValueError as exc:
        raise UsageError(f"--runtime: {exc}", hint="e.g. --runtime runc-1.1.5") from None


@dataclass(frozen=True)
class Feature:
    """One thing a profile can say, and since when each runtime (and libseccomp) loads it."""

    key: str  # "arch:SCMP_ARCH_RISCV64", "action:SCMP_ACT_LOG", "flag:…", "defaultErrnoRet"
    runc: Version
    crun: Version
    libseccomp: Version = (0,)  # needed whichever runtime links it
    source: str = ""

    def since(self, runtime: str) -> Version:
        return self.runc if runtime == "runc" else self.crun


_BASE: Version = (0,)
_L25: Version = (2, 5, 0)

FEATURES: tuple[Feature, ...] = (
    # Architectures. runc maps SCMP_ARCH_* strings itself; crun lowercases the name and asks
    # libseccomp's seccomp_arch_resolve_name, so crun follows libseccomp alone.
    *(
        Feature(f"arch:SCMP_ARCH_{a}", _BASE, _BASE, source="runc v0.0.5 e5ef8d239; libseccomp")
        for a in ("X86", "X86_64", "X32", "ARM", "AARCH64")
    ),
    *(
        Feature(f"arch:SCMP_ARCH_{a}", _BASE, _BASE, source="runc v0.0.5 e5ef8d239")
        for a in ("MIPS", "MIPS64", "MIPS64N32", "MIPSEL", "MIPSEL64", "MIPSEL64N32")
    ),
    *(
        Feature(f"arch:SCMP_ARCH_{a}", _BASE, _BASE, source="runc v1.0.0 bae23b67f")
        for a in ("PPC", "PPC64", "PPC64LE", "S390", "S390X")
    ),
    Feature(
        "arch:SCMP_ARCH_RISCV64",
        (1, 1, 8),
        _BASE,
        _L25,
        "runc v1.1.8 9164fe17a (#3905), v1.2.0 1d7b29712; libseccomp v2.5.0 arch.c",
    ),
    Feature(
        "arch:SCMP_ARCH_LOONGARCH64",
        (1, 4, 1),
        _BASE,
        (2, 6, 0),
        "runc v1.4.1 and v1.5.0 885509afd (#5062); libseccomp v2.6.0 arch.c",
    ),
    *(
        Feature(f"arch:SCMP_ARCH_{a}", NEVER, _BASE, source="absent from runc's arch map")
        for a in ("PARISC", "PARISC64")
    ),
    Feature(
        "arch:SCMP_ARCH_NATIVE",
        NEVER,
        NEVER,
        source="absent from runc's arch map; 'native' is not a libseccomp arch name (crun)",
    ),
    # Actions.
    *(
        Feature(f"action:SCMP_ACT_{a}", _BASE, _BASE, source="runc and crun since their start")
        for a in ("ALLOW", "ERRNO", "KILL", "TRAP", "TRACE")
    ),
    Feature("action:SCMP_ACT_LOG", _BASE, (0, 15), source="runc v1.0.0-rc9 84373aaa5; crun 0.15"),
    Feature(
        "action:SCMP_ACT_KILL_PROCESS",
        (1, 1, 3),
        (0, 14),
        source="runc v1.1.3 d105e052d, v1.2.0 68427f33d (1.1.0–1.1.2 lacked the string); "
        "crun 0.14 cebb6310",
    ),
    Feature(
        "action:SCMP_ACT_KILL_THREAD",
        (1, 1, 3),
        (0, 15),
        source="runc v1.1.3 d105e052d, v1.2.0 68427f33d; crun 0.15 4276d0ac",
    ),
    Feature(
        "action:SCMP_ACT_NOTIFY",
        _BASE,
        (0, 15),
        _L25,
        "runc v1.1.0-rc.1 2b025c017 (needs libseccomp API level 6); crun 0.15 abf8fbd8",
    ),
    # Top-level fields.
    Feature("defaultErrnoRet", _BASE, (0, 19), source="runc v1.0.0-rc95 c61f60625; crun 0.19"),
    Feature(
        "flags",
        (1, 2, 0),
        (0, 9),
        source="runc v1.0.0–v1.1.15 refuse any non-empty list; v1.2.0 58ea21dae (#3588); "
        "crun 0.9 fefabffa",
    ),
    *(
        Feature(f"flag:SECCOMP_FILTER_FLAG_{f}", (1, 2, 0), (0, 9), source="runc v1.2.0; crun 0.9")
        for f in ("TSYNC", "SPEC_ALLOW", "LOG")
    ),
    Feature(
        "flag:SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        (1, 5, 0),
        (1, 6),
        source="runc v1.5.0-rc.2 (#5183); crun 1.6 396ac888",
    ),
)
BY_KEY: dict[str, Feature] = {f.key: f for f in FEATURES}

OPERATORS = frozenset(f"SCMP_CMP_{op}" for op in ("NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ"))
_ERRNO_ACTIONS = frozenset({"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"})


@dataclass(frozen=True)
class Problem:
    """Why ``runtime`` refuses a profile, and where in the OCI object: ``field`` is
    ``architectures``, ``defaultAction``, ``flags`` or ``syscalls``; ``index`` the element."""

    runtime: Runtime
    field: str
    index: int
    value: str
    message: str
    source: str = ""


def supports(runtime: Runtime, key: str) -> tuple[bool, str]:
    """Whether ``runtime`` loads feature ``key``, and a reason when it does not."""
    feature = BY_KEY.get(key)
    if feature is None:
        return False, f"{runtime.name} does not know {key.split(':', 1)[-1]}"
    since = feature.since(runtime.name)
    if since == NEVER:
        return False, f"no {runtime.name} version loads {key.split(':', 1)[-1]}"
    if runtime.version < since:
        return False, f"{runtime} lacks it (added in {runtime.name} {_vtext(since)})"
    if runtime.libseccomp is not None and runtime.libseccomp < feature.libseccomp:
        return False, f"libseccomp {_vtext(runtime.libseccomp)} lacks it (needs " + (
            f"{_vtext(feature.libseccomp)})"
        )
    return True, ""


def problems(oci: Mapping[str, Any], runtime: Runtime) -> list[Problem]:
    """Everything in the flat ``linux.seccomp`` object ``oci`` that ``runtime`` refuses."""
    out: list[Problem] = []

    def need(key: str, field: str, index: int, value: str) -> None:
        ok, why = supports(runtime, key)
        if not ok:
            what = key.split(":", 1)[0]
            label = {"arch": "architecture", "action": "action", "flag": "flag"}.get(what, what)
            feature = BY_KEY.get(key)
            out.append(
                Problem(
                    runtime, field, index, value, f"{label} {value}: {why}",
                    feature.source if feature else "",
                )
            )  # fmt: skip

    for i, arch in enumerate(oci.get("architectures") or ()):
        need(f"arch:{arch}", "architectures", i, str(arch))
    default = str(oci.get("defaultAction", ""))
    need(f"action:{default}", "defaultAction", 0, default)
    if default == "SCMP_ACT_NOTIFY":
        out.append(
            Problem(runtime, "defaultAction", 0, default, "SCMP_ACT_NOTIFY cannot be the default")
        )
    if "defaultErrnoRet" in oci:
        need("defaultErrnoRet", "defaultErrnoRet", 0, "defaultErrnoRet")
        if runtime.name == "crun" and default not in _ERRNO_ACTIONS:
            out.append(
                Problem(
                    runtime, "defaultErrnoRet", 0, default,
                    f"crun refuses defaultErrnoRet with {default} (errno only for ERRNO/TRACE)",
                )
            )  # fmt: skip
    flags = oci.get("flags")
    if flags:
        ok, why = supports(runtime, "flags")
        if not ok:
            out.append(Problem(runtime, "flags", 0, "flags", f"a non-empty 'flags': {why}"))
        else:
            for i, flag in enumerate(flags):
                need(f"flag:{flag}", "flags", i, str(flag))
    for i, rule in enumerate(oci.get("syscalls") or ()):
        action = str(rule.get("action", ""))
        need(f"action:{action}", "syscalls", i, action)
        if action == "SCMP_ACT_NOTIFY" and runtime.name == "runc" and "write" in rule["names"]:
            out.append(
                Problem(runtime, "syscalls", i, action, "runc refuses SCMP_ACT_NOTIFY for write")
            )
        if "errnoRet" in rule and action not in _ERRNO_ACTIONS and runtime.name == "crun":
            out.append(
                Problem(
                    runtime, "syscalls", i, action,
                    f"crun refuses errnoRet with {action} (errno only for ERRNO/TRACE)",
                )
            )  # fmt: skip
        for arg in rule.get("args") or ():
            if arg.get("op") not in OPERATORS:
                out.append(Problem(runtime, "syscalls", i, str(arg.get("op")), "unknown operator"))
    return out


def loadable_arches(arches: list[str], runtimes: list[Runtime]) -> list[str]:
    """The names in ``arches`` that every runtime in ``runtimes`` loads."""
    return [a for a in arches if all(supports(r, f"arch:{a}")[0] for r in runtimes)]
