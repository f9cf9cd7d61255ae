"""Check each artifact with its consumer's schema or engine before anything is written.

Kubernetes objects against the API server's OpenAPI schemas (kubernetes-validate, strict: an
unknown field is an error), the SeccompProfile against the operator's CRD schema, the CRI-O
drop-in by TOML parsing, and the admission policies by evaluating their CEL on sample pods
whose verdicts are known.
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.util
import json
import tomllib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from seccompiler.base.errors import InputError, Location, UsageError
from seccompiler.base.yamlsrc import load_all_text
from seccompiler.platform.artifacts import cel, spo

KUBERNETES_VERSION = "1.37"  # the newest schema set kubernetes-validate ships


def _fail(where: str, message: str, hint: str = "") -> InputError:
    return InputError(
        f"generated artifact fails its check: {message}",
        hint=hint or "this is a bug in seccompiler's artifact generation; please report it",
        location=Location(where),
    )


def check_kubernetes(
    obj: Mapping[str, Any], where: str, versions: Sequence[str] = (KUBERNETES_VERSION,)
) -> None:
    """Validate a built-in Kubernetes object against the API's schema (strict) of every
    Kubernetes version in ``versions``."""
    if importlib.util.find_spec("kubernetes_validate") is None:
        raise UsageError(
            "kubernetes-validate is needed to check the cluster manifests",
            hint="it is a dependency of seccompiler: pip install 'kubernetes-validate>=1.37'",
        )
    text = json.dumps(obj, sort_keys=True)
    for version in versions:
        problem = _k8s_problem(text, version)
        if problem:
            raise _fail(where, f"{obj.get('kind')}: {problem} (Kubernetes {version})")


@functools.lru_cache(maxsize=1024)
def _k8s_problem(text: str, version: str) -> str:
    """Why the object (canonical JSON) fails the schema of ``version``; '' when it passes.

    Cached: loading a version's schemas dominates, and a build (or a test session) checks the
    same objects again and again.
    """
    import kubernetes_validate

    try:
        kubernetes_validate.validate(json.loads(text), version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(str(p) for p in getattr(exc, "path", ()))
        return f"{exc.message} at '{path}'"
    except kubernetes_validate.SchemaNotFoundError as exc:
        return str(exc.message)
    return ""


def check_seccomp_profile(obj: Mapping[str, Any], where: str) -> None:
    """Validate a SeccompProfile against the operator's CRD schema."""
    _check_schema(spo.SCHEMA, obj, where, "SeccompProfile")


def _check_schema(schema: Mapping[str, Any], obj: Mapping[str, Any], where: str, what: str) -> None:
    try:
        jsonschema = importlib.import_module("jsonschema")
    except ImportError:
        raise UsageError(
            f"jsonschema is needed to check the {what} objects",
            hint="it is a dependency of seccompiler: pip install 'jsonschema>=4.18'",
        ) from None
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(dict(obj))
    )
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path)
        raise _fail(where, f"{what}: {error.message} at '{path}'")


def load_yaml_docs(data: bytes, where: str) -> list[dict[str, Any]]:
    """The documents of a generated YAML stream (they must all be mappings)."""
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        raise _fail(where, f"not UTF-8: {exc}") from None
    docs = [d for d in load_all_text(text, where) if d is not None]
    if not all(isinstance(d, dict) for d in docs):
        raise _fail(where, "a document is not a mapping")
    return docs


def check_crio_dropin(data: bytes, expected_profile: str, where: str) -> None:
    """Parse the CRI-O drop-in as TOML and check it names the profile we install."""
    try:
        conf = tomllib.loads(data.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _fail(where, f"CRI-O drop-in is not TOML: {exc}") from None
    got = conf.get("crio", {}).get("runtime", {}).get("seccomp_profile")
    if got != expected_profile:
        raise _fail(where, f"CRI-O seccomp_profile is {got!r}, expected {expected_profile!r}")


def check_kubelet_config(data: bytes, where: str) -> None:
    """The kubelet drop-in must be a KubeletConfiguration with seccompDefault true."""
    docs = load_yaml_docs(data, where)
    ok = (
        len(docs) == 1
        and docs[0].get("apiVersion") == "kubelet.config.k8s.io/v1beta1"
        and docs[0].get("kind") == "KubeletConfiguration"
        and docs[0].get("seccompDefault") is True
    )
    if not ok:
        raise _fail(where, "kubelet drop-in is not a KubeletConfiguration with seccompDefault")


# --- admission policies, judged by evaluating their CEL -----------------------------------


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
            raise _fail("<mutating policy>", "only ApplyConfiguration mutations can be checked")
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
                raise _fail(where, f"ValidatingAdmissionPolicy denies a pod in {ns}")
            if map_ is not None:
                bare = mutate_pod(map_, {**_pod(), "metadata": dict(system["metadata"])})
                if "securityContext" in bare["spec"]:
                    raise _fail(where, f"MutatingAdmissionPolicy mutates a pod in {ns}")
        for label, pod, denied in VALIDATING_SAMPLES:
            if bool(judge_pod(vap, pod)) != denied:
                verdict = "allows" if denied else "denies"
                raise _fail(where, f"ValidatingAdmissionPolicy {verdict} a pod with {label}")
        legacy = _pod(_UNCONFINED)
        if judge_pod(vap, {**legacy, "metadata": {"name": "p", "labels": {"a": "b"}}}, legacy):
            raise _fail(where, "ValidatingAdmissionPolicy blocks metadata updates of old pods")
        expected = {"type": "Localhost", "localhostProfile": localhost_ref}
        if map_ is None:
            return
        for label, pod_sc in (("no securityContext", None), ("runAsUser only", {"runAsUser": 1})):
            got = mutate_pod(map_, _pod(pod_sc))["spec"]["securityContext"]
            if got.get("seccompProfile") != expected:
                raise _fail(where, f"MutatingAdmissionPolicy leaves a pod with {label} unset")
        kept = mutate_pod(map_, _pod(_RUNTIME_DEFAULT))["spec"]["securityContext"]
        if kept != _RUNTIME_DEFAULT:
            raise _fail(where, "MutatingAdmissionPolicy overrides a profile the pod chose")
    except InputError:
        raise
    except Exception as exc:  # a CEL error: the API server would reject every request
        raise _fail(where, f"CEL evaluation failed: {exc}") from None


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
                raise _fail(where, f"guard denies a privileged label on {name}: {got}")
            if got != want:
                raise _fail(where, f"guard CEL denies {got} but its rules deny {want} for {labels}")
    except InputError:
        raise
    except Exception as exc:
        raise _fail(where, f"guard CEL evaluation failed: {exc}") from None


_LEVEL = {"enum": ["privileged", "baseline", "restricted"]}
_PSA_VERSION = {"type": "string", "pattern": r"^(latest|v1\.(0|[1-9][0-9]*))$"}
# The API server's AdmissionConfiguration (apiserver.config.k8s.io/v1) carrying the PodSecurity
# plugin's PodSecurityConfiguration (pod-security.admission.config.k8s.io/v1), with the
# platform's defaults pinned: enforce baseline, audit and warn restricted.
PSS_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "plugins"],
    "properties": {
        "apiVersion": {"const": "apiserver.config.k8s.io/v1"},
        "kind": {"const": "AdmissionConfiguration"},
        "plugins": {
            "type": "array",
            "contains": {
                "type": "object",
                "required": ["name", "configuration"],
                "properties": {
                    "name": {"const": "PodSecurity"},
                    "configuration": {
                        "type": "object",
                        "required": ["apiVersion", "kind", "defaults"],
                        "properties": {
                            "apiVersion": {"const": "pod-security.admission.config.k8s.io/v1"},
                            "kind": {"const": "PodSecurityConfiguration"},
                            "defaults": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    **{m: _LEVEL for m in ("enforce", "audit", "warn")},
                                    **{
                                        f"{m}-version": _PSA_VERSION
                                        for m in ("enforce", "audit", "warn")
                                    },
                                },
                            },
                            "exemptions": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    k: {"type": "array", "items": {"type": "string"}}
                                    for k in ("usernames", "namespaces", "runtimeClasses")
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def check_pss_config(
    doc: Mapping[str, Any],
    where: str,
    levels: Mapping[str, str] | None = None,
    exempt_namespaces: Sequence[str] = (),
) -> None:
    """The Pod Security admission configuration, with the platform's defaults (``levels``,
    by default enforce baseline, audit and warn restricted) and system namespaces exempt."""
    _check_schema(PSS_CONFIG_SCHEMA, doc, where, "AdmissionConfiguration")
    want = dict(levels or {"enforce": "baseline", "audit": "restricted", "warn": "restricted"})
    plugin = next(p for p in doc["plugins"] if p.get("name") == "PodSecurity")
    conf = plugin["configuration"]
    got = {m: conf["defaults"].get(m) for m in want}
    if got != want:
        raise _fail(where, f"PodSecurity defaults are {got}, the platform wants {want}")
    exempt = (conf.get("exemptions") or {}).get("namespaces") or []
    missing = [n for n in exempt_namespaces if n not in exempt]
    if missing:
        raise _fail(where, f"PodSecurity does not exempt the system namespaces {missing}")
