"""Helpers the live tests share (conftest puts this directory on sys.path)."""

from __future__ import annotations

import textwrap
from pathlib import Path

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
