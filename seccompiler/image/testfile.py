"""The ``--tests`` file: commands to run in an image, with the status and output they must give.

tests:
  - name: shell prints          # optional; defaults to the command
    command: [sh, -c, "echo hi"]  # a list, or a string split like a shell would
    status: 0                   # expected exit status (default 0)
    output: hi                  # optional: must appear in stdout or stderr
    timeout: 60                 # optional, seconds (default 60)
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seccompiler.arch.tables import suggest
from seccompiler.base import yamlsrc
from seccompiler.base.errors import InputError, Location
from seccompiler.base.fsio import read_text

_KEYS = frozenset({"name", "command", "status", "output", "timeout"})
MAX_TESTS = 1000


@dataclass(frozen=True)
class ImageTest:
    """One command to run in the image and what it must do."""

    name: str
    argv: tuple[str, ...]
    status: int = 0
    output: str | None = None
    timeout: float = 60.0
    location: Location | None = None


def _err(where: yamlsrc.Mark, message: str, hint: str = "") -> InputError:
    return InputError(message, hint=hint, location=where.location())


def _argv(value: Any, where: yamlsrc.Mark) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            argv = tuple(shlex.split(value))
        except ValueError as exc:
            raise _err(where, f"cannot split the command: {exc}") from None
    elif isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        argv = tuple(str(v) for v in value)
    else:
        raise _err(where, "'command' must be a string or a list of strings")
    if not argv or not argv[0]:
        raise _err(where, "'command' is empty")
    for i, arg in enumerate(argv):
        if "\0" in arg:
            raise _err(
                where,
                f"argument {i} of the command holds a NUL byte ({arg[:80]!r})",
                "a program can be given only strings without NUL bytes",
            )
    return argv


def _test(item: Any, where: yamlsrc.Mark) -> ImageTest:
    if isinstance(item, str | list):
        argv = _argv(item, where)
        return ImageTest(" ".join(argv), argv, location=where.location())
    if not isinstance(item, yamlsrc.LMap):
        raise _err(where, "a test is a mapping with at least 'command'")
    for key in item:
        if key not in _KEYS:
            close = suggest(key, _KEYS)
            raise _err(
                item.where_key(key),
                f"unknown key '{key}'",
                f"did you mean '{close[0]}'?" if close else f"keys: {', '.join(sorted(_KEYS))}",
            )
    if "command" not in item:
        raise _err(item.mark, "a test needs a 'command'")
    argv = _argv(item["command"], item.where("command"))
    status = item.get("status", 0)
    if not isinstance(status, int) or isinstance(status, bool) or not 0 <= status <= 255:
        raise _err(item.where("status"), "'status' must be an exit status from 0 to 255")
    output = item.get("output")
    if output is not None and not isinstance(output, str):
        raise _err(item.where("output"), "'output' must be a string")
    timeout = item.get("timeout", 60)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 3600:
        raise _err(item.where("timeout"), "'timeout' must be a number of seconds (0-3600]")
    name = item.get("name", " ".join(argv))
    if not isinstance(name, str) or not name:
        raise _err(item.where("name"), "'name' must be a non-empty string")
    return ImageTest(name, argv, status, output, float(timeout), item.mark.location())


def parse_tests(text: str, path: str) -> list[ImageTest]:
    """Parse a tests file's text; every mistake is reported at its line and column."""
    doc = yamlsrc.load_text(text, path)
    if not isinstance(doc, yamlsrc.LMap) or "tests" not in doc:
        raise InputError("expected a mapping with a 'tests' list", location=Location(path, 1, 1))
    for key in doc:
        if key != "tests":
            raise _err(doc.where_key(key), f"unknown key '{key}'", "the file holds only 'tests'")
    items = doc["tests"]
    if not isinstance(items, yamlsrc.LList) or not items:
        raise _err(doc.where("tests"), "'tests' must be a non-empty list")
    if len(items) > MAX_TESTS:
        raise _err(doc.where("tests"), f"more than {MAX_TESTS} tests")
    tests = [_test(item, items.where(i)) for i, item in enumerate(items)]
    seen: dict[str, ImageTest] = {}
    for t in tests:
        if t.name in seen:
            first = seen[t.name].location
            raise InputError(
                f"two tests are named '{t.name}'",
                location=t.location,
                hint=f"first at {first}; give one a 'name'",
            )
        seen[t.name] = t
    return tests


def load_tests(path: str | Path) -> list[ImageTest]:
    """Read and parse a tests file (bounded to 1 MiB)."""
    return parse_tests(read_text(path, 1 << 20), str(path))
