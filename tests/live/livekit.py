"""Helpers the live tests share (conftest puts this directory on sys.path)."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "profiles" / "keisson-default.yaml"

NO_MKDIR = """\
- action: errno(EPERM)
  syscalls: [mkdir, mkdirat]
  reason: the programs under test need it
"""


def policy_text(rules: str, *, default: str = "allow", abis: str = "[x86_64, x86]") -> str:
    """A whole policy around a YAML list of rules."""
    return textwrap.dedent(
        f"""\
        seccompiler: 1
        name: live-test
        abis: {abis}
        default: {default}
        unknown: errno(ENOSYS)
        rules:
        """
    ) + textwrap.indent(textwrap.dedent(rules), "  ")


SANITIZED = ["gcc", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def sanitized_harness(tmp_path: Path, source: str) -> Path:
    """A C program that includes headers of native/, built with AddressSanitizer and UBSan
    (the test is skipped where the compiler cannot build that)."""
    src = tmp_path / "harness.c"
    src.write_text(source)
    exe = tmp_path / "harness"
    built = subprocess.run(
        [*SANITIZED, "-I", str(REPO / "native"), "-o", str(exe), str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        pytest.skip(f"no sanitizer build here: {built.stderr[-200:]}")
    return exe
