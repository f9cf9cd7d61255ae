"""``seccompiler pss`` end to end: output, exit codes 0/1/2, labels, the guard."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from pss_helpers import base_pod, wrap

from seccompiler.base.yamlsrc import KubernetesDumper
from seccompiler.commands.cli import main

E = "pod-security.kubernetes.io/enforce"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["pss", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    bad = base_pod()
    bad["metadata"] = {"name": "bad", "namespace": "team"}
    bad["spec"]["containers"][0]["name"] = "a"
    bad["spec"]["containers"][0]["securityContext"]["privileged"] = True
    good = base_pod()
    good["metadata"] = {"name": "good", "namespace": "team"}
    host = base_pod()
    host["spec"]["hostNetwork"] = True
    docs = [wrap(bad, "Pod"), wrap(good, "Pod"), wrap(host, "Deployment", "web")]
    path = tmp_path / "m.yaml"
    path.write_text(yaml.dump_all(Dumper=KubernetesDumper, documents=docs, sort_keys=False))
    return path


def test_check_text(capsys: pytest.CaptureFixture[str], manifests: Path) -> None:
    code, out, _ = run(capsys, "check", "--version", "v1.23", str(manifests))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        f'{manifests}:1:1: pods "bad" is forbidden: violates PodSecurity "baseline:v1.23": '
        'privileged (container "a" must not set securityContext.privileged=true)'
    )
    assert lines[1].endswith(
        'deployments.apps "web": Warning: would violate PodSecurity "baseline:v1.23": '
        "host namespaces (hostNetwork=true)"
    )
    assert lines[-1].startswith("checked 3 objects (2 pods, 1 template")


def test_check_json(capsys: pytest.CaptureFixture[str], manifests: Path) -> None:
    code, out, _ = run(capsys, "check", "--level", "restricted", "--format", "json", str(manifests))
    assert code == 1
    doc = json.loads(out)
    assert [o["verdict"] for o in doc["objects"]] == ["violates", "pass", "violates"]
    assert doc["objects"][0]["enforce"] == "restricted:latest"
    assert doc["objects"][0]["evaluated_version"] == "v1.37"
    assert doc["objects"][0]["failures"][0]["check"] == "privileged"
    assert doc["summary"]["violating"] == 2


def test_check_passes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(wrap(base_pod(), "Pod")))
    code, out, _ = run(capsys, "check", "--level", "restricted", str(path))
    assert code == 0 and "0 violate" in out


def test_check_namespaces(
    capsys: pytest.CaptureFixture[str], manifests: Path, tmp_path: Path
) -> None:
    ns = tmp_path / "ns.yaml"
    ns.write_text(
        yaml.dump(
            Dumper=KubernetesDumper,
            data={
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "team", "labels": {E: "restricted"}},
            },
        )
    )
    code, out, _ = run(capsys, "check", "--namespaces", str(ns), str(manifests))
    assert code == 1
    assert (
        'namespace team: pods "bad" is forbidden: violates PodSecurity "restricted:latest"' in out
    )
    # the deployment has no namespace: the default namespace gets the platform defaults
    assert (
        'namespace default: deployments.apps "web": Warning: would violate PodSecurity'
        ' "restricted:latest"' in out
    )
    assert 'pods it creates would be forbidden: violates PodSecurity "baseline:latest"' in out


@pytest.mark.parametrize(
    "args",
    [
        ["check"],
        ["check", "--version", "1.2", "x.yaml"],
        ["check", "--level", "privileged", "x.yaml"],
        ["check", "--namespaces", "n.yaml", "--level", "baseline", "x.yaml"],
        ["check", "does-not-exist.yaml"],
        ["label", "ns", "--level", "privileged"],
        ["label", "Bad_NS", "--level", "baseline"],
        ["guard", "--floor-version", "2.0"],
        ["guard", "--old", "x.yaml"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, _, _ = run(capsys, *args)
    assert code == 2


def test_unreadable_manifest_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nspec:\n  hostPID: [true]\n")
    code, _, err = run(capsys, "check", str(path))
    assert code == 1
    assert f"{path}:4:12: error: spec.hostPID: expected a boolean, got list" in err


def test_label_refuses_privileged_with_an_explanation(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "label", "ns", "--level", "privileged")
    assert code == 2 and out == ""
    assert "refused on this platform" in err and "hint:" in err


def test_label_manifest_validates(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "label", "team-a", "--level", "restricted", "--warn", "restricted")
    assert code == 0 and err == ""
    doc = yaml.safe_load(out)
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    assert doc["metadata"]["labels"] == {
        E: "restricted",
        E + "-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
    }


def test_label_kubectl_and_pinned_version_warning(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "label", "team-a", "--level", "baseline", "--version", "v1.30", "--kubectl"
    )
    assert code == 0
    assert out.strip() == (
        f"kubectl label --overwrite namespace team-a {E}=baseline {E}-version=v1.30"
    )
    assert "older than the newest policy (v1.37)" in err
    assert "hostProbesAndHostLifecycle (v1.34)" in err and "sysctls (v1.32)" in err


def test_label_check_existing(capsys: pytest.CaptureFixture[str], manifests: Path) -> None:
    code, _, err = run(
        capsys, "label", "team", "--level", "restricted", "--check-existing", str(manifests)
    )
    assert code == 0
    assert (
        'Warning: existing pods in namespace "team" violate the new PodSecurity enforce level'
        ' "restricted:latest"' in err
    )
    assert "Warning: bad: privileged" in err


def test_guard_prints_and_writes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(
        capsys, "guard", "--allow-namespace", "kube-system", "--floor-version", "v1.25"
    )
    assert code == 0
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == [
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    code, _, _ = run(
        capsys,
        "guard",
        "-o",
        str(tmp_path / "out"),
        "--allow-namespace",
        "kube-system",
        "--floor-version",
        "v1.25",
    )
    assert code == 0
    assert (tmp_path / "out" / "pod-security-guard.yaml").read_text() == out


def test_guard_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    new = tmp_path / "new.yaml"
    old = tmp_path / "old.yaml"

    def nsdoc(name: str, level: str) -> dict[str, object]:
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {E: level}},
        }

    new.write_text(
        yaml.dump_all(
            Dumper=KubernetesDumper,
            documents=[nsdoc("a", "privileged"), nsdoc("b", "baseline"), nsdoc("c", "privileged")],
        )
    )
    old.write_text(
        yaml.dump_all(
            Dumper=KubernetesDumper, documents=[nsdoc("b", "restricted"), nsdoc("c", "privileged")]
        )
    )
    code, out, _ = run(capsys, "guard", "--check", str(new), "--old", str(old))
    assert code == 1
    assert f'{new}:1:1: namespace "a": CREATE denied: {E}=privileged is refused' in out
    assert 'namespace "b": UPDATE denied: this namespace enforces restricted' in out
    assert 'namespace "c"' not in out  # unchanged: keeps working
    code, out, _ = run(
        capsys, "guard", "--check", str(new), "--allow-namespace", "a", "--old", str(old)
    )
    assert code == 1 and 'namespace "a"' not in out
