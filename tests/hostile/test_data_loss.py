"""Data loss: an output never replaces what is not ours, nor an input.

``build`` replaces its output directory whole, so it must recognise an earlier build of its
own (MANIFEST.json listing every file) and refuse everything else; no command may write an
output that is, or contains, one of its inputs.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hostilekit import PROFILE, Outcome, snapshot

from seccompiler.commands.cli import main

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


SMALL = "seccompiler: 1\nname: small\nabis: [x86_64]\ndefault: allow\nrules: []\n"


def _user_file_in_oci(t: Path) -> None:
    (t / "out/oci").mkdir(parents=True)
    (t / "out/oci/x86_64.json").write_text('{"mine": 1}\n')


def _link_out_of_dir(t: Path) -> None:
    (t / "elsewhere").mkdir()
    (t / "out").mkdir()
    (t / "out/bpf").symlink_to("../elsewhere")


def _note_in_earlier_output(t: Path) -> None:
    assert main(["compile", str(t / "p.yaml"), "-o", str(t / "out")]) == 0
    (t / "out/notes.txt").write_text("mine\n")


def _base_inside_output(t: Path) -> None:
    # the policy extends a file of an earlier output, edited into a policy
    assert main(["compile", str(t / "p.yaml"), "-o", str(t / "out"), "--format", "oci"]) == 0
    (t / "out/oci/x86_64.json").write_text(SMALL)
    (t / "p.yaml").write_text("seccompiler: 1\nname: p\nextends: out/oci/x86_64.json\n")


def _policy_inside_output(t: Path) -> None:
    (t / "out").mkdir()
    (t / "p.yaml").rename(t / "out/p.yaml")
    (t / "p.yaml").symlink_to("out/p.yaml")


# (what is at the output directory before compile runs) — each refused with nothing touched
COMPILE_REFUSED: list[tuple[str, Callable[[Path], None]]] = [
    ("a file of the user's where an output goes", _user_file_in_oci),
    ("a symlink out of the output directory", _link_out_of_dir),
    ("an earlier output with a file added", _note_in_earlier_output),
    ("a base the policy extends", _base_inside_output),
    ("the policy itself", _policy_inside_output),
]


@pytest.mark.parametrize(("name", "prepare"), COMPILE_REFUSED, ids=[c[0] for c in COMPILE_REFUSED])
def test_compile_refuses_an_output_directory_not_its_own(
    tmp_path: Path, name: str, prepare: Callable[[Path], None]
) -> None:
    (tmp_path / "p.yaml").write_text(SMALL)
    prepare(tmp_path)
    before = snapshot(tmp_path)
    assert main(["compile", str(tmp_path / "p.yaml"), "-o", str(tmp_path / "out")]) == 2
    assert snapshot(tmp_path) == before


def test_compile_replaces_its_own_earlier_output_whole(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(SMALL)
    out = tmp_path / "out"
    assert main(["compile", str(tmp_path / "p.yaml"), "-o", str(out)]) == 0
    assert main(["compile", str(tmp_path / "p.yaml"), "-o", str(out), "--format", "bpf"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "COMPILED.json",
        "bpf/x86_64.bpf",
    ]


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4])
def test_a_failed_compile_leaves_the_earlier_outputs_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    (tmp_path / "p.yaml").write_text(SMALL)
    out = tmp_path / "out"
    assert main(["compile", str(tmp_path / "p.yaml"), "-o", str(out)]) == 0
    before = snapshot(tmp_path)
    (tmp_path / "p.yaml").write_text(SMALL.replace("allow", "errno(EPERM)"))
    before["p.yaml"] = snapshot(tmp_path)["p.yaml"]
    written = 0
    write_bytes = Path.write_bytes

    def failing(self: Path, data: bytes) -> int:  # type: ignore[override]
        nonlocal written
        written += 1
        if written == fail_at:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing)
    assert main(["compile", str(tmp_path / "p.yaml"), "-o", str(out)]) == 2
    monkeypatch.undo()
    assert snapshot(tmp_path) == before  # every earlier output as it was, no staging left


def _inputs(t: Path) -> None:
    _policy(t)
    _json_profile(t)
    _asm(t)
    (t / "R").mkdir()


# (command, its argv given the tmp dir, the file it writes relative to the tmp dir)
FILE_OUTPUTS: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("bpf asm", lambda t: ["bpf", "asm", str(t / "f.s"), "-o", str(t / "out")], "out"),
    (
        "bpf disasm",
        lambda t: ["bpf", "disasm", str(t / "f.bpf"), "--abi", "x86_64", "-o", str(t / "out")],
        "out",
    ),
    ("import", lambda t: ["import", str(t / "p.json"), "-o", str(t / "out")], "out"),
    ("record", lambda t: ["record", "-o", str(t / "out"), "--", "true"], "out"),
    ("yama apply -o", lambda t: ["yama", "apply", "--scope", "1", "-o", str(t / "out")], "out"),
    (
        "yama apply --root",
        lambda t: ["yama", "apply", "--scope", "2", "--root", str(t / "R")],
        "R/etc/sysctl.d/60-keisson-yama.conf",
    ),
    (
        "pss label",
        lambda t: ["pss", "label", "apps", "--level", "baseline", "-o", str(t / "out")],
        "out",
    ),
    (
        "pss label --kubectl",
        lambda t: [
            "pss",
            "label",
            "apps",
            "--level",
            "baseline",
            "--kubectl",
            "-o",
            str(t / "out"),
        ],
        "out",
    ),
    ("pss guard", lambda t: ["pss", "guard", "-o", str(t / "g")], "g/pod-security-guard.yaml"),
    (
        "run --report",
        lambda t: ["run", "--profile", str(t / "p.yaml"), "--report", str(t / "out"), "true"],
        "out",
    ),
]
FILE_IDS = [c[0] for c in FILE_OUTPUTS]


def _prepare(t: Path) -> None:
    _inputs(t)
    (t / "f.bpf").write_bytes(b"\x06\x00\x00\x00\x00\x00\xff\x7f")  # ret ALLOW


@pytest.mark.parametrize(("name", "argv", "out"), FILE_OUTPUTS, ids=FILE_IDS)
@pytest.mark.parametrize("there", ["a note", "a link to a note"])
def test_file_output_refuses_a_file_it_did_not_write(
    tmp_path: Path,
    hostile: Callable[..., Outcome],
    name: str,
    argv: Callable[[Path], list[str]],
    out: str,
    there: str,
) -> None:
    _prepare(tmp_path)
    target = tmp_path / out
    target.parent.mkdir(parents=True, exist_ok=True)
    if there == "a note":
        target.write_text("precious\n")
    else:
        (tmp_path / "note.txt").write_text("precious\n")
        target.symlink_to(tmp_path / "note.txt")
    before = snapshot(tmp_path)
    outcome = hostile(argv(tmp_path))
    assert outcome.clean, outcome
    assert outcome.code == 2, outcome
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(("name", "argv", "out"), FILE_OUTPUTS, ids=FILE_IDS)
def test_file_output_replaces_its_own_earlier_output(
    tmp_path: Path,
    hostile: Callable[..., Outcome],
    name: str,
    argv: Callable[[Path], list[str]],
    out: str,
) -> None:
    _prepare(tmp_path)
    first = hostile(argv(tmp_path))
    assert first.code == 0, first
    assert (tmp_path / out).is_file()
    again = hostile(argv(tmp_path))
    assert again.code == 0, again


def test_build_root_refuses_a_drop_in_it_did_not_write(
    project: Path, hostile: Callable[..., Outcome]
) -> None:
    dropin = project / "root/etc/sysctl.d/60-keisson-yama.conf"
    dropin.parent.mkdir(parents=True)
    dropin.write_text("kernel.yama.ptrace_scope = 0\n")
    before = snapshot(project)
    argv = ["build", "profiles", "-o", "dist", "--root", "root"]
    refused = hostile(argv, cwd=project, timeout=BUILD_TIMEOUT)
    assert refused.clean and refused.code == 2, refused
    assert snapshot(project) == before  # neither dist/ nor anything under the root written
    dropin.unlink()
    for _ in range(2):  # its own drop-in, from the run before, is replaced
        done = hostile(argv, cwd=project, timeout=BUILD_TIMEOUT)
        assert done.code == 0, done
    assert dropin.read_text().startswith("# Generated by seccompiler")
