"""The image and record commands' contract where nothing runs: exit statuses and messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from imagekit import Entry, config_doc, layer_tar, oci_files, write_tar

from seccompiler.commands.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = str(ROOT / "profiles" / "keisson-default.yaml")


def _hostile(tmp_path: Path) -> str:
    layers = [layer_tar([Entry("ok", data=b"1"), Entry("a/../../../escape", data=b"x")])]
    return str(write_tar(tmp_path / "evil.tar", oci_files(layers, config_doc(layers))))


def test_hostile_image_is_an_own_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["image", "test", _hostile(tmp_path), "--profile", DEFAULT, "--", "true"])
    err = capsys.readouterr().err
    assert rc == 125
    assert "evil.tar[layer 1: blobs/sha256/" in err
    assert "entry 'a/../../../escape': '..' in the path refused" in err
    assert not (tmp_path.parent / "escape").exists()


def test_bad_profile_and_bad_tests_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = _hostile(tmp_path)
    (tmp_path / "bad.yaml").write_text("seccompiler: 1\nname: x\nabis: [x86_64]\ndefault: nope\n")
    assert main(["image", "test", image, "--profile", str(tmp_path / "bad.yaml"), "--", "x"]) == 125
    assert "does not compile" in capsys.readouterr().err
    (tmp_path / "t.yaml").write_text("tests:\n  - comand: [ls]\n")
    rc = main(["image", "test", image, "--profile", DEFAULT, "--tests", str(tmp_path / "t.yaml")])
    err = capsys.readouterr().err
    assert rc == 125
    assert "t.yaml:2:5: error: unknown key 'comand'" in err


def test_tests_and_command_together_is_a_usage_error(tmp_path: Path) -> None:
    image = _hostile(tmp_path)
    (tmp_path / "t.yaml").write_text("tests:\n  - ls\n")
    rc = main(
        [
            "image",
            "test",
            image,
            "--profile",
            DEFAULT,
            "--tests",
            str(tmp_path / "t.yaml"),
            "--",
            "ls",
        ]
    )
    assert rc == 2


def test_record_with_a_base_that_does_not_compile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "base.yaml").write_text("seccompiler: 1\nname: x\nrules: 5\n")
    rc = main(
        [
            "record",
            "--base",
            str(tmp_path / "base.yaml"),
            "-o",
            str(tmp_path / "o.yaml"),
            "--",
            "true",
        ]
    )
    assert rc == 125
    assert "base policy" in capsys.readouterr().err
    assert not (tmp_path / "o.yaml").exists()


def test_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["image", "--help"]) == 0
    out = capsys.readouterr().out
    assert "test" in out and "record" in out


# every file `image test` and `image record` read, missing: their own failure (125), as
# `docker run` answers for an image it cannot find, and the message names it
MISSING: list[tuple[list[str], str]] = [
    (["image", "test", "nope", "--profile", DEFAULT, "--", "true"], "nope: no such image"),
    (["image", "test", "", "--profile", DEFAULT, "--", "true"], "'' names no image"),
    (["image", "test", "nope/", "--profile", DEFAULT, "--tests", "t.yaml"], "no such image"),
    (["image", "record", "nope", "--", "true"], "nope: no such image"),
    (["image", "test", "img", "--profile", "nope.yaml", "--", "true"], "nope.yaml: no such file"),
    (["image", "test", "img", "--profile", DEFAULT, "--tests", "nope.yaml"], "nope.yaml: no such"),
    (["image", "record", "img", "--base", "nope.yaml", "--", "true"], "nope.yaml: no such file"),
    (["record", "--base", "nope.yaml", "--", "true"], "nope.yaml: no such file"),
    # a directory where a file is read: the same, not a usage error
    (["image", "test", "img", "--profile", "img", "--", "true"], "img: is a directory"),
    (["image", "test", "img", "--profile", DEFAULT, "--tests", "img"], "img: is a directory"),
    (["image", "record", "img", "--base", "img", "--", "true"], "img: is a directory"),
    (["record", "--base", "img", "--", "true"], "img: is a directory"),
    (["run", "--profile", "img", "--", "true"], "img: is a directory"),
    (["run", "--profile", "", "--", "true"], "an empty path names no policy file"),
]


@pytest.mark.parametrize(("argv", "words"), MISSING, ids=[" ".join(m[0][:4]) for m in MISSING])
def test_a_missing_input_is_an_own_failure(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    words: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "img").mkdir()
    (tmp_path / "t.yaml").write_text("tests:\n  - ls\n")
    assert main(argv) == 125
    assert words in capsys.readouterr().err
