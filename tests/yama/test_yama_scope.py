"""YAMA helpers over fake proc and filesystem roots: never the real /proc/sys or /etc."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccompiler.base.errors import InputError, UsageError
from seccompiler.commands.cli import main
from seccompiler.platform import yama


def fake_proc(tmp_path: Path, scope: str | None, cmdline: str = "quiet") -> Path:
    proc = tmp_path / "proc"
    (proc / "sys/kernel").mkdir(parents=True)
    (proc / "cmdline").write_bytes(cmdline.replace(" ", "\0").encode() + b"\0")
    if scope is not None:
        (proc / "sys/kernel/yama").mkdir()
        (proc / yama.PROC_FILE).write_text(scope + "\n")
    return proc


@pytest.mark.parametrize("scope", [0, 1, 2, 3])
def test_status_reports_every_scope(
    tmp_path: Path, scope: int, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = fake_proc(tmp_path, str(scope))
    assert yama.read_scope(proc) == scope
    assert main(["yama", "status", "--proc-root", str(proc)]) == 0
    out = capsys.readouterr().out
    assert f"= {scope} ({yama.SCOPES[scope][0]})" in out


@pytest.mark.parametrize(
    ("cmdline", "lsm"),
    [("quiet", None), ("lsm=landlock,apparmor quiet", "landlock,apparmor")],
)
def test_absent_is_a_distinct_status(
    tmp_path: Path, cmdline: str, lsm: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = fake_proc(tmp_path, None, cmdline)
    with pytest.raises(yama.YamaAbsent) as exc:
        yama.read_scope(proc)
    assert exc.value.lsm_list == lsm
    for argv in (
        ["status"],
        ["check", "--live"],
        ["check", "--scope", "1"],
        ["apply", "--scope", "1"],
    ):
        assert main(["yama", *argv, "--proc-root", str(proc)]) == yama.ABSENT_EXIT
    err = capsys.readouterr().err
    assert "YAMA is not active" in err
    assert ("lsm=landlock,apparmor" in err) == (lsm is not None)


def test_not_a_proc_root_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        yama.read_scope(tmp_path)
    assert main(["yama", "status", "--proc-root", str(tmp_path)]) == 2


@pytest.mark.parametrize("garbage", ["", "4", "-1", "one"])
def test_malformed_value_is_located(tmp_path: Path, garbage: str) -> None:
    proc = fake_proc(tmp_path, garbage)
    with pytest.raises(InputError) as exc:
        yama.read_scope(proc)
    assert exc.value.location is not None
    assert exc.value.location.path.endswith(yama.PROC_FILE)
    assert "0-3" in exc.value.hint


def test_yama_directory_without_ptrace_scope_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = fake_proc(tmp_path, None)
    (proc / "sys/kernel/yama").mkdir()
    with pytest.raises(InputError) as exc:
        yama.read_scope(proc)
    assert exc.value.location is not None
    assert exc.value.location.path == str(proc / yama.PROC_FILE)
    assert main(["yama", "status", "--proc-root", str(proc)]) == 1
    err = capsys.readouterr().err
    assert "holds no ptrace_scope" in err and "YAMA is not active" not in err


# (running, wanted, accepted): 3 is locked until reboot and may only be "set" to itself.
APPLY = [(r, w, not (r == 3 and w != 3)) for r in range(4) for w in range(4)]


@pytest.mark.parametrize(("running", "wanted", "accepted"), APPLY)
def test_apply_refuses_to_lower_scope_3(
    tmp_path: Path, running: int, wanted: int, accepted: bool
) -> None:
    proc = fake_proc(tmp_path, str(running))
    rc = main(["yama", "apply", "--scope", str(wanted), "--proc-root", str(proc)])
    assert rc == (0 if accepted else 1)
    assert yama.read_scope(proc) == (wanted if accepted else running)


def test_apply_persist_writes_dropin_under_root(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, "0")
    root = tmp_path / "img"
    argv = ["yama", "apply", "--scope", "2", "--root", str(root), "--proc-root", str(proc)]
    assert main(argv) == 2  # a missing root is a mistake, never created
    assert not root.exists()
    root.mkdir()
    # --root is a node image: only the drop-in is written, the running value stays
    assert (
        main(["yama", "apply", "--scope", "2", "--root", str(root), "--proc-root", str(proc)]) == 0
    )
    assert (root / yama.DROPIN).read_bytes() == yama.sysctl_dropin(2)
    assert yama.read_scope(proc) == 0
    assert not list(root.rglob(".*.tmp"))
    assert yama.persist(3, root) == root / yama.DROPIN
    assert yama.configured_scope(root)[0] == 3


@pytest.mark.parametrize("running", [0, 1, 2, 3])
@pytest.mark.parametrize("wanted", [0, 1, 2, 3])
def test_check_running(tmp_path: Path, running: int, wanted: int) -> None:
    proc = fake_proc(tmp_path, str(running))
    result = yama.check_scope(wanted, proc)
    assert result.ok == (running == wanted)
    rc = main(["yama", "check", "--scope", str(wanted), "--proc-root", str(proc)])
    assert rc == (0 if running == wanted else 1)


def write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


# (files under the image root, configured scope): sysctl.d precedence as systemd-sysctl applies
# it — name order across directories, /etc shadowing /usr/lib for the same name.
SYSCTL_CASES = [
    ({}, None),
    ({"etc/sysctl.d/10-ptrace.conf": "kernel.yama.ptrace_scope = 2\n"}, 2),
    ({"usr/lib/sysctl.d/50-x.conf": "kernel/yama/ptrace_scope=3\n"}, 3),
    (
        {
            "usr/lib/sysctl.d/10-ptrace.conf": "kernel.yama.ptrace_scope = 0\n",
            "etc/sysctl.d/10-ptrace.conf": "# mine\nkernel.yama.ptrace_scope = 1\n",
        },
        1,
    ),
    (
        {
            "etc/sysctl.d/10-a.conf": "kernel.yama.ptrace_scope = 0\n",
            "usr/lib/sysctl.d/90-b.conf": "-kernel.yama.ptrace_scope = 2\n",
        },
        2,
    ),
    ({"etc/sysctl.d/60-keisson-yama.conf": "; kernel.yama.ptrace_scope = 3\n"}, None),
    (
        {
            "etc/sysctl.d/1.conf": "kernel.yama.ptrace_scope=1\n",
            "etc/sysctl.conf": "kernel.yama.ptrace_scope=0\n",
        },
        0,
    ),
]


@pytest.mark.parametrize(("files", "configured"), SYSCTL_CASES)
def test_check_node_image(tmp_path: Path, files: dict[str, str], configured: int | None) -> None:
    for rel, text in files.items():
        write(tmp_path, rel, text)
    assert yama.configured_scope(tmp_path)[0] == configured
    for want in range(4):
        rc = main(["yama", "check", "--scope", str(want), "--root", str(tmp_path)])
        assert rc == (0 if configured == want else 1)


def test_check_needs_a_question(tmp_path: Path) -> None:
    assert main(["yama", "check", "--proc-root", str(tmp_path)]) == 2
    assert main(["yama", "check", "--live", "--root", str(tmp_path)]) == 2


@pytest.mark.parametrize(
    ("scope", "declared", "attaches"),
    [(0, False, True), (0, True, True), (1, False, False), (1, True, True)]
    + [(s, d, False) for s in (2, 3) for d in (False, True)],
)
def test_expected_attach_table(scope: int, declared: bool, attaches: bool) -> None:
    assert yama.expected_attach(scope, declared) is attaches


def test_live_result_judges_probes() -> None:
    good = yama.LiveResult(1, (yama.Probe(False, 1), yama.Probe(True, 0)))
    bad = yama.LiveResult(1, (yama.Probe(False, 0), yama.Probe(True, 0)))
    assert good.ok
    assert not bad.ok


def test_dropin_is_a_sysctl_file(tmp_path: Path) -> None:
    for scope in range(4):
        write(tmp_path, yama.DROPIN, yama.sysctl_dropin(scope).decode())
        assert yama.configured_scope(tmp_path)[0] == scope


@pytest.mark.live
def test_probe_behaves_as_the_running_kernel_says() -> None:
    """Real sibling processes and PTRACE_ATTACH; without YAMA the classic rules apply."""
    try:
        scope = yama.read_scope()
    except yama.YamaAbsent:
        scope = 0
    for declared in (False, True):
        probe = yama.attach_probe(declared)
        assert (probe.errno == 0) == yama.expected_attach(scope, declared), probe


@pytest.mark.live
@pytest.mark.parametrize(("claimed", "rc"), [(0, 0), (1, 1), (2, 1), (3, 1)])
def test_live_check_does_not_trust_the_number(
    tmp_path: Path, claimed: int, rc: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fake proc root claims a scope; this kernel (no YAMA) behaves classically, scope 0."""
    try:
        yama.read_scope()
        pytest.skip("YAMA is active here; the fake claim would not be the only policy")
    except yama.YamaAbsent:
        pass
    proc = fake_proc(tmp_path, str(claimed))
    assert main(["yama", "check", "--live", "--proc-root", str(proc)]) == rc
    out = capsys.readouterr().out
    assert ("UNEXPECTED" in out) == (rc == 1)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_any_sysctl_file_gives_a_scope_or_a_located_error(tmp_path: Path, text: str) -> None:
    write(tmp_path, "etc/sysctl.d/50-x.conf", text)
    try:
        scope, where = yama.configured_scope(tmp_path)
    except InputError as err:
        assert err.location is not None and err.location.path.endswith("50-x.conf")
    else:
        assert scope is None or (scope in yama.SCOPES and "50-x.conf" in where)
