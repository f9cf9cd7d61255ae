"""Cluster enforcement: every pod gets the platform profile, and no pod runs Unconfined.

Both are admission policies in CEL (admissionregistration.k8s.io: ValidatingAdmissionPolicy
v1 from 1.30, MutatingAdmissionPolicy in the version the fleet's Kubernetes serves, see
``platform.kubeapi``), each with a binding, so no webhook has to run. The expressions are
module constants so that the build and the tests evaluate the very text that ships.

Neither touches the system namespaces (kube-proxy, CNI and CSI DaemonSets live there and may
need other profiles), and each ``failurePolicy`` is a choice:
- the mutating policy ``Ignore``s its own failure: a pod it could not mutate still runs
  under ``RuntimeDefault`` (kubelet ``seccompDefault``), which is confined, whereas ``Fail``
  would stop every pod creation in the cluster while the policy is broken;
- the deny-Unconfined policy ``Fail``s closed: letting ``Unconfined`` through when the check
  cannot run is the one outcome the platform exists to prevent, and the system namespaces
  it excludes keep the cluster able to repair itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

API_VERSION = "admissionregistration.k8s.io/v1"
MUTATING_NAME = "keisson-default-seccomp"
VALIDATING_NAME = "keisson-deny-unconfined-seccomp"

# Windows pods may not set seccompProfile (API validation rejects it), so leave them alone.
NOT_WINDOWS = "!has(object.spec.os) || object.spec.os.name != 'windows'"
NO_POD_PROFILE = (
    "!has(object.spec.securityContext) || !has(object.spec.securityContext.seccompProfile)"
)


def mutation_expression(localhost_ref: str, gate: str = "") -> str:
    """Apply configuration that sets the pod-level profile to ``Localhost localhost_ref``
    and, given a ``gate`` node label, schedules the pod only onto nodes that carry it."""
    selector = f'    nodeSelector: {{"{gate}": "installed"}},\n' if gate else ""
    return (
        "Object{\n"
        "  spec: Object.spec{\n"
        f"{selector}"
        "    securityContext: Object.spec.securityContext{\n"
        "      seccompProfile: Object.spec.securityContext.seccompProfile{\n"
        '        type: "Localhost",\n'
        f'        localhostProfile: "{localhost_ref}"\n'
        "      }\n"
        "    }\n"
        "  }\n"
        "}\n"
    )


# Every container of every kind, as one list (init and ephemeral containers are optional).
ALL_CONTAINERS = (
    "object.spec.containers\n"
    "+ (has(object.spec.initContainers) ? object.spec.initContainers : [])\n"
    "+ (has(object.spec.ephemeralContainers) ? object.spec.ephemeralContainers : [])\n"
)
POD_NOT_UNCONFINED = (
    "!has(object.spec.securityContext)\n"
    "|| !has(object.spec.securityContext.seccompProfile)\n"
    "|| object.spec.securityContext.seccompProfile.type != 'Unconfined'\n"
)
CONTAINERS_NOT_UNCONFINED = (
    "variables.containers.all(c,\n"
    "  !has(c.securityContext)\n"
    "  || !has(c.securityContext.seccompProfile)\n"
    "  || c.securityContext.seccompProfile.type != 'Unconfined')\n"
)
# The pre-1.19 annotations: kubelets no longer read them, but an old node or tool might.
ANNOTATIONS_NOT_UNCONFINED = (
    "!has(object.metadata.annotations)\n"
    "|| object.metadata.annotations.all(k,\n"
    "  !(k == 'seccomp.security.alpha.kubernetes.io/pod'\n"
    "    || k.startsWith('container.seccomp.security.alpha.kubernetes.io/'))\n"
    "  || object.metadata.annotations[k] != 'unconfined')\n"
)

# Pod specs are immutable but for ephemeral containers; judging every UPDATE would block
# label or finalizer changes (and so deletion) of pods admitted before this policy existed.
NEW_CONTAINERS_ONLY = (
    "request.operation == 'CREATE' || request.subResource == 'ephemeralcontainers'"
)

_POD_RULE = {
    "apiGroups": [""],
    "apiVersions": ["v1"],
    "operations": ["CREATE"],
    "resources": ["pods"],
}


def not_in_namespaces(namespaces: Sequence[str]) -> str:
    """CEL true when the request is outside ``namespaces``."""
    names = ", ".join("'" + n + "'" for n in namespaces)  # namespace names need no escaping
    return f"!(request.namespace in [{names}])"


def _system_condition(system_namespaces: Sequence[str]) -> list[dict[str, str]]:
    if not system_namespaces:
        return []
    return [{"name": "not-a-system-namespace", "expression": not_in_namespaces(system_namespaces)}]


def mutating_policy(
    localhost_ref: str,
    api_version: str = API_VERSION,
    system_namespaces: Sequence[str] = (),
    gate: str = "",
) -> list[dict[str, Any]]:
    """A MutatingAdmissionPolicy and its binding: pods naming no profile get ours."""
    policy = {
        "apiVersion": api_version,
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": MUTATING_NAME},
        "spec": {
            "failurePolicy": "Ignore",
            "reinvocationPolicy": "IfNeeded",
            "matchConstraints": {"resourceRules": [_POD_RULE]},
            "matchConditions": [
                *_system_condition(system_namespaces),
                {"name": "linux-pod", "expression": NOT_WINDOWS},
                {"name": "no-pod-seccomp-profile", "expression": NO_POD_PROFILE},
            ],
            "mutations": [
                {
                    "patchType": "ApplyConfiguration",
                    "applyConfiguration": {"expression": mutation_expression(localhost_ref, gate)},
                }
            ],
        },
    }
    binding = {
        "apiVersion": api_version,
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": MUTATING_NAME},
        "spec": {"policyName": MUTATING_NAME},
    }
    return [policy, binding]


def validating_policy(
    system_namespaces: Sequence[str] = (), actions: Sequence[str] = ("Deny",)
) -> list[dict[str, Any]]:
    """A ValidatingAdmissionPolicy and its binding denying ``Unconfined`` at every level
    (``actions`` Warn and Audit instead of Deny before the rollout's enforce stage)."""
    rule = dict(_POD_RULE)
    rule["operations"] = ["CREATE", "UPDATE"]
    rule["resources"] = ["pods", "pods/ephemeralcontainers"]
    policy = {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": VALIDATING_NAME},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [rule]},
            "matchConditions": [
                *_system_condition(system_namespaces),
                {"name": "new-containers", "expression": NEW_CONTAINERS_ONLY},
            ],
            "variables": [{"name": "containers", "expression": ALL_CONTAINERS}],
            "validations": [
                {
                    "expression": POD_NOT_UNCONFINED,
                    "message": "pod securityContext.seccompProfile.type must not be "
                    "Unconfined on this platform; remove it to get the platform profile",
                    "reason": "Forbidden",
                },
                {
                    "expression": CONTAINERS_NOT_UNCONFINED,
                    "message": "containers must not set securityContext.seccompProfile.type="
                    "Unconfined on this platform; remove it or name a Localhost profile",
                    "reason": "Forbidden",
                },
                {
                    "expression": ANNOTATIONS_NOT_UNCONFINED,
                    "message": "seccomp annotations must not request 'unconfined'",
                    "reason": "Forbidden",
                },
            ],
        },
    }
    binding = {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": VALIDATING_NAME},
        "spec": {"policyName": VALIDATING_NAME, "validationActions": list(actions)},
    }
    return [policy, binding]
