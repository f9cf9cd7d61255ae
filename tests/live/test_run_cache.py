"""``run``'s filter cache: a hit gives exactly what compiling gives, and nothing stale.

And the click-free parser of ``run``'s plain form: it takes what it fully understands and
leaves everything else to click.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from livekit import DEFAULT, policy_text

from seccompiler.commands import cli, runfast
from seccompiler.runner import filtercache

OLD = 1_000_000_000  # an mtime long settled


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    os.utime(path, (OLD, OLD))
    return path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "seccompiler"


def _rule(syscall: str) -> str:
    return f"- action: errno(EPERM)\n  syscalls: [{syscall}]\n  reason: test\n"


def test_a_hit_gives_what_compiling_gives(tmp_path: Path, cache: Path) -> None:
    policy = _write(tmp_path / "p.yaml", policy_text(_rule("mkdir")))
    first = filtercache.filters_for(str(policy))
    second = filtercache.filters_for(str(policy))
    real, audit, _ = filtercache.compile_filters(str(policy), ())
    assert (first.cached, second.cached) == (False, True)
    assert (first.real, first.audit) == (second.real, second.audit) == (real, audit)
    assert len(list(cache.iterdir())) == 1


def test_an_edited_policy_is_compiled_again(tmp_path: Path, cache: Path) -> None:
    policy = _write(tmp_path / "p.yaml", policy_text(_rule("mkdir")))
    before = filtercache.filters_for(str(policy))
    _write(policy, policy_text(_rule("rmdir")))
    after = filtercache.filters_for(str(policy))
    assert not after.cached and after.real != before.real
    assert after.real == filtercache.compile_filters(str(policy), ())[0]


def test_an_edited_base_policy_is_compiled_again(tmp_path: Path, cache: Path) -> None:
    base = _write(tmp_path / "base.yaml", policy_text(_rule("mkdir")))
    top = _write(tmp_path / "top.yaml", "seccompiler: 1\nextends: base.yaml\n")
    before = filtercache.filters_for(str(top))
    assert filtercache.filters_for(str(top)).cached
    _write(base, policy_text(_rule("rmdir")))
    after = filtercache.filters_for(str(top))
    assert not after.cached and after.real != before.real
    assert after.real == filtercache.compile_filters(str(top), ())[0]
    assert filtercache.filters_for(str(top)).cached


def test_caps_and_the_tool_are_part_of_the_key(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = _write(tmp_path / "p.yaml", policy_text(_rule("mkdir")))
    filtercache.filters_for(str(policy))
    assert not filtercache.filters_for(str(policy), ("all",)).cached
    assert filtercache.filters_for(str(policy), ("all",)).cached
    monkeypatch.setattr(filtercache, "_tool", "0.0.0+another-build")
    assert not filtercache.filters_for(str(policy)).cached


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],  # truncated
        lambda b: b.replace(b"\nreal ", b"\nreal 00"),  # a filter edited
        lambda b: b.replace(b"\naudit ", b"\naudit 0000000000000000"),  # an instruction added
        lambda b: b"",
        lambda b: b"\xff" * 100,
    ],
)
def test_a_damaged_entry_is_a_miss_and_is_replaced(
    tmp_path: Path, cache: Path, damage: object
) -> None:
    policy = _write(tmp_path / "p.yaml", policy_text(_rule("mkdir")))
    good = filtercache.filters_for(str(policy))
    [entry] = cache.iterdir()
    assert callable(damage)
    entry.write_bytes(damage(entry.read_bytes()))
    again = filtercache.filters_for(str(policy))
    assert not again.cached and (again.real, again.audit) == (good.real, good.audit)
    assert filtercache.filters_for(str(policy)).cached


def test_a_file_written_just_now_is_not_cached(tmp_path: Path, cache: Path) -> None:
    # Timestamps are coarse: a file this fresh may still change under the same digest time.
    policy = tmp_path / "p.yaml"
    policy.write_text(policy_text(_rule("mkdir")))
    filtercache.filters_for(str(policy))
    assert not filtercache.filters_for(str(policy)).cached


def test_no_usable_cache_still_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where the folder would be
    policy = _write(tmp_path / "p.yaml", policy_text(_rule("mkdir")))
    got = filtercache.filters_for(str(policy))
    assert not got.cached and got.real == filtercache.compile_filters(str(policy), ())[0]
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("HOME")
    assert filtercache.cache_dir() is None


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/x/cache")
    assert filtercache.cache_dir() == "/x/cache/seccompiler"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # ignored, as the XDG spec says
    monkeypatch.setenv("HOME", "/home/u")
    assert filtercache.cache_dir() == "/home/u/.cache/seccompiler"


P = str(DEFAULT)
PARSED = [
    (["--profile", P, "--", "true"], runfast.RunArgs(P, False, None, (), ("true",))),
    (
        ["--audit", f"--profile={P}", "--caps", "all", "--report=r.json", "--", "ls", "-l"],
        runfast.RunArgs(P, True, "r.json", ("all",), ("ls", "-l")),
    ),
    (
        ["--profile", P, "--", "sh", "--", "-x"],
        runfast.RunArgs(P, False, None, (), ("sh", "--", "-x")),
    ),
    (["--profile", P, "true"], None),  # no --: click decides what is an option
    (["--profile", P, "--"], None),  # nothing to run
    (["--", "true"], None),  # no profile
    (["--profile", P, "--profile", P, "--", "true"], None),
    (["--profile", P, "--verbose", "--", "true"], None),  # unknown option
    (["-h", "--", "true"], None),
    (["--profile", "/", "--", "true"], None),  # a directory: click's error
    (["--profile", "--audit", "--", "true"], None),
]


@pytest.mark.parametrize(("args", "parsed"), PARSED)
def test_plain_run_arguments(args: list[str], parsed: runfast.RunArgs | None) -> None:
    assert runfast.parse(args) == parsed


def test_click_still_answers_what_the_plain_parser_leaves(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a directory for a profile: run's own failure, as a missing profile is (docker run's 125)
    assert cli.main(["run", "--profile", "/", "--", "true"]) == 125
    assert "directory" in capsys.readouterr().err
    assert cli.main(["run", "--help"]) == 0
    assert "--audit" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arg", ["keisson-default", "keisson-strict", "no-such-profile", str(DEFAULT), "", "-", "a.yaml"]
)
def test_bundled_names_resolve_as_the_frontend_resolves_them(arg: str) -> None:
    from seccompiler.frontend import bundled

    assert os.path.realpath(filtercache.resolve_name(arg)) == os.path.realpath(bundled.resolve(arg))


def test_a_bundled_profile_by_name_is_cached(cache: Path) -> None:
    first = filtercache.filters_for("keisson-default")
    again = filtercache.filters_for("keisson-default")
    assert (first.cached, again.cached) == (False, True) and again.real == first.real
    assert again.real == filtercache.filters_for(str(DEFAULT)).real


def test_the_tool_fingerprint_follows_every_file_of_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "mod.py").write_text("x = 1\n")
    (pkg / "data" / "t.tsv").write_text("a\n")
    (pkg / "linked").symlink_to(pkg / "data")  # as a checkout links profiles/ in
    (pkg / "dangling").symlink_to(tmp_path / "nowhere")

    def fingerprint() -> str:
        monkeypatch.setattr(filtercache, "_tool", None)
        monkeypatch.setattr(filtercache, "_PACKAGE", str(pkg))
        return filtercache.tool_fingerprint()

    seen = {fingerprint()}
    for path, text in [(pkg / "mod.py", "x = 2\n"), (pkg / "data" / "t.tsv", "b\n")]:
        stat = path.stat()
        path.write_text(text)  # same size, and the old times put back: the ctime still moves
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        seen.add(fingerprint())
    (pkg / "data" / "new.tsv").write_text("")
    seen.add(fingerprint())
    assert len(seen) == 4
    assert fingerprint() in seen  # and nothing else moves it
