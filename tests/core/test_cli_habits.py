"""Habits every command shares: whole one-line helps, '-o -', streams, JSON, completion.

Most cases run the CLI in this process (``cli.main``, output captured at the file
descriptors); the few that need the real streams of a separate process (``record``'s
workload, shell completion) run the console script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from seccompiler.commands.cli import COMMANDS, main
from seccompiler.commands.group import cli

REPO = Path(__file__).resolve().parents[2]
EXE = Path(sys.executable).parent / "seccompiler"
SMALL = (
    "seccompiler: 1\nname: small\nabis: [x86_64]\ndefault: allow\nrules:\n"
    "  - {action: errno(EPERM), syscalls: [uselib]}\n"
)
PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}],
}


# --- one-line helps -----------------------------------------------------------------------------


def _groups() -> list[tuple[list[str], click.Group]]:
    """Every group of the CLI with the words that reach it: the top level and each subgroup."""
    out: list[tuple[list[str], click.Group]] = [([], cli)]
    ctx = click.Context(cli)
    for name in COMMANDS:
        cmd = cli.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            out.append(([name], cmd))
    return out


def _listing(words: list[str], columns: int) -> list[str]:
    """The lines of the 'Commands:' section of ``seccompiler WORDS --help``."""
    result = CliRunner().invoke(cli, [*words, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    return lines[lines.index("Commands:") + 1 :]


@pytest.mark.parametrize(
    ("words", "group"), _groups(), ids=[" ".join(w) or "top" for w, _ in _groups()]
)
def test_every_listing_shows_each_short_help_whole_on_one_line(
    words: list[str], group: click.Group
) -> None:
    ctx = click.Context(group)
    names = group.list_commands(ctx)
    rows = _listing(words, 80)
    assert len(rows) == len(names), rows  # one line per command: none wrapped at 80 columns
    for name, row in zip(names, rows, strict=True):
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        whole = cmd.get_short_help_str(limit=10_000)
        assert row.split(None, 1) == [name, whole], row
        assert whole.endswith(".") and not whole.endswith("..."), f"{name}: {whole!r}"
        assert len(whole) <= 62, f"{name}: {whole!r} does not fit a listing in 80 columns"


@pytest.mark.parametrize(
    ("words", "group"), _groups(), ids=[" ".join(w) or "top" for w, _ in _groups()]
)
def test_a_narrow_terminal_wraps_the_listing_instead_of_cutting_it(
    words: list[str], group: click.Group
) -> None:
    text = " ".join(" ".join(_listing(words, 50)).split())
    assert "..." not in text and "…" not in text
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None and cmd.get_short_help_str(limit=10_000) in text


# --- '-o -' -------------------------------------------------------------------------------------


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A working directory with a policy, a JSON profile, a raw filter and its listing."""
    os.chdir(tmp_path)
    (tmp_path / "small.yaml").write_text(SMALL)
    (tmp_path / "profile.json").write_text(json.dumps(PROFILE))
    assert main(["compile", "small.yaml", "-o", "out", "--format", "bpf"]) == 0
    assert main(["bpf", "disasm", "out/bpf/x86_64.bpf", "-o", "small.s"]) == 0
    return tmp_path


# command -> (what must be on standard output)
TO_STDOUT: dict[str, tuple[list[str], bytes]] = {
    "bpf disasm": (["bpf", "disasm", "out/bpf/x86_64.bpf", "-o", "-"], b"ret ALLOW"),
    "bpf asm": (["bpf", "asm", "small.s", "-o", "-"], b""),  # compared with the filter below
    "import": (["import", "profile.json", "-o", "-"], b"seccompiler: 1"),
    "pss label": (["pss", "label", "apps", "--level", "baseline", "-o", "-"], b"kind: Namespace"),
    "pss guard": (["pss", "guard", "-o", "-"], b"kind: ValidatingAdmissionPolicy"),
    "yama apply": (["yama", "apply", "--scope", "1", "-o", "-"], b"kernel.yama.ptrace_scope = 1"),
}


@pytest.mark.parametrize("name", TO_STDOUT)
def test_dash_output_is_standard_output_for_a_single_file(
    name: str, work: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    argv, wanted = TO_STDOUT[name]
    capfdbinary.readouterr()
    assert main(argv) == 0
    out = capfdbinary.readouterr().out
    if name == "bpf asm":
        assert out == (work / "out/bpf/x86_64.bpf").read_bytes()
    else:
        assert wanted in out
    assert not (work / "-").exists()


def test_record_dash_output_keeps_the_workload_off_standard_output(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(EXE), "record", "-o", "-", "--", "sh", "-c", "echo $((6 * 7))x"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# Recorded by 'seccompiler record'")
    assert "seccompiler: 1" in proc.stdout
    assert "42x" not in proc.stdout
    assert "42x\n" in proc.stderr
    assert not (tmp_path / "-").exists()


# command -> the option that names a directory (or a file standard output cannot take)
REFUSED: dict[str, tuple[list[str], str]] = {
    "compile": (["compile", "small.yaml", "-o", "-"], "'-o -'"),
    "build": (["build", "-o", "-"], "'-o -'"),
    "build --root": (["build", "-o", "dist", "--root", "-"], "'--root -'"),
    "node install": (["node", "install", "--from", "out", "--root", "-"], "'--root -'"),
    "yama apply --root": (["yama", "apply", "--scope", "1", "--root", "-"], "'--root -'"),
    "run --report": (["run", "--profile", "small.yaml", "--report", "-", "--", "true"], "--report"),
    "image test --report": (
        ["image", "test", ".", "--profile", "small.yaml", "--report", "-", "--", "true"],
        "--report",
    ),
}


@pytest.mark.parametrize("name", REFUSED)
def test_dash_output_is_refused_where_a_directory_is_needed(
    name: str, work: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    argv, option = REFUSED[name]
    capfd.readouterr()
    assert main(argv) == 2
    out, err = capfd.readouterr()
    assert out == ""
    assert option in err and "standard output" in err, err
    assert "Traceback" not in err
    assert not (work / "-").exists()
