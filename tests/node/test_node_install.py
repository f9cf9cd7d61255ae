"""``seccompiler node install`` over fake node roots: first install, re-install, upgrade,
a corrupted tree, a kill at every step, and paths that try to leave the root."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from seccompiler.base.errors import InputError, UsageError
from seccompiler.commands.cli import main
from seccompiler.platform import nodeinstall
from seccompiler.platform.artifacts import with_manifest

OCI = json.dumps(
    {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["uselib"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
).encode()
WEB = "var/lib/kubelet/seccomp/keisson/web.json"
DEFAULT = "var/lib/kubelet/seccomp/keisson/default.json"


def write_tree(files: dict[str, bytes], out: Path) -> Path:
    for rel, data in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    return out


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Build A has profiles keisson-default and web; build B only keisson-default, changed."""
    common = {
        "node/etc/sysctl.d/60-keisson-yama.conf": b"kernel.yama.ptrace_scope = 1\n",
        "node/etc/crio/crio.conf.d/60-keisson-seccomp.conf": b"[crio.runtime]\n",
        "cluster/admission/x.yaml": b"kind: X\n",  # not a node file: never installed
    }
    a = {**common, f"node/{DEFAULT}": OCI, f"node/{WEB}": OCI}
    b = {**common, f"node/{DEFAULT}": OCI.replace(b'"errnoRet": 1', b'"errnoRet": 38')}
    base = tmp_path_factory.mktemp("builds")
    return (
        write_tree(with_manifest(a), base / "a"),
        write_tree(with_manifest(b), base / "b"),
    )


def node_root(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    (root / "etc/sysctl.d").mkdir(parents=True)
    (root / "etc/sysctl.d/99-admin.conf").write_text("vm.swappiness = 10\n")
    (root / "var/lib/kubelet/seccomp/other").mkdir(parents=True)
    (root / "var/lib/kubelet/seccomp/other/app.json").write_text("{}\n")
    return root


def snapshot(root: Path) -> dict[str, Any]:
    """Every entry under root: file content, link target, or a directory marker."""
    out: dict[str, Any] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_file():
            out[rel] = ("file", p.read_bytes(), p.stat().st_mtime_ns)
        else:
            out[rel] = ("dir",)
    return out


def visible(root: Path, tree: Path) -> dict[str, bytes]:
    """What the node reads at the paths the build's manifest names, through our links,
    resolved inside the root as the node's kernel would."""
    out = {}
    for rel in json.loads((tree / "MANIFEST.json").read_text())["files"]:
        if rel.startswith("node/"):
            data = nodeinstall.read_installed(root, rel.removeprefix("node/"))
            if data is not None:
                out[rel.removeprefix("node/")] = data
    return out


def expected(tree: Path) -> dict[str, bytes]:
    node = tree / "node"
    return {p.relative_to(node).as_posix(): p.read_bytes() for p in node.rglob("*") if p.is_file()}


def test_first_install_then_reinstall_changes_nothing(
    builds: tuple[Path, Path], tmp_path: Path
) -> None:
    a, _ = builds
    root = node_root(tmp_path)
    out = nodeinstall.install(a, root)
    assert not out.unchanged and "/" + WEB in out.written
    assert visible(root, a) == expected(a)
    assert (root / "etc/sysctl.d/99-admin.conf").read_text() == "vm.swappiness = 10\n"
    before = snapshot(root)
    again = nodeinstall.install(a, root)
    assert again.unchanged and again.written == [] and again.removed == []
    assert snapshot(root) == before


def test_upgrade_removes_what_the_new_build_lacks_and_nothing_else(
    builds: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = builds
    root = node_root(tmp_path)
    nodeinstall.install(a, root)
    out = nodeinstall.install(b, root)
    assert out.removed == ["/" + WEB]
    assert not (root / WEB).exists() and not (root / WEB).is_symlink()
    assert visible(root, b) == expected(b)
    assert b'"errnoRet": 38' in (nodeinstall.read_installed(root, DEFAULT) or b"")
    assert (root / "var/lib/kubelet/seccomp/other/app.json").read_text() == "{}\n"
    assert (root / "etc/sysctl.d/99-admin.conf").exists()
    releases = list((root / nodeinstall.STORE / "releases").iterdir())
    assert len(releases) == 1  # the old release is gone


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: (t / "node" / DEFAULT).write_bytes(b"{}"),
        lambda t: (t / "node/etc/sysctl.d/60-keisson-yama.conf").unlink(),
        lambda t: (t / "MANIFEST.json").write_text("{not json"),
    ],
    ids=["changed", "missing", "bad-manifest"],
)
def test_a_corrupted_tree_is_refused_and_nothing_changes(
    builds: tuple[Path, Path], tmp_path: Path, damage: Callable[[Path], Any]
) -> None:
    a, b = builds
    root = node_root(tmp_path)
    nodeinstall.install(a, root)
    bad = shutil.copytree(b, tmp_path / "bad")
    damage(bad)
    before = snapshot(root)
    with pytest.raises(InputError):
        nodeinstall.install(bad, root)
    assert snapshot(root) == before
    assert main(["node", "install", "--from", str(bad), "--root", str(root)]) == 1


def test_a_foreign_file_at_our_path_is_refused(builds: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = builds
    root = node_root(tmp_path)
    (root / "etc/sysctl.d/60-keisson-yama.conf").write_text("kernel.yama.ptrace_scope = 0\n")
    before = snapshot(root)
    with pytest.raises(UsageError):
        nodeinstall.install(a, root)
    assert snapshot(root) == before


def _killed_install(src: Path, root: Path, at: int) -> bool:
    """Install in a child that SIGKILLs itself at the ``at``-th rename, symlink or unlink
    call (the unlinks reach past the switch: stale links, old releases); True when it was
    killed (False: the install finished first)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        calls = 0

        def tripwire(real: Callable[..., Any]) -> Callable[..., Any]:
            def wrapped(*args: Any, **kwargs: Any) -> Any:
                nonlocal calls
                calls += 1
                if calls == at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*args, **kwargs)

            return wrapped

        os.replace = tripwire(os.replace)  # type: ignore[assignment]
        os.rename = tripwire(os.rename)  # type: ignore[assignment]
        os.symlink = tripwire(os.symlink)  # type: ignore[assignment]
        os.unlink = tripwire(os.unlink)  # type: ignore[assignment]
        try:
            nodeinstall.install(src, root)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)


def _killed_after_switch(src: Path, root: Path) -> None:
    """Install in a child that SIGKILLs itself right after ``current`` was switched."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        real = nodeinstall._switch

        def switch_then_die(*args: Any) -> bool:
            real(*args)
            os.kill(os.getpid(), signal.SIGKILL)
            return True

        nodeinstall._switch = switch_then_die  # type: ignore[assignment]
        try:
            nodeinstall.install(src, root)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status), "the install finished before the kill"


def releases(root: Path) -> list[str]:
    return sorted(p.name for p in (root / nodeinstall.STORE / "releases").iterdir())


def test_a_kill_at_any_step_leaves_the_old_set_or_the_new_one(
    builds: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = builds
    old, new = expected(a), expected(b)
    step = 1
    while True:
        root = node_root(tmp_path / f"k{step}")
        nodeinstall.install(a, root)
        killed = _killed_install(b, root, step)
        seen = {**visible(root, a), **visible(root, b)}
        assert seen in (old, new), f"killed at step {step}: a mix of both builds"
        nodeinstall.install(b, root)  # the next run completes it
        assert visible(root, b) == new, f"killed at step {step}"
        assert not (root / WEB).is_symlink(), f"killed at step {step}: a stale link stays"
        assert len(releases(root)) == 1, f"killed at step {step}: the old release stays"
        if not killed:
            break
        step += 1
    assert step > 5  # the kill really landed at every rename and link of the install


def test_a_kill_right_after_the_switch_is_finished_by_the_next_run(
    builds: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = builds
    root = node_root(tmp_path)
    nodeinstall.install(a, root)
    _killed_after_switch(b, root)
    assert visible(root, b) == expected(b)
    assert main(["node", "install", "--from", str(b), "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"removed /{WEB}" in out and "nothing changed" not in out
    assert not (root / WEB).exists() and not (root / WEB).is_symlink()
    assert releases(root) == [nodeinstall.load_release(b).digest]
    assert nodeinstall.install(b, root).unchanged  # and now it is settled


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A node image prepared by ``build profiles --root IMG`` (regular files) and its dist."""
    base = tmp_path_factory.mktemp("image")
    img = base / "img"
    img.mkdir()
    profiles = str(Path(__file__).resolve().parents[2] / "profiles")  # whatever the cwd is
    assert main(["build", profiles, "-o", str(base / "dist"), "--root", str(img)]) == 0
    return base / "dist", img


def test_a_kill_at_any_step_of_the_first_install_on_a_prepared_image_keeps_its_files(
    image: tuple[Path, Path], tmp_path: Path
) -> None:
    dist, img = image
    files = expected(dist)
    assert {r: (img / r).read_bytes() for r in files} == files
    step = 1
    while True:
        root = shutil.copytree(img, tmp_path / f"k{step}", symlinks=True)
        killed = _killed_install(dist, root, step)
        assert visible(root, dist) == files, f"killed at step {step}: files lost"
        assert main(["node", "install", "--from", str(dist), "--root", str(root)]) == 0
        assert visible(root, dist) == files
        assert all((root / r).is_symlink() for r in files)
        if not killed:
            break
        step += 1
    assert step > len(files)


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_text('{"defaultAction":"SCMP_ACT_ALLOW"}'),
        lambda p: p.unlink(),
        lambda p: (p.unlink(), p.mkdir()),
        lambda p: (p.unlink(), p.symlink_to("/etc/sysctl.d/99-admin.conf")),
    ],
    ids=["tampered", "deleted", "a-directory", "a-symlink"],
)
def test_a_damaged_release_is_restored_from_the_build(
    builds: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[Path], Any],
) -> None:
    a, _ = builds
    root = node_root(tmp_path)
    nodeinstall.install(a, root)
    digest = nodeinstall.load_release(a).digest
    staged = f"{nodeinstall.STORE}/releases/{digest}/{DEFAULT}"
    damage(root / staged)
    assert main(["node", "install", "--from", str(a), "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"restored /{staged}" in out and "nothing changed" not in out
    assert visible(root, a) == expected(a)
    assert (root / staged).is_file() and not (root / staged).is_symlink()
    assert nodeinstall.install(a, root).unchanged  # healed: the next run has nothing to do


# --- paths under the root never leave it ----------------------------------------------------


def test_absolute_symlinks_on_the_node_resolve_inside_the_root(
    builds: tuple[Path, Path], tmp_path: Path
) -> None:
    a, _ = builds
    root = node_root(tmp_path)
    (root / "data/kubelet/seccomp").mkdir(parents=True)
    shutil.rmtree(root / "var/lib/kubelet")
    (root / "var/lib/kubelet").symlink_to("/data/kubelet")  # as the node sees it
    nodeinstall.install(a, root)
    assert (root / "data/kubelet/seccomp/keisson/default.json").is_symlink()
    assert visible(root, a) == expected(a)


@pytest.mark.parametrize("target", ["../../outside", "/../../outside", "../.."])
def test_symlinks_never_lead_out_of_the_root(
    builds: tuple[Path, Path], tmp_path: Path, target: str
) -> None:
    a, _ = builds
    root = tmp_path / "host"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "etc").symlink_to(target)
    main(["node", "install", "--from", str(a), "--root", str(root)])
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "etc").exists() and not (tmp_path / "var").exists()


def _proc(tmp_path: Path, yama: str | None) -> Path:
    proc = tmp_path / "proc"
    (proc / "sys/kernel").mkdir(parents=True)
    (proc / "cmdline").write_text("BOOT_IMAGE=/vmlinuz lsm=landlock,apparmor\n")
    if yama is not None:
        (proc / "sys/kernel/yama").mkdir()
        (proc / "sys/kernel/yama/ptrace_scope").write_text(yama)
    return proc


def test_apply_yama_sets_the_scope_the_build_persists(
    builds: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = builds
    proc = _proc(tmp_path, "0\n")
    args = ["node", "install", "--from", str(a), "--root", str(node_root(tmp_path))]
    assert main([*args, "--apply-yama", "--proc", str(proc)]) == 0
    assert (proc / "sys/kernel/yama/ptrace_scope").read_text() == "1\n"
    assert "ptrace_scope 0 -> 1" in capsys.readouterr().out


def test_yama_absent_has_its_own_exit_status_after_installing(
    builds: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = builds
    root = node_root(tmp_path)
    args = ["node", "install", "--from", str(a), "--root", str(root)]
    assert main([*args, "--apply-yama", "--proc", str(_proc(tmp_path, None))]) == 3
    assert "YAMA is not active" in capsys.readouterr().err
    assert visible(root, a) == expected(a)
