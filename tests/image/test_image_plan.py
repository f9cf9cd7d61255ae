"""Run plans (user, PATH lookup inside the root, WorkingDir), the tests file, and judging."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from imagekit import BUSYBOX, busybox_image

from seccompiler.base.errors import InputError
from seccompiler.image.config import ImageConfig
from seccompiler.image.plan import (
    CommandError,
    ExecPlan,
    make_plan,
    resolve_in_root,
    resolve_user,
)
from seccompiler.image.runner import Outcome, Refusal, judge, render_summary, run_tests
from seccompiler.image.testfile import ImageTest, parse_tests


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "bin").mkdir(parents=True)
    (r / "usr" / "bin").mkdir(parents=True)
    (r / "etc").mkdir()
    (r / "work").mkdir()
    prog = r / "usr" / "bin" / "prog"
    prog.write_text("#!/bin/sh\n")
    prog.chmod(0o755)
    (r / "usr" / "bin" / "data").write_text("x")
    (r / "bin" / "abs").symlink_to("/usr/bin/prog")
    (r / "bin" / "rel").symlink_to("../usr/bin/prog")
    (r / "bin" / "climb").symlink_to("../../../../usr/bin/prog")
    (r / "bin" / "loop").symlink_to("loop")
    (r / "bin" / "host").symlink_to(tmp_path)  # absolute: means <root>/<tmp_path> inside
    (r / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\nbad:x:zz:1::/:/bin/sh\n"
    )
    (r / "etc" / "group").write_text("root:x:0:\napp:x:1001:\nextra:x:2000:app,other\n")
    return r


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/usr/bin/prog", "/usr/bin/prog"),
        ("/bin/abs", "/usr/bin/prog"),
        ("/bin/rel", "/usr/bin/prog"),
        ("/bin/climb", "/usr/bin/prog"),  # '..' stops at the root, as in a chroot
        ("/../../usr/bin/prog", "/usr/bin/prog"),
        ("/bin/loop", None),
        ("/bin/host/root/usr/bin/prog", None),  # never escapes to the host path
        ("/usr/bin/data/x", None),
        ("/missing", None),
    ],
)
def test_resolve_in_root(root: Path, path: str, want: str | None) -> None:
    assert resolve_in_root(root, path) == want


@pytest.mark.parametrize(
    ("user", "want"),
    [
        ("", (0, 0, (), "/")),
        ("app", (1000, 1001, (2000,), "/home/app")),
        ("1000", (1000, 1001, (2000,), "/home/app")),
        ("app:root", (1000, 0, (2000,), "/home/app")),
        ("4242", (4242, 0, (), "/")),
        ("4242:4343", (4242, 4343, (), "/")),
    ],
)
def test_resolve_user(root: Path, user: str, want: tuple[object, ...]) -> None:
    assert resolve_user(root, user) == want


@pytest.mark.parametrize("user", ["ghost", "app:ghosts", "bad"])
def test_unknown_users_are_refused(root: Path, user: str) -> None:
    with pytest.raises(CommandError) as info:
        resolve_user(root, user)
    assert info.value.status == 125


def test_plan_uses_the_config(root: Path) -> None:
    cfg = ImageConfig(
        env=("PATH=/bin:/usr/bin", "A=1"),
        working_dir="work",
        user="app",
        entrypoint=("prog",),
        cmd=("--flag",),
    )
    plan = make_plan(root, cfg)
    assert plan.argv == ("/usr/bin/prog", "--flag")
    assert plan.cwd == "/work"
    assert (plan.uid, plan.gid, plan.groups) == (1000, 1001, (2000,))
    assert plan.env == {"PATH": "/bin:/usr/bin", "A": "1", "HOME": "/home/app"}
    # a command given on the command line replaces Entrypoint and Cmd
    assert make_plan(root, cfg, ("abs", "x")).argv == ("/bin/abs", "x")


@pytest.mark.parametrize(
    ("argv", "status"),
    [(("nothere",), 127), (("/usr/bin/nothere",), 127), (("data",), 126), (("/usr",), 126)],
)
def test_program_not_found_or_not_executable(
    root: Path, argv: tuple[str, ...], status: int
) -> None:
    with pytest.raises(CommandError) as info:
        make_plan(root, ImageConfig(env=("PATH=/usr/bin",)), argv)
    assert (info.value.status, info.value.program) == (status, argv[0])


def test_no_command_and_bad_workdir(root: Path) -> None:
    with pytest.raises(CommandError) as info:
        make_plan(root, ImageConfig())
    assert info.value.status == 125
    with pytest.raises(CommandError) as info:
        make_plan(root, ImageConfig(working_dir="/nope"), ("prog",))
    assert info.value.status == 125


@pytest.mark.parametrize(
    ("config", "argv"),
    [
        (ImageConfig(), ("prog\0",)),
        (ImageConfig(), ("prog", "a\0b")),
        (ImageConfig(env=("PATH=/usr/bin\0:/bin",)), ("prog",)),
        (ImageConfig(env=("A\0=1",)), ("prog",)),
        (ImageConfig(user="nul"), ("prog",)),  # its home in /etc/passwd holds a NUL
    ],
)
def test_nul_bytes_are_refused_before_any_lookup(
    root: Path, config: ImageConfig, argv: tuple[str, ...]
) -> None:
    with (root / "etc" / "passwd").open("a") as passwd:
        passwd.write("nul:x:7:7::/home/\0:/bin/sh\n")
    with pytest.raises(CommandError) as info:
        make_plan(root, config, argv)
    assert info.value.status == 125
    assert "NUL" in info.value.message


@pytest.mark.parametrize(
    "plan",
    [
        {"argv": ("/bin/true", "\0")},
        {"argv": ("/bin/true",), "env": {"A": "\0"}},
        {"argv": ("/bin/true",), "cwd": "/\0"},
    ],
)
def test_an_exec_plan_holds_no_nul_byte(plan: dict[str, Any]) -> None:
    with pytest.raises(CommandError) as info:
        ExecPlan(**plan)
    assert info.value.status == 125


@pytest.mark.skipif(not BUSYBOX.exists(), reason="needs busybox-static (make test-deps)")
def test_busybox_rootfs_plan(tmp_path: Path) -> None:
    root = busybox_image(tmp_path, "rootfs")
    assert make_plan(root, ImageConfig(), ("uname", "-a")).argv == ("/bin/uname", "-a")


# ------------------------------------------------------------------------ tests.yaml


def test_parse_tests() -> None:
    tests = parse_tests(
        "tests:\n"
        "  - command: [uname, -s]\n    output: Linux\n"
        "  - name: fails\n    command: sh -c 'exit 3'\n    status: 3\n    timeout: 5\n"
        "  - ls /\n",
        "t.yaml",
    )
    assert [t.name for t in tests] == ["uname -s", "fails", "ls /"]
    assert tests[0].argv == ("uname", "-s") and tests[0].output == "Linux"
    assert tests[1].argv == ("sh", "-c", "exit 3") and tests[1].status == 3
    assert tests[1].timeout == 5.0
    assert tests[1].location is not None and tests[1].location.line == 4


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("tests: []\n", 1, "non-empty"),
        ("nope: 1\n", 1, "'tests'"),
        ("tests:\n  - commnd: [ls]\n", 2, "did you mean 'command'"),
        ("tests:\n  - command: []\n", 2, "empty"),
        ("tests:\n  - command: [ls]\n    status: 300\n", 3, "0 to 255"),
        ("tests:\n  - command: [ls]\n    status: yes\n", 3, "0 to 255"),
        ("tests:\n  - command: [ls]\n    output: 3\n", 3, "string"),
        ("tests:\n  - command: [ls]\n    timeout: 0\n", 3, "seconds"),
        ('tests:\n  - command: "sh -c \'x"\n', 2, "split"),
        ("tests:\n  - ls\n  - ls\n", 3, "two tests"),
        ("tests:\n  - {name: 3, command: ls}\n", 2, "name"),
        ("tests:\n  - 5\n", 2, "mapping"),
        ("tests:\n  - command: [ls]\nextra: 1\n", 3, "unknown key"),
        ('tests:\n  - command: "a\\x00b"\n', 2, "argument 0 of the command holds a NUL"),
        ('tests:\n  - [ls, "\\0"]\n', 2, "argument 1 of the command holds a NUL"),
    ],
)
def test_bad_tests_files_are_located(text: str, line: int, words: str) -> None:
    with pytest.raises(InputError) as info:
        parse_tests(text, "t.yaml")
    err = info.value
    assert err.location is not None and (err.location.path, err.location.line) == ("t.yaml", line)
    assert words in err.message + err.hint


# ------------------------------------------------------------------------ judging

T = ImageTest("t", ("x",), status=0, output="ok")
REF = (Refusal(1, "/bin/x", "x86_64", "uname", (0,), "errno(EPERM)", 2),)


@pytest.mark.parametrize(
    ("baseline", "profiled", "verdict"),
    [
        (Outcome(0, b"ok\n"), Outcome(0, b"ok\n"), "pass"),
        (Outcome(0, b"ok\n"), Outcome(1, b"ok\n", REF), "differs"),
        (Outcome(0, b"ok\n"), Outcome(0, b"nope\n", REF), "differs"),
        (Outcome(2, b"ok\n"), Outcome(2, b"ok\n"), "fails"),
        (Outcome(0, b"no\n"), Outcome(0, b"no\n"), "fails"),
        (Outcome(0, b"no\n"), Outcome(0, b"ok\n"), "differs"),
        (Outcome(0, b"ok\n"), Outcome(0, b"ok\n", REF), "pass"),  # refused but harmless
    ],
)
def test_judge(baseline: Outcome, profiled: Outcome, verdict: str) -> None:
    assert judge(T, baseline, profiled).verdict == verdict


def test_run_tests_runs_each_both_ways_and_renders() -> None:
    calls: list[tuple[str, bool]] = []

    def fake(plan: object, with_profile: bool, timeout: float) -> Outcome:
        name = plan.argv[0]  # type: ignore[attr-defined]
        calls.append((name, with_profile))
        if name == "/bin/uname" and with_profile:
            return Outcome(1, b"uname: Operation not permitted\n", REF)
        return Outcome(0, b"ok\n")

    from seccompiler.image.plan import ExecPlan

    tests = [ImageTest("a", ("true",)), ImageTest("b", ("uname",))]
    plans = [ExecPlan(("/bin/true",)), ExecPlan(("/bin/uname",))]
    summary = run_tests(tests, plans, fake)
    assert calls == [
        ("/bin/true", False),
        ("/bin/true", True),
        ("/bin/uname", False),
        ("/bin/uname", True),
    ]
    assert [r.verdict for r in summary.results] == ["pass", "differs"]
    assert not summary.ok
    text = render_summary(summary)
    assert "b: exit 0 without the profile, 1 with it" in text
    assert "uname" in text.splitlines()[2]
    assert "| uname: Operation not permitted" in text
