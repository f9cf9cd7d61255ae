"""The CLI's contract: exit codes, located messages, atomic and reproducible outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seccompiler.commands.cli import main

REPO = Path(__file__).resolve().parents[2]
DEFAULT = str(REPO / "profiles" / "keisson-default.yaml")
SMALL = (
    "seccompiler: 1\nname: small\nabis: [x86_64]\ndefault: allow\nrules:\n"
    "  - {action: errno(EPERM), syscalls: [uselib]}\n"
)


def tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture
def small(tmp_path: Path) -> Path:
    p = tmp_path / "small.yaml"
    p.write_text(SMALL)
    return p


def test_compile_writes_every_format_and_proves_it(
    tmp_path: Path, small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compile", str(small), "-o", str(tmp_path / "out")]) == 0
    assert sorted(tree(tmp_path / "out")) == [
        "COMPILED.json",
        "bpf/x86_64.bpf",
        "oci/x86_64.json",
        "pfc/x86_64.pfc",
    ]
    assert "x86_64:" in capsys.readouterr().out


def test_compile_is_byte_identical(tmp_path: Path) -> None:
    assert main(["compile", DEFAULT, "-o", str(tmp_path / "a")]) == 0
    assert main(["compile", DEFAULT, "-o", str(tmp_path / "b")]) == 0
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_compile_bytes_do_not_depend_on_where_the_policy_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PFC names files relative to the compiled policy's folder: web.yaml, ../base/common.yaml."""
    for top in ("a", "deep/er/b"):
        (tmp_path / top / "base").mkdir(parents=True)
        (tmp_path / top / "base" / "common.yaml").write_text(SMALL)
        (tmp_path / top / "web").mkdir()
        (tmp_path / top / "web" / "web.yaml").write_text(
            "seccompiler: 1\nextends: ../base/common.yaml\nname: web\nrules:\n"
            "  - {action: errno(EPERM), syscalls: [ptrace], reason: debuggers}\n"
        )
    monkeypatch.chdir(tmp_path / "a")
    outs = []
    for arg in (
        "web/web.yaml",
        str(tmp_path / "a/web/web.yaml"),
        "./web//web.yaml",
        "../deep/er/b/web/web.yaml",
    ):
        out = tmp_path / f"out{len(outs)}"
        assert main(["compile", arg, "-o", str(out)]) == 0
        outs.append(tree(out))
    assert all(o == outs[0] for o in outs)
    pfc = outs[0]["pfc/x86_64.pfc"].decode()
    assert "# source: ../base/common.yaml\n# source: web.yaml\n" in pfc
    assert "# web.yaml:5:14 debuggers" in pfc
    assert "# ../base/common.yaml:6:14\n" in pfc


def test_golden_outputs_are_current() -> None:
    proc = subprocess.run(
        [sys.executable, "tools/regen_golden.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_policy_error_exits_1_with_location_and_keeps_old_outputs(
    tmp_path: Path, small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["compile", str(small), "-o", str(out)]) == 0
    before = tree(out)
    small.write_text(SMALL.replace("uselib", "uselbi"))
    capsys.readouterr()
    assert main(["compile", str(small), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{small}:6:39: error: unknown syscall 'uselbi'" in err
    assert "did you mean 'uselib'" in err
    assert "Traceback" not in err
    assert tree(out) == before


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["compile", "/nonexistent/p.yaml", "-o", "x"], 2),
        (["compile", DEFAULT], 2),  # -o missing
        (["compile", DEFAULT, "-o", "x", "--format", "xml"], 2),
        (["compile", DEFAULT, "-o", "x", "--abi", "s390x"], 2),
        (["compile", DEFAULT, "-o", "x", "--abi", "vax"], 2),
        (["compile", DEFAULT, "-o", "x", "--caps", "CAP_FLY"], 2),
        (["compile", DEFAULT, "-o", "x", "--bogus"], 2),
        (["nosuchcommand"], 2),
        (["syscalls", "opnat"], 1),
        (["syscalls", "@nosuch"], 1),
        (["syscalls", "openat", "--abi", "vax"], 2),
        (["syscalls", "openat"], 0),
        (["build", "/nonexistent-dir", "-o", "x"], 2),
    ],
)
def test_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], code: int
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == code


def test_compile_to_stdout_is_refused_not_a_directory_named_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["compile", DEFAULT, "-o", "-"]) == 2
    assert "'-o -'" in capsys.readouterr().err
    assert not (tmp_path / "-").exists()


def test_malformed_yaml_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("seccompiler: 1\nrules: [\n")
    assert main(["compile", str(p), "-o", str(tmp_path / "o")]) == 1
    assert f"{p}:3:1: error: malformed YAML" in capsys.readouterr().err


def test_build_is_reproducible_and_atomic(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "small.yaml").write_text(SMALL)
    (profiles / "keisson-default.yaml").write_bytes(Path(DEFAULT).read_bytes())
    dist = tmp_path / "dist"
    assert main(["build", str(profiles), "-o", str(dist)]) == 0
    first = tree(dist)
    assert any(k.endswith("bpf/x86_64.bpf") for k in first)
    assert main(["build", str(profiles), "-o", str(dist)]) == 0
    assert tree(dist) == first
    (profiles / "broken.yaml").write_text("seccompiler: 1\nabis: [x86_64]\ndefault: sometimes\n")
    assert main(["build", str(profiles), "-o", str(dist)]) == 1
    assert tree(dist) == first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dist")]


def test_console_script_runs(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "seccompiler"
    proc = subprocess.run(
        [str(exe), "syscalls", "mseal", "--abi", "x86"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert "462" in proc.stdout
