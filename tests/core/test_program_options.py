"""Commands that run a program: which arguments are theirs and which the program's.

Everything from the program's name on (or after ``--``) is the program's, options included;
an option before it that the command does not know is a usage error, and nothing runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest

from seccompiler.commands.cli import main
from seccompiler.commands.image import image_record_cmd, image_test_cmd
from seccompiler.commands.record import record_cmd
from seccompiler.commands.run import run_cmd

P = "p.yaml"

# (command, its arguments, what it reads: parameter → value)
PARSED: list[tuple[click.Command, list[str], dict[str, Any]]] = [
    (run_cmd, ["--profile", P, "--", "prog", "--flag"], {"command": ("prog", "--flag")}),
    (
        run_cmd,
        ["--profile", P, "prog", "--audit"],
        {"command": ("prog", "--audit"), "audit": False},
    ),
    (run_cmd, ["--audit", "--profile", P, "prog", "--", "-x"], {"command": ("prog", "--", "-x")}),
    (run_cmd, ["--profile", P, "--caps", "all", "prog"], {"caps": ("all",), "command": ("prog",)}),
    (run_cmd, ["--profile=p", "prog", "--profile", "q"], {"policy": "p"}),
    (run_cmd, ["--profile", P, "--", "--audit"], {"command": ("--audit",), "audit": False}),
    (run_cmd, ["--profile", P, "-", "x"], {"command": ("-", "x")}),
    (
        record_cmd,
        ["-o", "o.yaml", "prog", "-o", "x"],
        {"output": "o.yaml", "command": ("prog", "-o", "x")},
    ),
    (record_cmd, ["-oo.yaml", "prog", "--base", "b"], {"output": "o.yaml", "base": None}),
    (record_cmd, ["--timeout", "5", "--", "prog"], {"timeout": 5.0, "command": ("prog",)}),
    (
        image_test_cmd,
        ["img", "--profile", P, "prog", "--tests", "t"],
        {"image": "img", "tests_path": None, "command": ("prog", "--tests", "t")},
    ),
    (
        image_test_cmd,
        ["--profile", P, "img", "--timeout", "5", "prog", "-x"],
        {"image": "img", "timeout": 5.0, "command": ("prog", "-x")},
    ),
    (image_test_cmd, ["img", "--profile", P, "--tests", "t"], {"tests_path": "t", "command": ()}),
    (image_record_cmd, ["img", "--name", "n", "--", "prog"], {"name": "n", "command": ("prog",)}),
    (
        image_record_cmd,
        ["img", "prog", "--name", "n"],
        {"name": None, "command": ("prog", "--name", "n")},
    ),
]


@pytest.mark.parametrize(("command", "args", "want"), PARSED)
def test_what_belongs_to_the_program(
    command: click.Command, args: list[str], want: dict[str, Any]
) -> None:
    with command.make_context(command.name or "", list(args)) as ctx:
        assert {k: ctx.params[k] for k in want} == want


# (arguments with an option mistyped before the program; MARK is what the program would make)
UNKNOWN: list[list[str]] = [
    ["run", "--profile", P, "--audti", "--", "touch", "MARK"],
    ["run", "--bogus", "--profile", P, "touch", "MARK"],
    ["run", "--profile", P, "--bogus", "touch", "MARK"],
    ["record", "--bogus", "--", "touch", "MARK"],
    ["record", "-o", "o.yaml", "--bogus", "touch", "MARK"],
    ["image", "test", "img", "--profile", P, "--bogus", "--", "touch", "MARK"],
    ["image", "test", "--bogus", "img", "--profile", P, "touch", "MARK"],
    ["image", "record", "img", "--bogus", "touch", "MARK"],
]


@pytest.mark.parametrize("argv", UNKNOWN, ids=[" ".join(a[:4]) for a in UNKNOWN])
def test_an_unknown_option_is_a_usage_error_and_nothing_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / P).write_text("seccompiler: 1\nname: p\ndefault: allow\n")
    (tmp_path / "img").mkdir()
    assert main(argv) == 2
    err = capsys.readouterr().err
    bad = next(a for a in argv if a in ("--audti", "--bogus"))
    assert f"No such option '{bad}'" in err
    assert not (tmp_path / "MARK").exists()
