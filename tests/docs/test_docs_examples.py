"""Every `seccompiler …` example in README.md and docs/*.md runs, and shown output matches.

Each document runs in its own scratch directory holding a copy of `profiles/`, the files of
`tests/docs/fixtures/` the examples name, and `../shared` (the shared data, when present);
its examples run in document order, so a later one may use what an earlier one wrote.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the suite imports test modules by path

import docrun

sys.path.insert(0, str(Path(__file__).parents[1] / "image"))
import imagekit

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(os.environ.get("SECCOMPILER_SHARED", REPO.parent / "shared"))
DOCS = ["README.md", *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md"))]
# Programs an example may need beyond seccompiler: without them it is skipped, with a reason.
TOOLS = ("git", "kubectl", "runc", "bwrap", "strace")

# Examples that must not run here, keyed by (document, the start of the command), with why.
SKIP: dict[tuple[str, str], str] = {
    ("README.md", "seccompiler yama apply --scope 1 --persist"): "changes this machine's sysctl",
    ("docs/yama.md", "seccompiler yama apply --scope 1 --persist"): "changes this machine",
    ("README.md", "kubectl get pods"): "needs a Kubernetes cluster",
    ("README.md", "seccompiler node install --from /opt"): "runs in the node DaemonSet (/host)",
    ("README.md", "seccompiler node label"): "needs a Kubernetes cluster",
}
# An example writes only inside its scratch directory: outputs and roots are relative.
OUTSIDE = re.compile(r"(?:--root|-o|--output|--report)[ =]/")
# Examples that need YAMA in the running kernel: skipped where it is not compiled in.
NEEDS_YAMA = (
    "seccompiler yama status",
    "seccompiler yama check --live",
    "seccompiler yama check --scope 1  ",
)
HAS_YAMA = Path("/proc/sys/kernel/yama/ptrace_scope").exists()


def _generated(work: Path) -> None:
    """Inputs the examples name that are made, not kept: images, raw BPF, a node image root."""
    (work / "node-image").mkdir()
    (work / "node-root").mkdir()
    # ld [2]: a load that is not 4-byte aligned, which the kernel refuses; then ret ALLOW.
    (work / "bad.bpf").write_bytes(
        struct.pack("<HBBI", 0x20, 0, 0, 2) + struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)
    )
    if imagekit.BUSYBOX.is_file():
        (work / "image-build").mkdir()
        image = imagekit.busybox_image(work / "image-build", "oci-tar")
        image.rename(work / "busybox-oci.tar")
        shutil.rmtree(work / "image-build")
    moby = SHARED / "data" / "moby-default.json"
    if moby.is_file():
        from seccompiler.frontend import ocijson
        from seccompiler.prove import libseccomp_ref

        ref = libseccomp_ref.build_profile(ocijson.load(str(moby)), "x86_64")
        (work / "docker-x86_64.bpf").write_bytes(ref.bpf)


def _bindir() -> Path:
    return Path(sys.executable).parent


def _workspace(tmp: Path) -> tuple[Path, dict[str, str]]:
    work = tmp / "work"
    work.mkdir()
    shutil.copytree(REPO / "profiles", work / "profiles")
    if FIXTURES.is_dir():
        shutil.copytree(FIXTURES, work, dirs_exist_ok=True)
    _generated(work)
    if SHARED.is_dir():
        (tmp / "shared").symlink_to(SHARED.resolve())
    replacements = {f"{work}/": "", str(work): ".", str(SHARED.resolve()): "../shared"}
    return work, replacements


def _skip_reason(ex: docrun.Example) -> str | None:
    for (doc, start), reason in SKIP.items():
        if ex.doc == doc and ex.command.startswith(start):
            return reason
    if not HAS_YAMA and ex.command.startswith(NEEDS_YAMA):
        return "YAMA is not compiled into this kernel"
    missing = docrun.missing_tools(ex.command, TOOLS)
    if missing:
        return f"needs {', '.join(missing)}, not installed"
    if "../shared" in ex.command and not SHARED.is_dir():
        return f"{SHARED} (SECCOMPILER_SHARED) is not present"
    return None


@pytest.mark.parametrize("doc", DOCS)
def test_doc_examples_run_as_shown(doc: str, tmp_path: Path) -> None:
    found = docrun.examples(REPO / doc, doc)
    work, replacements = _workspace(tmp_path)
    env = docrun.environment(_bindir())
    failures, skipped = [], []
    for ex in found:
        reason = _skip_reason(ex)
        if reason:
            skipped.append(f"{ex.where()}: {reason}")
            continue
        if OUTSIDE.search(ex.command):
            failures.append(f"{ex.where()}: $ {ex.command}\n  writes outside its directory")
            continue
        outcome = docrun.run(ex, work, env, replacements)
        if outcome.problem:
            failures.append(docrun.report(outcome))
    assert not failures, f"{len(failures)} of {len(found)} examples differ:\n\n" + "\n\n".join(
        failures
    )
    if skipped:
        print("skipped:", *skipped, sep="\n  ")


def test_every_document_has_examples_or_none_expected() -> None:
    counts = {doc: len(docrun.examples(REPO / doc, doc)) for doc in DOCS}
    assert counts["README.md"] >= 20, counts
    assert counts["docs/toolchain.md"] >= 15, counts
    assert counts["docs/cli.md"] >= 8, counts
    # the runtime and rollout pages show what lint and syscalls print, on stdout (piped)
    assert counts["docs/runtimes.md"] >= 1 and counts["docs/rollout.md"] >= 2, counts


def _doc(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "doc.md"
    path.write_text(body)
    return path


def test_a_wrong_example_is_caught(tmp_path: Path) -> None:
    wrong = _doc(
        tmp_path,
        "Look it up:\n\n```console\n$ seccompiler syscalls openat --abi x86\n"
        "openat  groups: -\n  x86  296\n```\n",
    )
    [ex] = docrun.examples(wrong, "doc.md")
    assert (ex.line, ex.command, ex.shown, ex.status) == (
        4,
        "seccompiler syscalls openat --abi x86",
        ("openat  groups: -", "  x86  296"),
        0,
    )
    env = docrun.environment(_bindir())
    outcome = docrun.run(ex, tmp_path, env, {})
    assert outcome.problem == "output differs from the document"
    assert "295" in outcome.output
    assert "doc.md:4" in docrun.report(outcome)

    fixed = docrun.Example(ex.doc, ex.line, ex.command, ("openat  groups: -", "  x86  295"), 0)
    assert docrun.run(fixed, tmp_path, env, {}).problem is None


def test_a_wrong_exit_status_is_caught(tmp_path: Path) -> None:
    doc = _doc(tmp_path, "```sh\nseccompiler syscalls no_such_call   # a lookup\n```\n")
    [ex] = docrun.examples(doc, "doc.md")
    assert ex.shown is None and ex.status == 0
    outcome = docrun.run(ex, tmp_path, docrun.environment(_bindir()), {})
    assert outcome.problem is not None and outcome.problem.startswith("exit status 1")


@pytest.mark.parametrize(
    ("shown", "output", "ok"),
    [
        (("a", "…", "d"), "a\nb\nc\nd", True),
        (("a", "…", "d"), "a\nd", True),
        (("a", "…", "d"), "a\nb\nc", False),
        (("x: 1 …",), "x: 1 2 3", True),
        (("x: 1 …",), "x: 2 3", False),
        (("a",), "a\nb", False),
        (("done in 2.6s",), "done in 0.4s", True),
        (("abi   calls",), "abi calls", True),
    ],
)
def test_output_matching(shown: tuple[str, ...], output: str, ok: bool) -> None:
    assert docrun.matches(shown, docrun.normalise(output, {})) is ok


def test_commands_after_assignments_and_in_substitutions_are_examples(tmp_path: Path) -> None:
    doc = _doc(
        tmp_path,
        '```sh\neval "$(_SECCOMPILER_COMPLETE=bash_source seccompiler)"\n'
        "echo seccompiler; cat seccompiler.fish\n```\n\n"
        '```console\n$ COMP_WORDS="seccompiler com" COMP_CWORD=1 '
        "_SECCOMPILER_COMPLETE=bash_complete seccompiler\nplain,compile\n```\n",
    )
    sourced, completed = docrun.examples(doc, "doc.md")
    assert sourced.command.startswith("eval") and sourced.shown is None
    assert completed.shown == ("plain,compile",)
    env = docrun.environment(_bindir())
    assert docrun.run(sourced, tmp_path, env, {}).problem is None
    assert docrun.run(completed, tmp_path, env, {}).problem is None
    wrong = docrun.Example("doc.md", 7, completed.command, ("plain,build",), 0)
    assert docrun.run(wrong, tmp_path, env, {}).problem == "output differs from the document"


def test_sh_blocks_without_seccompiler_and_synopses_are_not_examples(tmp_path: Path) -> None:
    doc = _doc(
        tmp_path,
        "```sh\nmake run\n```\n\n```\nseccompiler pss check FILES…\n```\n\n"
        "```sh\nkubectl get pods -o yaml | seccompiler pss check -   # exit 1\n```\n",
    )
    [ex] = docrun.examples(doc, "doc.md")
    assert ex.command.startswith("kubectl") and ex.status == 1
