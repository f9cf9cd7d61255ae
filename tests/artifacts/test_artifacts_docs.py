"""The console examples of the runtime and rollout pages run, and print what they show."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = ("docs/runtimes.md", "docs/rollout.md")
_BLOCK = re.compile(r"^( *)```console\n(.*?)^\1```", re.M | re.S)


def examples() -> list[tuple[str, str, str]]:
    out = []
    for page in PAGES:
        for m in _BLOCK.finditer((REPO / page).read_text()):
            indent = len(m.group(1))
            lines = [line[indent:] for line in m.group(2).splitlines()]
            cmd, shown = None, []
            for line in [*lines, "$ "]:
                if line.startswith("$ "):
                    if cmd:
                        out.append((page, cmd, "\n".join(shown)))
                    cmd, shown = line[2:], []
                else:
                    shown.append(line)
    return out


@pytest.mark.parametrize(("page", "cmd", "shown"), examples())
def test_example_prints_what_the_page_shows(page: str, cmd: str, shown: str) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", "-c", cmd], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.stdout.rstrip("\n") == shown, f"{page}: {cmd}"


def test_the_pages_have_examples() -> None:
    assert len(examples()) >= 3
