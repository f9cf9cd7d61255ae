"""The cluster objects a fleet configuration produces, evaluated as the API server would.

For each cluster mode (self-managed: an AdmissionConfiguration; managed: namespace labels and
the guard) the shipped objects are parsed back from their YAML and their CEL evaluated with
cel-python on the requests the platform must get right; Pod Security is judged by the
offline PodSecurity evaluator with the configuration (or labels) the mode ships. Every object
is validated against the schemas of each configured Kubernetes version.
"""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from typing import Any

import kubernetes_validate
import pytest
import yaml

from seccompiler.base.errors import InputError
from seccompiler.base.yamlsrc import KubernetesDumper
from seccompiler.platform import config
from seccompiler.platform.artifacts import (
    INSTALLER_FILE,
    MUTATING_FILE,
    PSS_CONFIG_FILE,
    PSS_GUARD_FILE,
    VALIDATING_FILE,
    CompiledProfile,
    artifact_files,
    policycheck,
)
from seccompiler.platform.pss.admission import parse_configuration
from seccompiler.platform.pss.evaluate import Judge, namespace_policy
from seccompiler.platform.pss.manifests import parse_text
from seccompiler.platform.pss.objects import Manifests
from seccompiler.platform.pss.versions import Level, LevelVersion, Policy

OCI = json.dumps(
    {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["uselib"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
).encode()
AUDIT = OCI.replace(b'"SCMP_ACT_ERRNO", "errnoRet": 1', b'"SCMP_ACT_LOG"')
PROFILES = [CompiledProfile("keisson-default", OCI, AUDIT)]
ENFORCE = "pod-security.kubernetes.io/enforce"

MODES = ["self-managed", "managed"]


def _files(**changes: Any) -> dict[str, bytes]:
    return _build(tuple(sorted(changes.items())))


@functools.cache
def _build(changes: tuple[tuple[str, Any], ...]) -> dict[str, bytes]:
    """One build per configuration: the checks inside (schemas, CEL) dominate the time."""
    cfg = replace(config.PlatformConfig(), **dict(changes))
    return artifact_files(PROFILES, cfg=cfg)


def _docs(data: bytes) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(data) if d is not None]


def _kind(files: dict[str, bytes], path: str, kind: str) -> dict[str, Any]:
    return next(d for d in _docs(files[path]) if d["kind"] == kind)


DAEMONSET_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "kube-proxy-x7",
        "namespace": "kube-system",
        "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "kube-proxy", "uid": "u",
             "controller": True}
        ],
    },
    "spec": {
        "hostNetwork": True,
        "securityContext": {"seccompProfile": {"type": "Unconfined"}},
        "containers": [
            {"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.34.0",
             "securityContext": {"privileged": True}}
        ],
    },
}  # fmt: skip
APP_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"containers": [{"name": "web", "image": "registry.example/web:1"}]},
}
UNCONFINED_POD = {
    **APP_POD,
    "spec": {**APP_POD["spec"], "securityContext": {"seccompProfile": {"type": "Unconfined"}}},
}


def _pss_judge(files: dict[str, bytes], mode: str, labels: dict[str, dict[str, str]]) -> Judge:
    if mode == "self-managed":
        pss = parse_configuration(_docs(files[PSS_CONFIG_FILE])[0], PSS_CONFIG_FILE)
        return Judge(namespace_policy(labels, pss.defaults), pss)
    # A managed cluster's own defaults: PodSecurity on, everything privileged (EKS, GKE).
    privileged = LevelVersion(Level.PRIVILEGED)
    return Judge(namespace_policy(labels, Policy(privileged, privileged, privileged)))


def _pod_verdict(judge: Judge, pod: dict[str, Any]) -> Any:
    out = Manifests()
    parse_text(yaml.dump(Dumper=KubernetesDumper, data=pod), "pod.yaml", out)
    assert not out.errors
    return judge.judge(out.objects[0])


@pytest.mark.parametrize("mode", MODES)
def test_kube_system_daemonset_pod_is_admitted(mode: str) -> None:
    files = _files(cluster=mode)
    vap = _kind(files, VALIDATING_FILE, "ValidatingAdmissionPolicy")
    mutating = _kind(files, MUTATING_FILE, "MutatingAdmissionPolicy")
    assert policycheck.judge_pod(vap, DAEMONSET_POD) == []
    assert policycheck.mutate_pod(mutating, DAEMONSET_POD) == DAEMONSET_POD
    labels = {"kube-system": {ENFORCE: "privileged"}} if mode == "managed" else {}
    assert not _pod_verdict(_pss_judge(files, mode, labels), DAEMONSET_POD).denied


@pytest.mark.parametrize("mode", MODES)
def test_app_pod_without_profile_gets_the_localhost_profile(mode: str) -> None:
    files = _files(cluster=mode)
    mutating = _kind(files, MUTATING_FILE, "MutatingAdmissionPolicy")
    got = policycheck.mutate_pod(mutating, APP_POD)["spec"]["securityContext"]["seccompProfile"]
    assert got == {"type": "Localhost", "localhostProfile": "keisson/default.json"}
    vap = _kind(files, VALIDATING_FILE, "ValidatingAdmissionPolicy")
    assert policycheck.judge_pod(vap, policycheck.mutate_pod(mutating, APP_POD)) == []


@pytest.mark.parametrize("mode", MODES)
def test_unconfined_app_pod_is_denied(mode: str) -> None:
    files = _files(cluster=mode)
    vap = _kind(files, VALIDATING_FILE, "ValidatingAdmissionPolicy")
    binding = _kind(files, VALIDATING_FILE, "ValidatingAdmissionPolicyBinding")
    assert policycheck.judge_pod(vap, UNCONFINED_POD)
    assert binding["spec"]["validationActions"] == ["Deny"]
    labels = {"shop": {ENFORCE: "baseline"}}  # what managed mode's guard makes every app ns set
    assert _pod_verdict(_pss_judge(files, mode, labels), UNCONFINED_POD).denied


def _guard(files: dict[str, bytes], name: str, labels: dict[str, str]) -> list[str]:
    policy = _kind(files, PSS_GUARD_FILE, "ValidatingAdmissionPolicy")
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    request = {"operation": "CREATE", "name": name, "namespace": ""}
    return policycheck.failed_validations(
        policy, {"object": ns, "oldObject": None, "request": request}
    )


@pytest.mark.parametrize("mode", MODES)
def test_privileged_label_denied_on_app_namespace_allowed_on_kube_system(mode: str) -> None:
    files = _files(cluster=mode)
    assert _guard(files, "shop", {ENFORCE: "privileged"})
    assert _guard(files, "kube-system", {ENFORCE: "privileged"}) == []
    assert _guard(files, "shop", {ENFORCE: "baseline"}) == []


def test_managed_mode_needs_no_apiserver_flags() -> None:
    managed = _files(cluster="managed")
    assert PSS_CONFIG_FILE not in managed
    assert _guard(managed, "shop", {}), "an unlabelled namespace would enforce nothing"
    selfm = _files(cluster="self-managed")
    assert _guard(selfm, "shop", {}) == []  # the API server's defaults apply there
    conf = _docs(selfm[PSS_CONFIG_FILE])[0]["plugins"][0]["configuration"]
    assert conf["exemptions"]["namespaces"] == ["kube-system", "kube-public", "kube-node-lease"]


def test_failure_policies_are_chosen() -> None:
    files = _files()
    assert _kind(files, MUTATING_FILE, "MutatingAdmissionPolicy")["spec"]["failurePolicy"] == (
        "Ignore"
    )
    for path in (VALIDATING_FILE, PSS_GUARD_FILE):
        assert _kind(files, path, "ValidatingAdmissionPolicy")["spec"]["failurePolicy"] == "Fail"


FLEETS = [
    ((32, 33), "v1alpha1", "self-managed"),
    ((33, 35), "v1alpha1", "managed"),
    ((34, 35), "v1beta1", "managed"),
    ((35, 36), "v1beta1", "self-managed"),
    ((36, 37), "v1", "managed"),
]


@pytest.mark.parametrize(("minors", "version", "mode"), FLEETS)
def test_every_manifest_validates_for_each_configured_kubernetes(
    minors: tuple[int, ...], version: str, mode: str
) -> None:
    files = _files(kubernetes=minors, cluster=mode)
    mutating = _docs(files[MUTATING_FILE])
    assert {d["apiVersion"] for d in mutating} == {f"admissionregistration.k8s.io/{version}"}
    for path in (MUTATING_FILE, VALIDATING_FILE, PSS_GUARD_FILE):
        for doc in _docs(files[path]):
            for minor in minors:
                kubernetes_validate.validate(doc, f"1.{minor}", strict=True)


def test_a_kubernetes_version_without_the_api_is_refused_with_the_alternative() -> None:
    with pytest.raises(InputError) as info:
        _files(kubernetes=(31, 34))
    assert "1.31" in info.value.message and "MutatingAdmissionPolicy" in info.value.message
    assert "1.32" in info.value.hint and "RuntimeDefault" in info.value.hint


STAGES = [
    ("audit", "keisson/audit/default.json", ["Warn", "Audit"], "privileged"),
    ("warn", "keisson/default.json", ["Warn", "Audit"], "privileged"),
    ("enforce", "keisson/default.json", ["Deny"], "baseline"),
]


@pytest.mark.parametrize(("stage", "ref", "actions", "enforce"), STAGES)
def test_rollout_stages(stage: str, ref: str, actions: list[str], enforce: str) -> None:
    files = _files(rollout=stage)
    mutating = _kind(files, MUTATING_FILE, "MutatingAdmissionPolicy")
    got = policycheck.mutate_pod(mutating, APP_POD)["spec"]["securityContext"]["seccompProfile"]
    assert got["localhostProfile"] == ref
    for path in (VALIDATING_FILE, PSS_GUARD_FILE):
        binding = _kind(files, path, "ValidatingAdmissionPolicyBinding")
        assert binding["spec"]["validationActions"] == actions
    defaults = _docs(files[PSS_CONFIG_FILE])[0]["plugins"][0]["configuration"]["defaults"]
    assert defaults["enforce"] == enforce
    assert defaults["audit"] == "restricted"
    crio = files["node/etc/crio/crio.conf.d/60-keisson-seccomp.conf"].decode()
    assert f"/var/lib/kubelet/seccomp/{ref}" in crio
    audit = json.loads(files["node/var/lib/kubelet/seccomp/keisson/audit/default.json"])
    assert {r["action"] for r in audit["syscalls"]} == {"SCMP_ACT_LOG"}


@pytest.mark.parametrize(("stage", "name"), [("enforce", "keisson-default"),
                                             ("audit", "keisson-default-audit")])  # fmt: skip
def test_spo_objects_and_the_admission_policy_agree_on_the_path(stage: str, name: str) -> None:
    files = _files(profile_distribution="security-profiles-operator", rollout=stage)
    objs = _docs(files["cluster/seccompprofiles/keisson-default.yaml"])
    installed = {
        f"operator/{o['metadata']['namespace']}/{o['metadata']['name']}.json" for o in objs
    }
    mutating = _kind(files, MUTATING_FILE, "MutatingAdmissionPolicy")
    got = policycheck.mutate_pod(mutating, APP_POD)["spec"]["securityContext"]["seccompProfile"]
    assert got["localhostProfile"] == f"operator/security-profiles-operator/{name}.json"
    assert got["localhostProfile"] in installed
    crio = files["node/etc/crio/crio.conf.d/60-keisson-seccomp.conf"].decode()
    assert f"/var/lib/kubelet/seccomp/{got['localhostProfile']}" in crio
    assert INSTALLER_FILE not in files


def test_installer_distribution_ships_no_spo_objects() -> None:
    files = _files()
    assert not [p for p in files if p.startswith("cluster/seccompprofiles/")]
    assert INSTALLER_FILE in files
