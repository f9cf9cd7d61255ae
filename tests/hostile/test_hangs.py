"""Hangs: a FIFO or /dev/zero wherever a file is read is refused at once, never waited on.

Each row places the hostile file in one slot some command reads (a policy, a profile, a
manifest, an option's file, a member of an image layout, a proc or sysctl file) and runs the
command with a deadline. The only acceptable outcome is a clean refusal with the command's
own status for a bad input file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostilekit import PROFILE, Outcome, empty_layer, oci_layout

POD = """apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: c, image: x}]
"""


@dataclass
class World:
    """Good inputs beside which one hostile file is placed."""

    tmp: Path
    policy: Path
    pod: Path

    def hostile(self, kind: str, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            path.unlink()
        if kind == "fifo":
            os.mkfifo(path)
        else:
            path.symlink_to("/dev/zero")
        return path


@pytest.fixture
def world(tmp_path: Path) -> World:
    policy = tmp_path / "policy.yaml"
    policy.write_text(PROFILE.read_text())
    pod = tmp_path / "pod.yaml"
    pod.write_text(POD)
    return World(tmp_path, policy, pod)


Case = Callable[[World, str], list[str | Path]]


def _extends(w: World, kind: str) -> list[str | Path]:
    w.hostile(kind, w.tmp / "base.yaml")
    child = w.tmp / "child.yaml"
    child.write_text("seccompiler: 1\nname: child\nextends: base.yaml\n")
    return ["compile", child, "-o", w.tmp / "out"]


def _build(w: World, kind: str) -> list[str | Path]:
    profiles = w.tmp / "profiles"
    profiles.mkdir()
    (profiles / "keisson-default.yaml").write_text(PROFILE.read_text())
    w.hostile(kind, profiles / "other.yaml")
    return ["build", profiles, "-o", w.tmp / "dist"]


def _image_member(role: str) -> Case:
    def case(w: World, kind: str) -> list[str | Path]:
        paths = oci_layout(w.tmp / "img", empty_layer())
        w.hostile(kind, paths[role])
        return ["image", "test", w.tmp / "img", "--profile", w.policy, "--", "/bin/true"]

    return case


def _ptrace_scope(w: World, kind: str) -> list[str | Path]:
    proc = w.tmp / "proc"
    (proc / "sys/kernel/yama").mkdir(parents=True)
    (proc / "cmdline").write_text("quiet\n")
    w.hostile(kind, proc / "sys/kernel/yama/ptrace_scope")
    return ["yama", "status", "--proc-root", proc]


def _sysctl(w: World, kind: str) -> list[str | Path]:
    root = w.tmp / "root"
    w.hostile(kind, root / "etc/sysctl.d/99-x.conf")
    if kind == "devzero":  # the link resolves inside the root, as on the node: put one there
        (root / "dev").mkdir()
        os.mknod(root / "dev/zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    return ["yama", "check", "--scope", "1", "--root", root]


def _slot(*argv: str | Path) -> Case:
    """A case whose hostile file is the argument written ``{}``."""

    def case(w: World, kind: str) -> list[str | Path]:
        bad = w.hostile(kind, w.tmp / "bad.yaml")
        out: list[str | Path] = []
        for a in argv:
            if a == "{}":
                out.append(bad)
            elif a == "{policy}":
                out.append(w.policy)
            elif a == "{pod}":
                out.append(w.pod)
            elif a == "{out}":
                out.append(w.tmp / "out")
            else:
                out.append(a)
        return out

    return case


# (name, case, the exit status of a refused input file)
CASES: list[tuple[str, Case, int]] = [
    ("compile policy", _slot("compile", "{}", "-o", "{out}"), 2),
    ("compile extends", _extends, 1),
    ("verify policy", _slot("verify", "{}"), 2),
    ("verify --bpf", _slot("verify", "{policy}", "--abi", "x86_64", "--bpf", "{}"), 2),
    ("diff a", _slot("diff", "{}", "{policy}"), 2),
    ("diff b", _slot("diff", "{policy}", "{}"), 2),
    ("stats file", _slot("stats", "{}"), 2),
    ("stats --mix", _slot("stats", "{policy}", "--mix", "{}"), 2),
    ("lint file", _slot("lint", "{}"), 2),
    ("import profile", _slot("import", "{}"), 2),
    ("test policy", _slot("test", "{}", "--syscalls", "read"), 2),
    ("run --profile", _slot("run", "--profile", "{}", "--", "true"), 125),
    ("record --base", _slot("record", "--base", "{}", "-o", "{out}", "--", "true"), 125),
    ("bpf disasm", _slot("bpf", "disasm", "{}", "--abi", "x86_64"), 2),
    ("bpf asm", _slot("bpf", "asm", "{}"), 2),
    ("bpf emulate", _slot("bpf", "emulate", "{}", "--abi", "x86_64", "--syscall", "read"), 2),
    ("image test image", _slot("image", "test", "{}", "--profile", "{policy}", "--", "true"), 125),
    (
        "image test --tests",
        _slot("image", "test", "{}", "--profile", "{policy}", "--tests", "{}"),
        125,
    ),
    ("image record image", _slot("image", "record", "{}", "-o", "{out}", "--", "true"), 125),
    ("image index.json", _image_member("index"), 125),
    ("image manifest blob", _image_member("manifest"), 125),
    ("image config blob", _image_member("config"), 125),
    ("image layer blob", _image_member("layer"), 125),
    ("pss check manifest", _slot("pss", "check", "{}"), 2),
    ("pss check --config", _slot("pss", "check", "--config", "{}", "{pod}"), 2),
    ("pss check --namespaces", _slot("pss", "check", "--namespaces", "{}", "{pod}"), 2),
    (
        "pss label --check-existing",
        _slot("pss", "label", "ns", "--level", "baseline", "--check-existing", "{}"),
        2,
    ),
    ("pss guard --check", _slot("pss", "guard", "--check", "{}"), 2),
    ("pss guard --old", _slot("pss", "guard", "--check", "{pod}", "--old", "{}"), 2),
    ("yama ptrace_scope", _ptrace_scope, 2),
    ("yama sysctl file", _sysctl, 2),
    ("build profile", _build, 2),
]


@pytest.mark.parametrize("kind", ["fifo", "devzero"])
@pytest.mark.parametrize(("name", "case", "code"), CASES, ids=[c[0] for c in CASES])
def test_special_file_is_refused_without_blocking(
    world: World, hostile: Callable[..., Outcome], kind: str, name: str, case: Case, code: int
) -> None:
    outcome = hostile(case(world, kind), cwd=world.tmp, timeout=15)
    assert outcome.clean, outcome
    assert outcome.code == code, outcome
    assert any(w in outcome.err for w in ("FIFO", "device", "symbolic link")), outcome


def test_dev_zero_as_image(tmp_path: Path, hostile: Callable[..., Outcome]) -> None:
    outcome = hostile(["image", "test", "/dev/zero", "--profile", PROFILE, "--", "true"])
    assert outcome.clean, outcome
    assert outcome.code == 125, outcome
