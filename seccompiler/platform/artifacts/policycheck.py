"""The admission policies judged by evaluating their CEL, as the API server applies them.

``failed_validations``, ``judge_pod`` and ``mutate_pod`` run a Validating or Mutating
AdmissionPolicy on one request; ``check_admission`` and ``check_guard`` run the build's
policies on sample requests whose verdicts are known, and refuse a policy that misjudges one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from seccompiler.base.errors import InputError
from seccompiler.platform.artifacts import cel
from seccompiler.platform.artifacts.checks import fail


def _spec(policy: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = policy.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _matches(policy: Mapping[str, Any], activation: Mapping[str, Any]) -> bool:
    conditions = _spec(policy).get("matchConditions") or ()
    return all(cel.evaluate(c["expression"], activation) is True for c in conditions)


def failed_validations(policy: Mapping[str, Any], activation: Mapping[str, Any]) -> list[str]:
    """Messages of a ValidatingAdmissionPolicy's validations that fail for a request.

    ``activation`` holds what the API server binds: ``object``, ``oldObject``, ``request``.
    Variables are computed in order, each seeing the ones before it.
    """
    if not _matches(policy, activation):
        return []
    spec = _spec(policy)
    variables: dict[str, Any] = {}
    for var in spec.get("variables") or ():
        ctx = {**activation, "variables": variables}
        variables[var["name"]] = cel.evaluate(var["expression"], ctx)
    ctx = {**activation, "variables": variables}
    return [
        str(v.get("message", v["expression"]))
        for v in spec.get("validations") or ()
        if cel.evaluate(v["expression"], ctx) is not True
    ]


def judge_pod(
    policy: Mapping[str, Any],
    pod: Mapping[str, Any],
    old: Mapping[str, Any] | None = None,
    subresource: str = "",
) -> list[str]:
    """Messages of the validations ``pod`` fails when it is created (or, given ``old``,
    updated, through ``subresource`` if named)."""
    request = {
        "operation": "CREATE" if old is None else "UPDATE",
        "name": pod.get("metadata", {}).get("name", ""),
        "namespace": pod.get("metadata", {}).get("namespace", "default"),
        "subResource": subresource,
    }
    return failed_validations(policy, {"object": pod, "oldObject": old, "request": request})


def _merge(base: Any, patch: Any) -> Any:
    """Server-side-apply for what these policies set: maps merge, everything else replaces."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = _merge(base.get(k), v)
        return out
    return copy.deepcopy(patch)


def mutate_pod(policy: Mapping[str, Any], pod: Mapping[str, Any]) -> dict[str, Any]:
    """``pod`` as a MutatingAdmissionPolicy's apply configurations leave it."""
    out = copy.deepcopy(dict(pod))
    request = {
        "operation": "CREATE",
        "name": out.get("metadata", {}).get("name", ""),
        "namespace": out.get("metadata", {}).get("namespace", "default"),
        "subResource": "",
    }
    if not _matches(policy, {"object": out, "request": request}):
        return out
    for mutation in _spec(policy).get("mutations") or ():
        if mutation.get("patchType") != "ApplyConfiguration":
            raise fail("<mutating policy>", "only ApplyConfiguration mutations can be checked")
        patch = cel.evaluate(mutation["applyConfiguration"]["expression"], {"object": out})
        out = _merge(out, patch)
    return out


def _pod(pod_sc: Any = None, container_sc: Any = None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "registry.example/app"}]}
    if pod_sc is not None:
        spec["securityContext"] = pod_sc
    if container_sc is not None:
        spec["containers"][0]["securityContext"] = container_sc
    spec.update(extra)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


_UNCONFINED = {"seccompProfile": {"type": "Unconfined"}}
_RUNTIME_DEFAULT = {"seccompProfile": {"type": "RuntimeDefault"}}

# (pod, must it be denied) — the build refuses policies that misjudge any of these.
VALIDATING_SAMPLES: tuple[tuple[str, dict[str, Any], bool], ...] = (
    ("no profile", _pod(), False),
    ("RuntimeDefault", _pod(_RUNTIME_DEFAULT), False),
    ("pod Unconfined", _pod(_UNCONFINED), True),
    ("container Unconfined", _pod(None, _UNCONFINED), True),
    ("init Unconfined", _pod(initContainers=[{"name": "i", "securityContext": _UNCONFINED}]), True),
    (
        "ephemeral Unconfined",
        _pod(ephemeralContainers=[{"name": "e", "securityContext": _UNCONFINED}]),
        True,
    ),
)


def check_admission(
    validating: Sequence[Mapping[str, Any]],
    mutating: Sequence[Mapping[str, Any]],
    localhost_ref: str,
    where: str,
    system_namespaces: Sequence[str] = (),
) -> None:
    """Evaluate both policies on sample pods and compare with the verdicts they must give."""
    vap = next(d for d in validating if d.get("kind") == "ValidatingAdmissionPolicy")
    map_ = next((d for d in mutating if d.get("kind") == "MutatingAdmissionPolicy"), None)
    try:
        for ns in system_namespaces:
            system = _pod(_UNCONFINED)
            system["metadata"]["namespace"] = ns
            if judge_pod(vap, system):
                raise fail(where, f"ValidatingAdmissionPolicy denies a pod in {ns}")
            if map_ is not None:
                bare = mutate_pod(map_, {**_pod(), "metadata": dict(system["metadata"])})
                if "securityContext" in bare["spec"]:
                    raise fail(where, f"MutatingAdmissionPolicy mutates a pod in {ns}")
        for label, pod, denied in VALIDATING_SAMPLES:
            if bool(judge_pod(vap, pod)) != denied:
                verdict = "allows" if denied else "denies"
                raise fail(where, f"ValidatingAdmissionPolicy {verdict} a pod with {label}")
        legacy = _pod(_UNCONFINED)
        if judge_pod(vap, {**legacy, "metadata": {"name": "p", "labels": {"a": "b"}}}, legacy):
            raise fail(where, "ValidatingAdmissionPolicy blocks metadata updates of old pods")
        expected = {"type": "Localhost", "localhostProfile": localhost_ref}
        if map_ is None:
            return
        for label, pod_sc in (("no securityContext", None), ("runAsUser only", {"runAsUser": 1})):
            got = mutate_pod(map_, _pod(pod_sc))["spec"]["securityContext"]
            if got.get("seccompProfile") != expected:
                raise fail(where, f"MutatingAdmissionPolicy leaves a pod with {label} unset")
        kept = mutate_pod(map_, _pod(_RUNTIME_DEFAULT))["spec"]["securityContext"]
        if kept != _RUNTIME_DEFAULT:
            raise fail(where, "MutatingAdmissionPolicy overrides a profile the pod chose")
    except InputError:
        raise
    except Exception as exc:  # a CEL error: the API server would reject every request
        raise fail(where, f"CEL evaluation failed: {exc}") from None


_ENFORCE = "pod-security.kubernetes.io/enforce"
_VERSION = "pod-security.kubernetes.io/enforce-version"
# (labels after, labels before or None for a create): the namespace changes the guard is run on.
GUARD_SAMPLES: tuple[tuple[dict[str, str], dict[str, str] | None], ...] = (
    ({}, None),
    ({_ENFORCE: "baseline"}, None),
    ({_ENFORCE: "restricted"}, None),
    ({_ENFORCE: "privileged"}, None),
    ({_ENFORCE: "bogus"}, None),
    ({_ENFORCE: "baseline", _VERSION: "latest"}, None),
    ({_ENFORCE: "baseline", _VERSION: "v1.0"}, None),
    ({_ENFORCE: "baseline"}, {_ENFORCE: "restricted"}),
    ({_ENFORCE: "restricted"}, {_ENFORCE: "baseline"}),
    ({_ENFORCE: "privileged"}, {_ENFORCE: "privileged"}),
    ({_ENFORCE: "privileged", "team": "a"}, {_ENFORCE: "privileged"}),
    ({}, {_ENFORCE: "baseline"}),
)


def _namespace(labels: Mapping[str, str], name: str = "ns") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


GuardTwin = Callable[[str, Mapping[str, str], Mapping[str, str] | None], list[str]]


def check_guard(
    docs: Sequence[Mapping[str, Any]],
    twin: GuardTwin,
    where: str,
    system_namespaces: Sequence[str] = (),
) -> None:
    """Run the guard policy's CEL on namespace changes; it must deny exactly what ``twin``
    (the Pod Security helpers' own evaluation of the same rules) denies, and let the system
    namespaces be labelled privileged."""
    policy = next(d for d in docs if d.get("kind") == "ValidatingAdmissionPolicy")
    samples = [("ns", labels, old) for labels, old in GUARD_SAMPLES]
    samples += [(ns, {_ENFORCE: "privileged"}, None) for ns in system_namespaces]
    try:
        for name, labels, old in samples:
            obj = _namespace(labels, name)
            old_obj = None if old is None else _namespace(old, name)
            request = {"operation": "CREATE" if old is None else "UPDATE", "name": name}
            activation = {"object": obj, "oldObject": old_obj, "request": request}
            got = failed_validations(policy, activation)
            want = twin(name, labels, old)
            if name in system_namespaces and got:
                raise fail(where, f"guard denies a privileged label on {name}: {got}")
            if got != want:
                raise fail(where, f"guard CEL denies {got} but its rules deny {want} for {labels}")
    except InputError:
        raise
    except Exception as exc:
        raise fail(where, f"guard CEL evaluation failed: {exc}") from None
