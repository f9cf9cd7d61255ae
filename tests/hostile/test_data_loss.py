"""Data loss: an output never replaces what is not ours, nor an input.

``build`` replaces its output directory whole, so it must recognise an earlier build of its
own (MANIFEST.json listing every file) and refuse everything else; no command may write an
output that is, or contains, one of its inputs.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hostilekit import PROFILE, Outcome, snapshot

# a whole build proves every filter and loads it for each runtime target: a bound that catches
# a hang, not a speed target, on a machine several builds share
BUILD_TIMEOUT = 120.0


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project checkout: profiles/, a README, a .git folder."""
    (tmp_path / "profiles").mkdir()
    shutil.copy(PROFILE, tmp_path / "profiles")
    (tmp_path / "README.md").write_text("# mine\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git/HEAD").write_text("ref: refs/heads/main\n")
    return tmp_path


# (output relative to the project, profiles dir relative to the project)
REFUSED_BUILDS = [
    (".", "profiles"),  # the project root: would replace profiles/, README, .git
    ("profiles", "profiles"),  # the sources themselves
    ("..", "profiles"),  # a parent of the sources
    ("docs", "profiles"),  # a directory of someone else's files
    ("README.md", "profiles"),  # a file
]


@pytest.mark.parametrize(("output", "sources"), REFUSED_BUILDS)
def test_build_refuses_what_is_not_an_earlier_build(
    project: Path, hostile: Callable[..., Outcome], output: str, sources: str
) -> None:
    (project / "docs").mkdir()
    (project / "docs/notes.md").write_text("precious\n")
    before = snapshot(project.parent)
    outcome = hostile(["build", sources, "-o", output], cwd=project, timeout=BUILD_TIMEOUT)
    assert outcome.clean, outcome
    assert outcome.code == 2, outcome
    assert snapshot(project.parent) == before


def test_build_replaces_its_own_earlier_build_only(
    project: Path, hostile: Callable[..., Outcome]
) -> None:
    first = hostile(["build", "profiles", "-o", "dist"], cwd=project, timeout=BUILD_TIMEOUT)
    assert first.code == 0, first
    assert (project / "dist/MANIFEST.json").is_file()
    # staging folders: of a killed build (removed), of a run still going and of someone
    # else (left alone), and a very old one of ours (removed)
    dead = os.fork()
    if dead == 0:  # pragma: no cover - a pid that is certainly over
        os._exit(0)
    os.waitpid(dead, 0)
    stale = project / f".dist.new.{dead}.1"
    (stale / "x").mkdir(parents=True)
    live = project / f".dist.new.{os.getpid()}.2"
    live.mkdir()
    old = project / ".dist.new.garbage"
    old.mkdir()
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    other = project / ".cache.new.1.1"
    other.mkdir()
    again = hostile(["build", "profiles", "-o", "dist"], cwd=project, timeout=BUILD_TIMEOUT)
    assert again.code == 0, again  # our own earlier build: replaced
    assert not stale.exists() and not old.exists()
    assert live.exists() and other.exists()
    (project / "dist/notes.txt").write_text("mine now\n")
    refused = hostile(["build", "profiles", "-o", "dist"], cwd=project, timeout=BUILD_TIMEOUT)
    assert refused.clean and refused.code == 2, refused
    assert refused.seconds < 2, refused  # refused before building, not after
    assert (project / "dist/notes.txt").read_text() == "mine now\n"


def _policy(tmp: Path) -> Path:
    p = tmp / "p.yaml"
    shutil.copy(PROFILE, p)
    return p


def _json_profile(tmp: Path) -> Path:
    p = tmp / "p.json"
    p.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}\n')
    return p


def _asm(tmp: Path) -> Path:
    p = tmp / "f.s"
    p.write_text("ret #0x7fff0000\n")
    return p


# (argv builder given the tmp dir and its input) — the output names the input or a parent
SAME_AS_INPUT: list[tuple[str, Callable[[Path], Path], Callable[[Path, Path], list[str]]]] = [
    ("import -o input", _json_profile, lambda t, i: ["import", str(i), "-o", str(i)]),
    ("bpf asm -o input", _asm, lambda t, i: ["bpf", "asm", str(i), "-o", str(i)]),
    ("bpf disasm -o input", _asm, lambda t, i: ["bpf", "disasm", str(i), "-o", str(i)]),
    ("record -o base", _policy, lambda t, i: ["record", "--base", str(i), "-o", str(i), "true"]),
    (
        "run --report policy",
        _policy,
        lambda t, i: ["run", "--profile", str(i), "--report", str(i), "true"],
    ),
    ("import -o parent", _json_profile, lambda t, i: ["import", str(i), "-o", str(t)]),
]


@pytest.mark.parametrize(("name", "make", "argv"), SAME_AS_INPUT, ids=[c[0] for c in SAME_AS_INPUT])
def test_output_that_is_an_input_is_refused(
    tmp_path: Path,
    hostile: Callable[..., Outcome],
    name: str,
    make: Callable[[Path], Path],
    argv: Callable[[Path, Path], list[str]],
) -> None:
    src = make(tmp_path)
    before = snapshot(tmp_path)
    outcome = hostile(argv(tmp_path, src))
    assert outcome.clean, outcome
    assert outcome.code == 2, outcome
    assert snapshot(tmp_path) == before
