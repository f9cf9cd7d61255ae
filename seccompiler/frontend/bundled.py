"""The profiles that ship with seccompiler, addressable by name (``keisson-default``).

They are package data (``seccompiler/profiles/*.yaml``), found through importlib.resources,
so a name works the same in a checkout and in an installed wheel.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

SUFFIX = ".yaml"
NOT_PROFILES = ("platform",)  # platform.yaml beside the profiles configures build


def directory() -> Path:
    """The directory holding the bundled profiles."""
    return Path(str(importlib.resources.files("seccompiler") / "profiles"))


def names() -> list[str]:
    """Names of the bundled profiles, sorted."""
    d = directory()
    found = sorted(p.name.removesuffix(SUFFIX) for p in d.glob(f"*{SUFFIX}")) if d.is_dir() else []
    return [n for n in found if n not in NOT_PROFILES]


def is_name(arg: str) -> bool:
    """True for a bare profile name: no directory part and no file suffix."""
    return "/" not in arg and "." not in arg and arg not in ("", "-")


def resolve(arg: str) -> str:
    """``arg`` itself when it names an existing file or is not a bare name; else the bundled
    profile of that name, if there is one (otherwise ``arg``, for the reader's error)."""
    if not is_name(arg) or Path(arg).exists():
        return arg
    path = directory() / f"{arg}{SUFFIX}"
    return str(path) if path.is_file() else arg
