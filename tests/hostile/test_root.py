"""Writes outside --root: every path under a node image root is resolved inside it.

The image's symlinks (absolute, relative, through ``..``) are followed as the node would
follow them after boot, i.e. inside the root; nothing is ever written or read outside it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hostilekit import PROFILE, TALLY, Outcome, check_confined, read_only, snapshot

from seccompiler.base import inroot, rootopen
from seccompiler.base.errors import UsageError

DROPIN = "etc/sysctl.d/60-keisson-yama.conf"

# a whole build proves every filter and loads it for each runtime target: a bound that catches
# a hang, not a speed target, on a machine several builds share
BUILD_TIMEOUT = 120.0


def _abs_link(root: Path, outside: Path) -> None:
    (root / "etc").symlink_to(outside)


def _rel_link(root: Path, outside: Path) -> None:
    (root / "etc").symlink_to(os.path.relpath(outside, root))


def _dotdot(root: Path, outside: Path) -> None:
    (root / "etc").mkdir()
    (root / "etc/sysctl.d").symlink_to("../../../../../../../../.." + str(outside))


def _deep_abs(root: Path, outside: Path) -> None:
    (root / "etc").mkdir()
    (root / "etc/sysctl.d").symlink_to(outside)


def _chain(root: Path, outside: Path) -> None:
    (root / "a").symlink_to("b")
    (root / "b").symlink_to(str(outside))
    (root / "etc").symlink_to("/a")


ESCAPES = [_abs_link, _rel_link, _dotdot, _deep_abs, _chain]


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "keep").write_text("host file\n")
    return root, outside


@pytest.mark.parametrize("escape", ESCAPES, ids=[e.__name__.strip("_") for e in ESCAPES])
def test_yama_apply_stays_inside_the_root(
    places: tuple[Path, Path], hostile: Callable[..., Outcome], escape: Callable[..., None]
) -> None:
    root, outside = places
    escape(root, outside)
    before = snapshot(outside)
    outcome = hostile(["yama", "apply", "--scope", "1", "--root", root])
    assert outcome.clean, outcome
    assert check_confined(outside, before, f"yama apply --root ({escape.__name__})")
    if outcome.code == 0:  # written where the node will read it: inside the root
        with inroot.RootDir(root) as r:
            assert r.read_bytes(DROPIN) is not None
    check = hostile(["yama", "check", "--scope", "1", "--root", root])
    assert check.clean, check
    assert check.code == (0 if outcome.code == 0 else 1), check


def test_build_root_with_escaping_etc_and_var(
    places: tuple[Path, Path], hostile: Callable[..., Outcome], tmp_path: Path
) -> None:
    root, outside = places
    (root / "etc").symlink_to(outside)
    (root / "var").symlink_to("../outside")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copy(PROFILE, profiles)
    before = snapshot(outside)
    outcome = hostile(
        ["build", profiles, "-o", tmp_path / "dist", "--root", root], timeout=BUILD_TIMEOUT
    )
    assert outcome.clean, outcome
    assert outcome.code == 0, outcome
    assert check_confined(outside, before, "build --root")
    # /etc → <root>/<outside path>, as the kernel would have it after chroot
    inside = root / str(outside).lstrip("/")
    assert (inside / "crio/crio.conf.d/60-keisson-seccomp.conf").is_file()
    assert (inside / "sysctl.d/60-keisson-yama.conf").is_file()
    check = hostile(
        ["build", profiles, "-o", tmp_path / "dist", "--root", root, "--check"],
        timeout=BUILD_TIMEOUT,
    )
    assert check.code == 0, check


@pytest.mark.parametrize("command", ["yama", "build"])
def test_root_that_is_the_host_root_is_refused(
    tmp_path: Path, hostile: Callable[..., Outcome], command: str
) -> None:
    (tmp_path / "r").symlink_to("/")
    if command == "yama":
        argv: list[str | Path] = ["yama", "apply", "--scope", "1", "--root", tmp_path / "r"]
    else:
        argv = ["build", PROFILE.parent, "-o", tmp_path / "d", "--root", tmp_path / "r"]
    outcome = hostile(argv)
    assert outcome.clean and outcome.code == 2, outcome
    assert "this machine's /" in outcome.err
    assert not (tmp_path / "d").exists()


def test_missing_root_is_never_created(tmp_path: Path, hostile: Callable[..., Outcome]) -> None:
    outcome = hostile(["yama", "apply", "--scope", "1", "--root", "nope/x"], cwd=tmp_path)
    assert outcome.clean and outcome.code == 2, outcome
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("blocker", ["etc", "etc/sysctl.d", DROPIN + "/"])
def test_file_where_a_directory_belongs(
    tmp_path: Path, hostile: Callable[..., Outcome], blocker: str
) -> None:
    root = tmp_path / "root"
    target = root / blocker.rstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if blocker.endswith("/"):
        target.mkdir()  # a directory where our file belongs
    else:
        target.write_text("a file\n")
    outcome = hostile(["yama", "apply", "--scope", "1", "--root", root])
    assert outcome.clean and outcome.code == 2, outcome


@pytest.mark.parametrize("walk", [False, True], ids=["openat2", "component-walk"])
@pytest.mark.parametrize("escape", ESCAPES, ids=[e.__name__.strip("_") for e in ESCAPES])
def test_both_resolvers_agree(
    places: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    walk: bool,
    escape: Callable[..., None],
) -> None:
    root, outside = places
    escape(root, outside)
    if walk:
        monkeypatch.setattr(rootopen, "_openat2", lambda *a: None)
    before = snapshot(outside)
    TALLY.cases += 1
    with inroot.RootDir(root) as r:
        r.write_atomic(DROPIN, b"x\n")
        assert r.read_bytes(DROPIN) == b"x\n"
    assert check_confined(outside, before, f"RootDir ({escape.__name__}, walk={walk})")
    found = [p for p in root.rglob("60-keisson-yama.conf")]
    assert len(found) == 1


def test_symlink_loop_in_root_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "etc").symlink_to("etc")
    with inroot.RootDir(tmp_path) as r, pytest.raises(UsageError):
        r.write_atomic(DROPIN, b"x\n")


@pytest.mark.parametrize("command", ["yama", "build"])
def test_read_only_root_is_a_clean_error(
    tmp_path: Path, hostile: Callable[..., Outcome], command: str
) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    if command == "yama":
        argv: list[str | Path] = ["yama", "apply", "--scope", "1", "--root", root]
    else:
        argv = ["build", PROFILE.parent, "-o", tmp_path / "dist", "--root", root]
    outcome = hostile(argv, prepare=read_only(root))
    assert outcome.code != 98, "could not make a read-only mount here"
    assert outcome.clean and outcome.code == 2, outcome
    assert "read-only" in outcome.err.lower(), outcome
    assert not (tmp_path / "dist").exists()  # nothing written when the root cannot be
