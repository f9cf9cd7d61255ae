"""Each artifact against its consumer: the Kubernetes schemas, the SPO CRD, CEL, TOML, sysctl."""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from seccompiler.arch import tables
from seccompiler.base.errors import InputError
from seccompiler.platform import config, yama
from seccompiler.platform.artifacts import (
    MANIFEST,
    CompiledProfile,
    admission,
    artifact_files,
    checks,
    node,
    paths,
    policycheck,
    spo,
    with_manifest,
)

OCI: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [
        {"names": ["uselib", "ustat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 1,
            "args": [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
        },
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
    ],
}


def oci_bytes(obj: dict[str, Any] | None = None) -> bytes:
    return json.dumps(obj if obj is not None else OCI).encode()


PROFILES = [CompiledProfile("keisson-default", oci_bytes()), CompiledProfile("web", oci_bytes())]


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return with_manifest(artifact_files(PROFILES))


def docs(data: bytes) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(data) if d is not None]


# --- kubelet layout --------------------------------------------------------------------------

LAYOUT = [
    ("keisson-default", "/var/lib/kubelet", "keisson/default.json"),
    ("web", "/var/lib/kubelet", "keisson/web.json"),
    ("keisson-batch", "/srv/kubelet/", "keisson/batch.json"),
]


@pytest.mark.parametrize(("name", "root", "ref"), LAYOUT)
def test_kubelet_layout(name: str, root: str, ref: str) -> None:
    assert paths.localhost_ref(name) == ref
    assert paths.kubelet_profile_path(name, root) == f"{root.rstrip('/')}/seccomp/{ref}"


def test_kubelet_profile_is_the_flat_oci_object(files: dict[str, bytes]) -> None:
    data = files["node/var/lib/kubelet/seccomp/keisson/default.json"]
    assert json.loads(data) == OCI
    assert data.endswith(b"\n")


@pytest.mark.parametrize("key", ["archMap", "includes", "excludes"])
def test_kubelet_profile_must_be_flat(key: str) -> None:
    bad = {**OCI, key: []}
    with pytest.raises(InputError) as exc:
        node.kubelet_profile(oci_bytes(bad), "x.json")
    assert exc.value.location is not None and exc.value.location.path == "x.json"


@pytest.mark.parametrize("name", ["Default", "-x", "a_b", "x" * 64, ""])
def test_profile_names_must_be_kubernetes_names(name: str) -> None:
    with pytest.raises(InputError):
        paths.localhost_ref(name)


# --- security-profiles-operator SeccompProfile -----------------------------------------------

# Written from the v1beta1 CRD's facts, independent of the library's copy.
CRD_FACTS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"const": "security-profiles-operator.x-k8s.io/v1beta1"},
        "kind": {"const": "SeccompProfile"},
        "spec": {
            "type": "object",
            "required": ["defaultAction"],
            "properties": {
                "architectures": {
                    "items": {"enum": [f"SCMP_ARCH_{a}" for a in ("X86", "X86_64", "X32")]}
                },
                "syscalls": {
                    "items": {
                        "required": ["action", "names"],
                        "properties": {
                            "errnoRet": {"type": "integer"},
                            "args": {
                                "maxItems": 6,
                                "items": {
                                    "required": ["index", "op"],
                                    "properties": {"value": {"maximum": 2**63 - 1}},
                                },
                            },
                        },
                    }
                },
            },
        },
    },
}


def test_spo_object_matches_the_crd() -> None:
    cfg = config.PlatformConfig(profile_distribution="security-profiles-operator")
    files = artifact_files(PROFILES, cfg=cfg)
    (obj,) = docs(files["cluster/seccompprofiles/keisson-default.yaml"])
    jsonschema.validate(obj, CRD_FACTS)
    jsonschema.validate(obj, spo.SCHEMA)
    assert obj["metadata"] == {"name": "keisson-default", "namespace": spo.NAMESPACE}
    assert obj["spec"]["syscalls"][1]["args"] == [
        {"index": 0, "op": "SCMP_CMP_MASKED_EQ", "value": 0x7E020000}
    ]


def test_spo_keeps_what_it_can_and_says_what_it_drops() -> None:
    obj = spo.seccomp_profile_object(
        "x", {**OCI, "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_LOONGARCH64"]}
    )
    assert obj["spec"]["architectures"] == ["SCMP_ARCH_X86_64"]
    assert obj["metadata"]["annotations"] == {spo.UNSUPPORTED_ANNOTATION: "SCMP_ARCH_LOONGARCH64"}
    jsonschema.validate(obj, spo.SCHEMA)


def test_spo_notes_a_default_errno_it_cannot_hold() -> None:
    obj = spo.seccomp_profile_object(
        "x", {**OCI, "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}
    )
    assert obj["spec"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert "defaultErrnoRet" not in obj["spec"]
    assert obj["metadata"]["annotations"] == {spo.DEFAULT_ERRNO_ANNOTATION: "38"}
    jsonschema.validate(obj, spo.SCHEMA)
    plain = spo.seccomp_profile_object("x", {**OCI, "defaultErrnoRet": 1})
    assert "annotations" not in plain["metadata"]


SPO_REFUSALS = [
    (
        {
            **OCI,
            "syscalls": [
                {
                    "names": ["ioctl"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 1, "value": 2**64 - 1, "op": "SCMP_CMP_EQ"}],
                }
            ],
        },
        "int64",
    ),
]


@pytest.mark.parametrize(("oci", "why"), SPO_REFUSALS)
def test_spo_refuses_what_the_crd_cannot_hold(oci: dict[str, Any], why: str) -> None:
    with pytest.raises(InputError) as exc:
        spo.seccomp_profile_object("x", oci)
    assert exc.value.location is not None
    assert why in exc.value.message or why in exc.value.hint


def test_spo_schema_catches_a_bad_object() -> None:
    obj = spo.seccomp_profile_object("x", OCI)
    obj["spec"]["defaultErrnoRet"] = 1
    with pytest.raises(InputError):
        checks.check_seccomp_profile(obj, "x.yaml")


# --- Kubernetes objects against the API schemas -----------------------------------------------

K8S_FILES = [
    # The default fleet runs Kubernetes 1.34 and 1.35: MutatingAdmissionPolicy is beta there.
    ("cluster/admission/default-seccomp-mutating.yaml", "v1beta1"),
    ("cluster/admission/deny-unconfined-validating.yaml", "v1"),
]


@pytest.mark.parametrize(("path", "version"), K8S_FILES)
def test_admission_objects_validate_strictly(
    files: dict[str, bytes], path: str, version: str
) -> None:
    objs = docs(files[path])
    assert [o["apiVersion"] for o in objs] == [f"admissionregistration.k8s.io/{version}"] * 2
    for obj in objs:
        for kubernetes in ("1.34", "1.35"):
            kubernetes_validate.validate(obj, kubernetes, strict=True)


def test_schema_check_rejects_unknown_fields() -> None:
    policy = admission.validating_policy()[0]
    bad = copy.deepcopy(policy)
    bad["spec"]["validations"][0]["mesage"] = "typo"
    with pytest.raises(InputError) as exc:
        checks.check_kubernetes(bad, "p.yaml")
    assert exc.value.location is not None and exc.value.location.path == "p.yaml"


# --- CEL, evaluated -----------------------------------------------------------------------------


def pod(
    pod_sc: dict[str, Any] | None = None,
    containers: list[dict[str, Any]] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": containers or [{"name": "a", "image": "i"}], **spec}
    if pod_sc is not None:
        body["securityContext"] = pod_sc
    meta: dict[str, Any] = {"name": "p"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": body}


def sc(kind: str, ref: str | None = None) -> dict[str, Any]:
    profile = {"type": kind} | ({"localhostProfile": ref} if ref else {})
    return {"seccompProfile": profile}


def ctr(name: str, kind: str | None = None) -> dict[str, Any]:
    return {"name": name, "image": "i"} | ({"securityContext": sc(kind)} if kind else {})


VALIDATING = [
    ("nothing set", pod(), 0),
    ("pod RuntimeDefault", pod(sc("RuntimeDefault")), 0),
    ("pod Localhost", pod(sc("Localhost", "keisson/default.json")), 0),
    ("pod Unconfined", pod(sc("Unconfined")), 1),
    ("pod runAsUser only", pod({"runAsUser": 1000}), 0),
    ("container Unconfined", pod(containers=[ctr("a"), ctr("b", "Unconfined")]), 1),
    ("container RuntimeDefault", pod(containers=[ctr("a", "RuntimeDefault")]), 0),
    ("init Unconfined", pod(initContainers=[ctr("i", "Unconfined")]), 1),
    ("ephemeral Unconfined", pod(ephemeralContainers=[ctr("e", "Unconfined")]), 1),
    ("pod and container Unconfined", pod(sc("Unconfined"), [ctr("a", "Unconfined")]), 2),
    (
        "annotation unconfined",
        pod(annotations={"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}),
        1,
    ),
    (
        "container annotation unconfined",
        pod(annotations={"container.seccomp.security.alpha.kubernetes.io/a": "unconfined"}),
        1,
    ),
    ("unrelated annotation", pod(annotations={"note": "unconfined"}), 0),
]


@pytest.mark.parametrize(("label", "obj", "failures"), VALIDATING)
def test_validating_policy_verdicts(label: str, obj: dict[str, Any], failures: int) -> None:
    (policy, _binding) = admission.validating_policy()
    assert len(policycheck.judge_pod(policy, obj)) == failures, label


def test_updates_judge_only_new_containers() -> None:
    (policy, _) = admission.validating_policy()
    legacy = pod(sc("Unconfined"))
    relabelled = copy.deepcopy(legacy)
    relabelled["metadata"]["labels"] = {"a": "b"}
    assert policycheck.judge_pod(policy, relabelled, old=legacy) == []  # label/finalizer updates
    fine = pod()
    debug = pod(ephemeralContainers=[ctr("dbg", "Unconfined")])
    assert (
        len(policycheck.judge_pod(policy, debug, old=fine, subresource="ephemeralcontainers")) == 1
    )
    ok = pod(ephemeralContainers=[ctr("dbg")])
    assert policycheck.judge_pod(policy, ok, old=fine, subresource="ephemeralcontainers") == []


LOCAL = {"type": "Localhost", "localhostProfile": "keisson/default.json"}
MUTATING = [
    ("nothing set", pod(), LOCAL),
    ("runAsUser only", pod({"runAsUser": 1000}), LOCAL),
    ("RuntimeDefault kept", pod(sc("RuntimeDefault")), {"type": "RuntimeDefault"}),
    (
        "Localhost kept",
        pod(sc("Localhost", "other.json")),
        sc("Localhost", "other.json")["seccompProfile"],
    ),
    ("windows untouched", pod(os={"name": "windows"}), None),
]


@pytest.mark.parametrize(("label", "obj", "profile"), MUTATING)
def test_mutating_policy_results(label: str, obj: dict[str, Any], profile: Any) -> None:
    (policy, binding) = admission.mutating_policy("keisson/default.json")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    out = policycheck.mutate_pod(policy, obj)
    assert out["spec"].get("securityContext", {}).get("seccompProfile") == profile, label
    rest = {k: v for k, v in out["spec"].items() if k != "securityContext"}
    assert rest == {k: v for k, v in obj["spec"].items() if k != "securityContext"}
    if "securityContext" in obj["spec"]:
        for k, v in obj["spec"]["securityContext"].items():
            assert out["spec"]["securityContext"][k] == v


def test_mutated_pod_passes_the_validating_policy() -> None:
    (mutating, _) = admission.mutating_policy("keisson/default.json")
    (validating, _) = admission.validating_policy()
    for _label, obj, _ in MUTATING:
        assert policycheck.judge_pod(validating, policycheck.mutate_pod(mutating, obj)) == []


def test_admission_check_catches_a_broken_policy() -> None:
    mutating = admission.mutating_policy("keisson/default.json")
    validating = admission.validating_policy()
    validating[0]["spec"]["validations"] = validating[0]["spec"]["validations"][:1]
    with pytest.raises(InputError):
        policycheck.check_admission(validating, mutating, "keisson/default.json", "x")


# --- node drop-ins ---------------------------------------------------------------------------


def test_crio_dropin_names_the_installed_default(files: dict[str, bytes]) -> None:
    conf = tomllib.loads(files["node/etc/crio/crio.conf.d/60-keisson-seccomp.conf"].decode())
    path = conf["crio"]["runtime"]["seccomp_profile"]
    assert path == "/var/lib/kubelet/seccomp/keisson/default.json"
    assert "node" + path in files


KUBELET_CONFIG_FACTS = {
    "type": "object",
    "required": ["apiVersion", "kind", "seccompDefault"],
    "properties": {
        "apiVersion": {"const": "kubelet.config.k8s.io/v1beta1"},
        "kind": {"const": "KubeletConfiguration"},
        "seccompDefault": {"const": True},
    },
}


def test_kubelet_dropin(files: dict[str, bytes]) -> None:
    name = "node/etc/kubernetes/kubelet.conf.d/60-keisson-seccomp.conf"
    assert name.endswith(".conf")  # kubelet --config-dir reads only *.conf
    (obj,) = docs(files[name])
    jsonschema.validate(obj, KUBELET_CONFIG_FACTS)


def test_yama_dropin_sets_scope_1(files: dict[str, bytes], tmp_path: Path) -> None:
    target = tmp_path / "etc/sysctl.d/60-keisson-yama.conf"
    target.parent.mkdir(parents=True)
    target.write_bytes(files["node/etc/sysctl.d/60-keisson-yama.conf"])
    assert yama.configured_scope(tmp_path)[0] == 1


# --- manifest and determinism -----------------------------------------------------------------


def test_manifest_lists_every_file(files: dict[str, bytes]) -> None:
    man = json.loads(files[MANIFEST])
    assert set(man["files"]) == set(files) - {MANIFEST}
    for path, entry in man["files"].items():
        assert entry == {
            "sha256": hashlib.sha256(files[path]).hexdigest(),
            "size": len(files[path]),
        }
    assert man["syscall_table"]["kernel"] == tables.kernel_version()
    assert man["syscall_table"]["source"] == tables.source_stamp()
    assert man["tool"]["name"] == "seccompiler"


def test_artifacts_are_deterministic(files: dict[str, bytes]) -> None:
    again = with_manifest(artifact_files(list(reversed(PROFILES))))
    assert again == files


def test_default_profile_must_be_built() -> None:
    with pytest.raises(InputError):
        artifact_files([CompiledProfile("web", oci_bytes())])


# --- Pod Security admission configuration and guard (from the Pod Security helpers) ---------


def test_pss_files_are_present_and_checked(files: dict[str, bytes]) -> None:
    (config,) = docs(files["cluster/pss/admission-configuration.yaml"])
    plugin = config["plugins"][0]
    assert plugin["name"] == "PodSecurity"
    defaults = plugin["configuration"]["defaults"]
    assert (defaults["enforce"], defaults["audit"], defaults["warn"]) == (
        "baseline",
        "restricted",
        "restricted",
    )
    guard = docs(files["cluster/pss/guard.yaml"])
    assert [d["kind"] for d in guard] == [
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    for obj in guard:
        kubernetes_validate.validate(obj, "1.37", strict=True)


def test_pss_config_with_other_defaults_is_refused() -> None:
    from seccompiler.platform.pss.admission import admission_configuration

    with pytest.raises(InputError):
        checks.check_pss_config(admission_configuration(enforce="restricted"), "x")


def test_guard_cel_is_compared_with_its_rules() -> None:
    from seccompiler.platform.pss.guard import guard_manifests

    manifests = guard_manifests()
    policycheck.check_guard(manifests, lambda name, labels, old: _twin(name, labels, old), "g")
    with pytest.raises(InputError):
        policycheck.check_guard(manifests, lambda name, labels, old: [], "g")


def _twin(name: str, labels: Any, old: Any) -> list[str]:
    from seccompiler.platform.pss.guard import NamespaceChange, guard_denials

    return guard_denials(NamespaceChange(name, labels, old))


NODE_CHECK_FAILURES = [
    (checks.check_crio_dropin, b"[crio.runtime\nseccomp_profile = 1\n"),
    (checks.check_crio_dropin, b'[crio.runtime]\nseccomp_profile = "/elsewhere.json"\n'),
    (checks.check_kubelet_config, b"apiVersion: v1\nkind: ConfigMap\n"),
    (checks.check_kubelet_config, b"kind: KubeletConfiguration\nseccompDefault: false\n"),
]


@pytest.mark.parametrize(("check", "data"), NODE_CHECK_FAILURES)
def test_node_checks_refuse_wrong_files(check: Any, data: bytes) -> None:
    with pytest.raises(InputError) as exc:
        if check is checks.check_crio_dropin:
            check(data, "/var/lib/kubelet/seccomp/keisson/default.json", "f.conf")
        else:
            check(data, "f.conf")
    assert exc.value.location is not None and exc.value.location.path == "f.conf"
