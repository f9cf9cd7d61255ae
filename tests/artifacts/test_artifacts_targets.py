"""Runtime targets and the platform configuration: the table, located refusals, lint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seccompiler.base.errors import ErrorList, InputError
from seccompiler.commands.cli import main
from seccompiler.platform import config, runtimes
from seccompiler.platform.build import build_dist

PROFILES = Path(__file__).parents[2] / "profiles"

# (runtime, feature key, loads?) — rows straight from the runtimes' source at those tags.
TABLE = [
    ("runc-1.1.5", "arch:SCMP_ARCH_RISCV64", False),
    ("runc-1.1.7", "arch:SCMP_ARCH_RISCV64", False),
    ("runc-1.1.8", "arch:SCMP_ARCH_RISCV64", True),
    ("runc-1.2.0", "arch:SCMP_ARCH_RISCV64", True),
    ("runc-1.4.0", "arch:SCMP_ARCH_LOONGARCH64", False),
    ("runc-1.4.1", "arch:SCMP_ARCH_LOONGARCH64", True),
    ("runc-1.5.0", "arch:SCMP_ARCH_PARISC", False),
    ("crun-1.14", "arch:SCMP_ARCH_PARISC", True),
    ("crun-1.14", "arch:SCMP_ARCH_NATIVE", False),
    ("crun-1.14/libseccomp-2.4.4", "arch:SCMP_ARCH_RISCV64", False),
    ("crun-1.14/libseccomp-2.5.4", "arch:SCMP_ARCH_LOONGARCH64", False),
    ("crun-1.14/libseccomp-2.6.0", "arch:SCMP_ARCH_LOONGARCH64", True),
    ("runc-1.1.2", "action:SCMP_ACT_KILL_PROCESS", False),
    ("runc-1.1.3", "action:SCMP_ACT_KILL_PROCESS", True),
    ("runc-1.1.2", "action:SCMP_ACT_KILL_THREAD", False),
    ("runc-1.1.0", "action:SCMP_ACT_LOG", True),
    ("runc-1.1.0", "action:SCMP_ACT_NOTIFY", True),
    ("runc-1.1.5/libseccomp-2.4.4", "action:SCMP_ACT_NOTIFY", False),
    ("runc-1.1.15", "flags", False),
    ("runc-1.2.0", "flags", True),
    ("runc-1.3.0", "flag:SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", False),
    ("runc-1.5.0", "flag:SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", True),
    ("crun-1.5", "flag:SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", False),
    ("crun-1.6", "flag:SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", True),
    ("crun-1.0", "defaultErrnoRet", True),
]


@pytest.mark.parametrize(("target", "key", "loads"), TABLE)
def test_runtime_table(target: str, key: str, loads: bool) -> None:
    ok, why = runtimes.supports(runtimes.parse(target), key)
    assert ok is loads
    assert bool(why) is not loads


@pytest.mark.parametrize("text", ["runc", "runc-x", "docker-1.0", "runc-1.0.0", "crun-0.9"])
def test_runtime_names_outside_the_table_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        runtimes.parse(text)


def test_problems_name_the_field_and_element() -> None:
    doc = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_RISCV64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["write"], "action": "SCMP_ACT_NOTIFY"},
            {"names": ["ptrace"], "action": "SCMP_ACT_KILL_THREAD", "errnoRet": 1},
        ],
    }
    got = {
        (p.field, p.index, p.value) for p in runtimes.problems(doc, runtimes.parse("runc-1.1.2"))
    }
    assert got == {
        ("architectures", 1, "SCMP_ARCH_RISCV64"),
        ("flags", 0, "flags"),
        ("syscalls", 1, "SCMP_ACT_NOTIFY"),
        ("syscalls", 2, "SCMP_ACT_KILL_THREAD"),
    }
    crun = {(p.field, p.index) for p in runtimes.problems(doc, runtimes.parse("crun-1.14"))}
    assert crun == {("syscalls", 2)}  # errnoRet on a kill action


def _profiles(tmp_path: Path, platform: str) -> Path:
    d = tmp_path / "profiles"
    d.mkdir()
    (d / "keisson-default.yaml").write_bytes((PROFILES / "keisson-default.yaml").read_bytes())
    (d / "platform.yaml").write_text(platform)
    return d


def _abis_line(path: Path) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith("abis:"))


def test_a_target_lacking_an_arch_is_refused_at_the_policy_line(tmp_path: Path) -> None:
    d = _profiles(
        tmp_path,
        "seccompiler-platform: 1\narchitectures: [amd64, riscv64]\nruntimes: [runc-1.1.5]\n",
    )
    with pytest.raises(ErrorList) as info:
        build_dist(d)
    errors = info.value.errors
    assert errors and all("SCMP_ARCH_RISCV64" in e.message for e in errors)
    loc = errors[0].location
    assert loc is not None and loc.path == str(d / "keisson-default.yaml")
    line = _abis_line(d / "keisson-default.yaml")
    assert loc.line == line
    text = (d / "keisson-default.yaml").read_text().splitlines()[line - 1]
    assert text[loc.column - 1 :].startswith("riscv64")  # the list item itself


def test_a_target_lacking_an_action_is_refused_at_the_rule(tmp_path: Path) -> None:
    policy = (
        "seccompiler: 1\nname: keisson-default\nabis: [x86_64, x86]\ndefault: allow\n"
        "unknown: errno(ENOSYS)\nrules:\n"
        "  - action: errno(EPERM)\n    syscalls: [uselib]\n"
        "  - action: kill-process\n    syscalls: [kexec_load]\n"
    )
    d = _profiles(tmp_path, "seccompiler-platform: 1\narchitectures: [amd64]\n"
                  "runtimes: [runc-1.1.2]\n")  # fmt: skip
    (d / "keisson-default.yaml").write_text(policy)
    with pytest.raises(ErrorList) as info:
        build_dist(d)
    for e in info.value.errors:
        assert "SCMP_ACT_KILL_PROCESS" in e.message
        assert e.location is not None and e.location.line == 9  # the kill-process rule


def test_the_fleet_drives_the_arches_each_artifact_names(tmp_path: Path) -> None:
    d = _profiles(tmp_path, "seccompiler-platform: 1\narchitectures: [arm64]\n")
    files = build_dist(d).files
    kubelet = json.loads(files["node/var/lib/kubelet/seccomp/keisson/default.json"])
    assert kubelet["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert sorted(p for p in files if "/oci/" in p) == ["keisson-default/oci/aarch64.json"]


def test_a_fleet_family_the_policy_lacks_is_refused(tmp_path: Path) -> None:
    d = _profiles(tmp_path, "seccompiler-platform: 1\narchitectures: [amd64, s390x]\n")
    with pytest.raises(InputError) as info:
        build_dist(d)
    assert "s390x" in info.value.message
    assert info.value.location is not None
    assert info.value.location.line == _abis_line(d / "keisson-default.yaml")


BAD_CONFIGS = [
    ("seccompiler-platform: 1\nkubernetes: ['1.29']\n", 2, "1.30"),
    ("seccompiler-platform: 1\nkubernetes: [latest]\n", 2, "1.MINOR"),
    ("seccompiler-platform: 1\nkubernetes: [1.30]\n", 2, 'quote versions: kubernetes: ["1.30"]'),
    ("seccompiler-platform: 1\nkubernetes: [1.340]\n", 2, "read as 1.34"),
    ("seccompiler-platform: 1\nkubernetes:\n  - '1.34'\n  - 1.35\n", 4, "must be strings"),
    ("seccompiler-platform: 1\narchitectures: [amd64, 386]\n", 2, "quote it"),
    ("seccompiler-platform: 1\nruntimes: [yes]\n", 2, "read as True"),
    ("seccompiler-platform: 1\narchitectures: [sparc]\n", 2, "unknown node architecture"),
    ("seccompiler-platform: 1\nruntimes: [docker-20]\n", 2, "unknown runtime"),
    ("seccompiler-platform: 1\ncluster: eks\n", 2, "cluster"),
    ("seccompiler-platform: 1\nrollout: now\n", 2, "rollout"),
    ("seccompiler-platform: 1\npod-security: {enforce: privileged}\n", 2, "enforce"),
    ("seccompiler-platform: 1\nsystem-namespaces: [Kube_System]\n", 2, "namespace name"),
    ("seccompiler-platform: 1\nnodes: 3\n", 2, "unknown key"),
    ("kubernetes: ['1.34']\n", 1, "seccompiler-platform"),
    ("seccompiler-platform: 1\ninstaller-image: 'has space'\n", 2, "installer-image"),
]


@pytest.mark.parametrize(("text", "line", "needle"), BAD_CONFIGS)
def test_platform_config_errors_are_located(text: str, line: int, needle: str) -> None:
    with pytest.raises(InputError) as info:
        config.parse(text, "platform.yaml")
    err = info.value
    first = err.errors[0] if isinstance(err, ErrorList) else err
    assert needle in first.message + first.hint
    assert first.location is not None and first.location.line == line


def test_an_unquoted_kubernetes_version_is_pointed_at() -> None:
    with pytest.raises(InputError) as info:
        config.parse('seccompiler-platform: 1\nkubernetes: ["1.34", 1.30]\n', "platform.yaml")
    err = info.value
    assert err.location is not None
    assert (err.location.line, err.location.column) == (2, 22)
    assert "1.3" in err.message and '"1.30"' in err.hint


def test_bundled_platform_config_is_valid() -> None:
    cfg = config.load(PROFILES)
    assert cfg.path.endswith("platform.yaml")
    assert set(cfg.system_namespaces) >= {"kube-system", "kube-public", "kube-node-lease"}
    assert cfg.pod_security == {"enforce": "baseline", "audit": "restricted", "warn": "restricted"}


def test_lint_runtime_reports_what_a_runtime_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.json"
    path.write_text(
        '{"defaultAction": "SCMP_ACT_ALLOW",\n "architectures": ["SCMP_ARCH_RISCV64"],\n'
        ' "syscalls": [\n  {"names": ["uselib"], "action": "SCMP_ACT_KILL_PROCESS"}]}\n'
    )
    assert main(["lint", "--runtime", "runc-1.1.2", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:4:3: error: runc-1.1.2 refuses this profile: action" in out
    assert "SCMP_ARCH_RISCV64" in out
    main(["lint", "--runtime", "runc-1.2.0", str(path)])
    assert "runtime-refuses" not in capsys.readouterr().out
    assert main(["lint", "--runtime", "runc", str(path)]) == 2


def test_docs_table_names_every_feature() -> None:
    text = (Path(__file__).parents[2] / "docs" / "runtimes.md").read_text()
    for feature in runtimes.FEATURES:
        name = feature.key.split(":", 1)[-1]
        short = name.removeprefix("SCMP_ARCH_").removeprefix("SCMP_ACT_")
        short = short.removeprefix("SECCOMP_FILTER_FLAG_")
        assert f"`{name}`" in text or f"`{short}`" in text or short.startswith("MIPS"), name


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_platform_config_is_an_input_of_check_and_of_atomic_builds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _profiles(tmp_path, (PROFILES / "platform.yaml").read_text())
    out = tmp_path / "dist"
    assert main(["build", str(d), "-o", str(out)]) == 0
    before = _tree(out)
    text = (d / "platform.yaml").read_text()
    (d / "platform.yaml").write_text(text.replace("rollout: enforce", "rollout: audit"))
    capsys.readouterr()
    assert main(["build", str(d), "-o", str(out), "--check"]) == 1
    stale = capsys.readouterr().out  # the check's result
    assert "changed: " in stale and "default-seccomp-mutating.yaml" in stale
    # A fleet the runtimes cannot serve: refused, and the earlier tree is left as it was.
    (d / "platform.yaml").write_text(text.replace("[amd64, arm64]", "[amd64, riscv64]"))
    assert main(["build", str(d), "-o", str(out)]) == 1
    assert "SCMP_ARCH_RISCV64" in capsys.readouterr().err
    assert _tree(out) == before
