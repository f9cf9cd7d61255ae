"""Habits every command shares: whole one-line helps, '-o -', streams, JSON, completion.

Most cases run the CLI in this process (``cli.main``, output captured at the file
descriptors); the few that need the real streams of a separate process (``record``'s
workload, shell completion) run the console script.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a policy, a JSON profile, a raw filter and its listing."""
    monkeypatch.chdir(tmp_path)
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


# --- streams: results on stdout, notes and errors on stderr --------------------------------------

BAD_ARCH = (
    "seccompiler: 1\nname: ba\nabis: [x86_64, x86]\ndefault: allow\nbad-arch: errno(EPERM)\n"
    "rules:\n  - {action: errno(EPERM), syscalls: [uselib]}\n"
)
NEWER = {**PROFILE, "syscalls": [{"names": ["read", "mseal"], "action": "SCMP_ACT_ALLOW"}]}
POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n"
POD += "  - {name: a, image: x, securityContext: {privileged: true}}\n"


@pytest.fixture
def streams(work: Path) -> Path:
    """``work``, plus inputs whose commands print notes, and a fake /proc with YAMA."""
    (work / "ba.yaml").write_text(BAD_ARCH)
    (work / "bad.yaml").write_text(SMALL.replace("uselib", "uselbi"))
    (work / "newer.json").write_text(json.dumps(NEWER))
    (work / "pod.yaml").write_text(POD)
    (work / "proc/sys/kernel/yama").mkdir(parents=True)
    (work / "proc/sys/kernel/yama/ptrace_scope").write_text("1\n")
    (work / "proc/cmdline").write_text("quiet\n")
    (work / "noyama/sys/kernel").mkdir(parents=True)
    (work / "noyama/cmdline").write_text("quiet\n")
    return work


JSON = "<json>"  # stdout is one JSON document and nothing else
EMPTY = ""  # the stream is empty
# name -> (argv, exit status, what stdout holds, what stderr holds)
STREAMS: dict[str, tuple[list[str], int, str, str]] = {
    "syscalls": (["syscalls", "openat", "--abi", "x86"], 0, "openat", EMPTY),
    "syscalls unknown": (["syscalls", "opnat"], 1, EMPTY, "error: unknown syscall 'opnat'"),
    "compile": (["compile", "ba.yaml", "-o", "o"], 0, "wrote o/bpf/x86_64.bpf", "note: oci/"),
    "compile json": (["compile", "ba.yaml", "-o", "o", "--format", "json"], 0, JSON, "note: oci/"),
    "compile error": (["compile", "bad.yaml", "-o", "o"], 1, EMPTY, "unknown syscall 'uselbi'"),
    "verify": (["verify", "small.yaml"], 0, "x86_64: all 2^32 numbers", EMPTY),
    "verify json": (["verify", "small.yaml", "--format", "json"], 0, JSON, EMPTY),
    "verify raw bpf": (["verify", "out/bpf/x86_64.bpf"], 2, EMPTY, "error: out/bpf/x86_64.bpf"),
    "stats note": (["stats", "newer.json"], 0, "instructions", "note: libseccomp"),
    "stats json": (["stats", "newer.json", "--format", "json"], 0, JSON, "note: libseccomp"),
    "diff": (["diff", "small.yaml", "profile.json", "--abi", "x86_64"], 1, "A: small", EMPTY),
    "diff json": (["diff", "small.yaml", "small.yaml", "--format", "json"], 0, JSON, EMPTY),
    "lint json": (["lint", "small.yaml", "--format", "json"], 1, JSON, EMPTY),  # findings
    "import": (["import", "profile.json"], 0, "seccompiler: 1", EMPTY),
    "bpf emulate": (
        ["bpf", "emulate", "out/bpf/x86_64.bpf", "--abi", "x86_64", "--syscall", "uselib"],
        0,
        "errno(EPERM)",
        EMPTY,
    ),
    "bpf disasm missing": (["bpf", "disasm", "nope.bpf"], 2, EMPTY, "nope.bpf"),
    "pss check": (["pss", "check", "pod.yaml"], 1, 'pods "a" is forbidden', EMPTY),
    "pss check json": (["pss", "check", "pod.yaml", "--format", "json"], 1, JSON, EMPTY),
    "pss label warning": (
        ["pss", "label", "apps", "--level", "baseline", "--version", "v1.20"],
        0,
        "kind: Namespace",
        "Warning: enforce-version v1.20",
    ),
    "pss guard -o": (["pss", "guard", "-o", "."], 0, "wrote pod-security-guard.yaml", EMPTY),
    "yama status": (["yama", "status", "--proc-root", "proc"], 0, "ptrace_scope = 1", EMPTY),
    "yama absent": (["yama", "status", "--proc-root", "noyama"], 3, EMPTY, "YAMA"),
    "yama check json": (
        ["yama", "check", "--scope", "1", "--proc-root", "proc", "--format", "json"],
        0,
        JSON,
        EMPTY,
    ),
    "image test bad policy": (
        ["image", "test", ".", "--profile", "bad.yaml", "--", "true"],
        125,
        EMPTY,
        "the policy bad.yaml does not compile",
    ),
    "node install missing": (
        ["node", "install", "--from", "nowhere", "--root", "."],
        2,
        EMPTY,
        "nowhere: no such directory",
    ),
    "usage error": (["compile", "small.yaml"], 2, EMPTY, "Missing option '-o'"),
}


@pytest.mark.parametrize("name", STREAMS)
def test_results_go_to_stdout_and_notes_to_stderr(
    name: str, streams: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    argv, status, out_holds, err_holds = STREAMS[name]
    capfd.readouterr()
    assert main(argv) == status
    out, err = capfd.readouterr()
    if out_holds == JSON:
        json.loads(out)  # the whole of stdout is one document
    elif out_holds == EMPTY:
        assert out == ""
    else:
        assert out_holds in out
    if err_holds == EMPTY:
        assert err == ""
    else:
        assert err_holds in err
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    ("argv", "stdout"),
    [
        (
            ["run", "--profile", "small.yaml", "--audit", "--", "sh", "-c", "echo $((6 * 7))x"],
            "42x\n",
        ),
        (["test", "small.yaml", "--syscalls", "uselib,getpid"], "0 mismatches"),
    ],
    ids=["run", "test"],
)
def test_programs_run_keep_their_streams(work: Path, argv: list[str], stdout: str) -> None:
    """``run`` leaves stdout to the program (its report goes to stderr); ``test`` reports on
    stdout, its progress on stderr only on a terminal."""
    proc = subprocess.run([str(EXE), *argv], cwd=work, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    if argv[0] == "run":
        assert proc.stdout == stdout
        assert "audit: no syscall was refused" in proc.stderr
    else:
        assert stdout in proc.stdout and proc.stderr == ""


# --- --format json: what a pipeline reads ------------------------------------------------------


def _json(
    capfd: pytest.CaptureFixture[str], argv: list[str], status: int | None = 0
) -> dict[str, Any]:
    capfd.readouterr()
    rc = main(argv)
    assert status is None or rc == status
    doc = json.loads(capfd.readouterr().out)
    assert isinstance(doc, dict)
    return doc


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_compile_json_lists_each_file_written_with_its_digest_and_each_abis_proof(
    streams: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    doc = _json(capfd, ["compile", "ba.yaml", "-o", "o", "--format", "bpf,json"])
    assert (doc["policy"], doc["name"], doc["abis"]) == ("ba.yaml", "ba", ["x86_64", "x86"])
    [bpf] = doc["outputs"]
    assert (bpf["format"], bpf["family"], bpf["path"]) == ("bpf", "x86_64", "o/bpf/x86_64.bpf")
    assert bpf["sha256"] == _sha256("o/bpf/x86_64.bpf")
    assert bpf["bytes"] == (streams / "o/bpf/x86_64.bpf").stat().st_size
    [proof] = doc["proofs"]
    assert proof["ok"] and proof["family"] == "x86_64" and proof["method"] == "symbolic"
    assert [a["abi"] for a in proof["abis"]] == ["x86_64", "x86", "other arches"]
    assert all(a["agrees"] and a["classes"] > 0 for a in proof["abis"])
    assert doc["notes"] == []  # the bad-arch note is about OCI JSON, not written here
    doc = _json(capfd, ["compile", "ba.yaml", "-o", "o", "--format", "json"])
    assert sorted(o["format"] for o in doc["outputs"]) == ["bpf", "oci", "pfc"]
    assert any("bad-arch is errno(EPERM)" in n for n in doc["notes"])
    capfd.readouterr()
    assert main(["compile", "ba.yaml", "-o", "o", "--format", "text,json"]) == 2


def test_verify_json_gives_the_verdict_per_abi_and_each_disagreement(
    streams: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    doc = _json(capfd, ["verify", "small.yaml", "--format", "json"])
    assert doc["ok"] is True and doc["bpf"] is None
    [report] = doc["reports"]
    assert [(a["abi"], a["agrees"]) for a in report["abis"]] == [
        ("x86_64", True),
        ("other arches", True),
    ]
    # the filter of a policy that allows uselib, checked against one that refuses it
    (streams / "allow.yaml").write_text(SMALL.replace("errno(EPERM)", "allow"))
    assert main(["compile", "allow.yaml", "-o", "allow", "--format", "bpf"]) == 0
    argv = ["verify", "small.yaml", "--bpf", "allow/bpf/x86_64.bpf", "--format", "json"]
    doc = _json(capfd, argv, status=1)
    assert doc["ok"] is False and doc["bpf"] == "allow/bpf/x86_64.bpf"
    [report] = doc["reports"]
    assert {(d["syscall"], d["policy"], d["filter"]) for d in report["disagreements"]} == {
        ("uselib", "errno(EPERM)", "allow")
    }
    doc = _json(capfd, ["verify", "newer.json", "--format", "json"], status=None)
    assert doc["notes"] == [f"libseccomp {_libseccomp()} does not know: mseal"]


def _libseccomp() -> str:
    from seccompiler.prove import libseccomp_ref

    return libseccomp_ref.version()


def test_build_json_lists_every_file_with_its_digest_and_check_lists_differences(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    doc = _json(capfd, ["build", "-o", "dist", "--format", "json"])
    files = {f["path"]: f for f in doc["files"]}
    on_disk = sorted(str(p) for p in Path("dist").rglob("*") if p.is_file())
    assert sorted(files) == on_disk and "dist/MANIFEST.json" in files
    assert all(f["sha256"] == _sha256(path) for path, f in files.items())
    assert doc["installed"] == []
    proofs = {(p["profile"], p["family"]): p for p in doc["proofs"]}
    assert ("keisson-default", "x86_64") in proofs and all(p["ok"] for p in proofs.values())
    x86 = next(a for a in proofs[("keisson-default", "x86_64")]["abis"] if a["abi"] == "x86")
    assert x86["agrees"] and x86["classes"] > 100  # the symbolic proof, per ABI
    assert any("runc-1.1.5" in line for line in doc["runtime_checks"]), doc["runtime_checks"]
    doc = _json(capfd, ["build", "-o", "dist", "--check", "--format", "json"])
    assert (doc["up_to_date"], doc["differences"], doc["files"]) == (True, [], len(files))
    Path("dist/MANIFEST.json").unlink()
    doc = _json(capfd, ["build", "-o", "dist", "--check", "--format", "json"], status=1)
    assert doc["differences"] == [{"kind": "missing", "path": "dist/MANIFEST.json"}]


def test_yama_json_reports_status_apply_and_check(
    streams: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    proc = ["--proc-root", "proc", "--format", "json"]
    doc = _json(capfd, ["yama", "status", *proc])
    assert (doc["sysctl"], doc["scope"], doc["name"]) == (
        "kernel.yama.ptrace_scope",
        1,
        "restricted",
    )
    doc = _json(capfd, ["yama", "apply", "--scope", "2", *proc])
    assert (doc["before"], doc["scope"], doc["wrote"]) == (1, 2, None)
    assert (streams / "proc/sys/kernel/yama/ptrace_scope").read_text().strip() == "2"
    (streams / "img").mkdir()
    doc = _json(capfd, ["yama", "apply", "--scope", "1", "--root", "img", "--format", "json"])
    assert (doc["before"], doc["wrote"]) == (None, "img/etc/sysctl.d/60-keisson-yama.conf")
    doc = _json(capfd, ["yama", "check", "--scope", "1", "--root", "img", "--format", "json"])
    assert doc["ok"] is True and doc["scope"]["wanted"] == 1 and doc["live"] is None
    doc = _json(capfd, ["yama", "check", "--scope", "1", *proc], status=1)
    assert doc["ok"] is False and "2" in doc["scope"]["reason"]
    capfd.readouterr()
    assert main(["yama", "apply", "--scope", "1", "-o", "-", "--format", "json"]) == 2


# --- shell completion ---------------------------------------------------------------------------


def _complete(env: dict[str, str], shell_words: str | None = None) -> str:
    full = {**os.environ, **env, "PATH": f"{EXE.parent}:{os.environ.get('PATH', '')}"}
    argv = ["bash", "-c", shell_words] if shell_words else [str(EXE)]
    return subprocess.run(
        argv, env=full, capture_output=True, text=True, timeout=60, check=True
    ).stdout


def test_bash_completion_script_loads_and_completes_subcommands_and_options() -> None:
    script = 'eval "$(_SECCOMPILER_COMPLETE=bash_source seccompiler)"; '
    line = "COMP_WORDS=(seccompiler bpf d); COMP_CWORD=2; _seccompiler_completion seccompiler; "
    shown = _complete({}, script + line + 'echo "${COMPREPLY[@]}"')
    assert shown.split() == ["disasm"]
    asked = {"COMP_WORDS": "seccompiler yama check --l", "COMP_CWORD": "3"}
    assert _complete({**asked, "_SECCOMPILER_COMPLETE": "bash_complete"}) == "plain,--live\n"


@pytest.mark.parametrize(("shell", "mark"), [("zsh", "#compdef seccompiler"), ("fish", "complete")])
def test_zsh_and_fish_completion_scripts_are_produced(shell: str, mark: str) -> None:
    script = _complete({"_SECCOMPILER_COMPLETE": f"{shell}_source"})
    assert mark in script and f"_SECCOMPILER_COMPLETE={shell}_complete" in script
