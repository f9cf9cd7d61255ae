"""`seccompiler build` end to end: determinism, atomicity, --check, --root, the manifest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seccompiler.base.errors import InputError
from seccompiler.commands.cli import main
from seccompiler.platform import build as build_mod
from seccompiler.platform.artifacts import MANIFEST
from seccompiler.platform.build import build_dist

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "profiles"
DEFAULT = PROFILES / "keisson-default.yaml"


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("b") / "dist"
    assert main(["build", str(PROFILES), "-o", str(out)]) == 0
    return out


def copy_of(built: Path, tmp_path: Path) -> Path:
    out = tmp_path / "dist"
    shutil.copytree(built, out)
    return out


def test_expected_layout(built: Path) -> None:
    files = tree(built)
    for path in (
        "keisson-default/bpf/x86_64.bpf",
        "keisson-default/oci/aarch64.json",
        "keisson-default/pfc/aarch64.pfc",
        "node/var/lib/kubelet/seccomp/keisson/audit/default.json",
        "node/var/lib/kubelet/seccomp/keisson/default.json",
        "node/etc/sysctl.d/60-keisson-yama.conf",
        "node/etc/crio/crio.conf.d/60-keisson-seccomp.conf",
        "node/etc/kubernetes/kubelet.conf.d/60-keisson-seccomp.conf",
        "cluster/installer/node-installer.yaml",
        "cluster/admission/default-seccomp-mutating.yaml",
        "cluster/admission/deny-unconfined-validating.yaml",
        "cluster/pss/admission-configuration.yaml",
        "cluster/pss/guard.yaml",
        MANIFEST,
    ):
        assert path in files, path


def test_manifest_matches_the_tree(built: Path) -> None:
    files = tree(built)
    man = json.loads(files.pop(MANIFEST))
    assert sorted(man["files"]) == sorted(files)
    for path, entry in man["files"].items():
        assert entry["sha256"] == hashlib.sha256(files[path]).hexdigest()


def test_two_builds_are_byte_identical(built: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert main(["build", str(PROFILES), "-o", str(again)]) == 0
    assert tree(again) == tree(built)


# How the profiles directory is named: (a folder below tmp_path to copy PROFILES to, or "";
# the working directory, below REPO or, for None, tmp_path; the argument, {profiles} = PROFILES).
SPELLINGS = [
    ("", ".", "profiles"),
    ("", "tools", "../profiles/"),
    ("", ".", ".//profiles/."),
    ("", None, "{profiles}"),
    ("copy/elsewhere", None, "copy/elsewhere"),
]


@pytest.mark.parametrize(("copy", "cwd", "arg"), SPELLINGS)
def test_bytes_do_not_depend_on_where_the_profiles_are_or_how_they_are_named(
    built: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    copy: str,
    cwd: str | None,
    arg: str,
) -> None:
    if copy:
        shutil.copytree(PROFILES, tmp_path / copy)
    monkeypatch.chdir(REPO / cwd if cwd is not None else tmp_path)
    source = arg.format(profiles=PROFILES)
    out = tmp_path / "dist"
    assert main(["build", source, "-o", str(out)]) == 0
    assert tree(out) == tree(built)
    assert main(["build", source, "-o", str(built), "--check"]) == 0
    assert b"# source: keisson-default.yaml\n" in tree(out)["keisson-default/pfc/x86_64.pfc"]


def test_timings_cover_every_stage() -> None:
    result = build_dist(PROFILES)
    stages = list(result.timings.stages)
    assert stages[0] == "platform configuration"
    assert "runtime targets" in stages
    assert "verify BPF against the policy" in stages
    assert stages[-1] == "manifest"
    assert all(s >= 0 for s in result.timings.stages.values())


def test_check_passes_on_a_fresh_tree(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", str(PROFILES), "-o", str(built), "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


HAND_EDITS = [
    ("node/etc/sysctl.d/60-keisson-yama.conf", "changed"),
    ("cluster/admission/deny-unconfined-validating.yaml", "changed"),
    (MANIFEST, "missing"),
    ("cluster/notes.txt", "unexpected"),
]


@pytest.mark.parametrize(("path", "kind"), HAND_EDITS)
def test_check_catches_hand_edits(
    built: Path, tmp_path: Path, path: str, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = copy_of(built, tmp_path)
    before = tree(out)
    target = out / path
    if kind == "changed":
        target.write_bytes(target.read_bytes().replace(b"1", b"0", 1) + b"# edited\n")
    elif kind == "missing":
        target.unlink()
    else:
        target.write_text("hello\n")
    edited = tree(out)
    assert main(["build", str(PROFILES), "-o", str(out), "--check"]) == 1
    stale = capsys.readouterr().out  # the differences are the check's result
    assert f"{kind}: {out}/{path}" in stale
    assert stale.count("\n") == 2  # the summary and exactly this one difference
    assert tree(out) == edited  # --check writes nothing
    assert before != edited


def test_root_installs_node_files_and_check_sees_drift(
    built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "img"
    (root / "etc").mkdir(parents=True)
    out = tmp_path / "dist"
    assert main(["build", str(PROFILES), "-o", str(out), "--root", str(root)]) == 0
    for rel, data in tree(built).items():
        if rel.startswith("node/"):
            assert (root / rel.removeprefix("node/")).read_bytes() == data
    assert not (root / "cluster").exists()
    assert main(["build", str(PROFILES), "-o", str(out), "--check", "--root", str(root)]) == 0
    (root / "etc/sysctl.d/60-keisson-yama.conf").write_text("kernel.yama.ptrace_scope = 0\n")
    capsys.readouterr()
    assert main(["build", str(PROFILES), "-o", str(out), "--check", "--root", str(root)]) == 1
    assert f"changed: {root}/etc/sysctl.d/60-keisson-yama.conf" in capsys.readouterr().out


def test_failed_check_leaves_dist_untouched(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = copy_of(built, tmp_path)
    before = tree(out)

    def broken(*args: object, **kwargs: object) -> dict[str, bytes]:
        raise InputError("injected: a check failed")

    monkeypatch.setattr(build_mod.artifacts, "pss_files", broken)
    assert main(["build", str(PROFILES), "-o", str(out)]) == 1
    assert tree(out) == before


KILLER = textwrap.dedent(
    """
    import os, pathlib, signal, sys
    from seccompiler.commands.cli import main
    written = 0
    real = pathlib.Path.write_bytes
    def write_bytes(self, data):
        global written
        written += 1
        if written == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)  # killed halfway through writing dist/
        return real(self, data)
    pathlib.Path.write_bytes = write_bytes
    sys.exit(main(["build", sys.argv[1], "-o", sys.argv[2]]))
    """
)


@pytest.mark.parametrize("kill_at", [1, 10])
def test_build_killed_halfway_leaves_old_dist_intact(
    built: Path, tmp_path: Path, kill_at: int
) -> None:
    out = copy_of(built, tmp_path)
    marked = next(p for p in sorted(out.rglob("*.yaml")))
    marked.write_text("# the old build\n")
    before = tree(out)
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(PROFILES), str(out), str(kill_at)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert tree(out) == before
    staging = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.new.")]
    assert staging  # the killed build left its staging folder behind...
    # ...and the next build removes it and replaces the old tree cleanly
    assert main(["build", str(PROFILES), "-o", str(out)]) == 0
    assert tree(out) == tree(built)
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        p.name for p in out.parent.iterdir() if not p.name.startswith(".")
    )


def profiles_dir(tmp_path: Path, names: dict[str, str]) -> Path:
    d = tmp_path / "profiles"
    d.mkdir()
    text = DEFAULT.read_text()
    for filename, name in names.items():
        (d / filename).write_text(text.replace("name: keisson-default", f"name: {name}", 1))
    return d


BAD_SETS = [
    {"a.yaml": "keisson-default", "b.yaml": "keisson-default"},  # same name twice
    {"a.yaml": "keisson-default", "b.yaml": "node"},  # reserved for the build's outputs
    {"a.yaml": "web"},  # no platform default profile
]


@pytest.mark.parametrize("names", BAD_SETS)
def test_profile_sets_the_build_refuses(tmp_path: Path, names: dict[str, str]) -> None:
    d = profiles_dir(tmp_path, names)
    with pytest.raises(InputError):
        build_dist(d)
    assert main(["build", str(d), "-o", str(tmp_path / "dist")]) == 1
    assert not (tmp_path / "dist").exists()


def test_second_profile_gets_its_own_artifacts(tmp_path: Path) -> None:
    d = profiles_dir(tmp_path, {"a.yaml": "keisson-default", "b.yaml": "web"})
    files = build_dist(d).files
    assert "node/var/lib/kubelet/seccomp/keisson/web.json" in files
    assert "cluster/seccompprofiles/web.yaml" not in files  # the installer distributes them
    assert "web/bpf/x86_64.bpf" in files


def test_bytes_do_not_depend_on_the_hash_seed(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "seeded"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run(
        [sys.executable, "-m", "seccompiler.commands.cli", "build", str(PROFILES), "-o", str(out)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert tree(out) == tree(built)


# The one exposure the default profile accepts, which lint names as a note (see
# docs/default-profile.md, "32-bit sockets"); anything else lint says about a build output
# would be a finding about our own artifact.
ACCEPTED_NOTES = {("multiplexer-args-unseen", "x86")}


def test_lint_is_quiet_on_every_build_output(
    built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = sorted(
        p
        for p in built.rglob("*")
        if (p.suffix == ".json" and p.name != MANIFEST) or p.suffix == ".bpf"
    )
    # every profile's JSON and BPF per family, and the node's JSON (audit ones too)
    assert {p.relative_to(built).parts[0] for p in outputs} == {
        "keisson-default",
        "keisson-strict",
        "node",
    }
    policies = [p for p in sorted(PROFILES.glob("*.yaml")) if "\nseccompiler:" in p.read_text()]
    for path in [*outputs, *policies]:
        capsys.readouterr()
        rc = main(["lint", str(path), "--format", "json"])
        findings = json.loads(capsys.readouterr().out)
        said = {(f["code"], ",".join(f["abis"])) for f in findings}
        assert rc == 0 and said <= ACCEPTED_NOTES, (path, findings)
        assert all(f["severity"] == "note" for f in findings), path
