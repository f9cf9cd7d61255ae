"""Check each artifact with its consumer's schema or engine before anything is written.

Kubernetes objects against the API server's OpenAPI schemas (kubernetes-validate, strict: an
unknown field is an error), the SeccompProfile against the operator's CRD schema, the CRI-O
drop-in by TOML parsing, the Pod Security admission configuration against its schema; the
admission policies are judged by evaluating their CEL (``policycheck``).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

from seccompiler.base.errors import InputError, Location, UsageError
from seccompiler.base.yamlsrc import load_all_text
from seccompiler.platform.artifacts import spo

KUBERNETES_VERSION = "1.37"  # the newest schema set kubernetes-validate ships


def fail(where: str, message: str, hint: str = "") -> InputError:
    """The error of a generated artifact that fails its check: a bug of ours, not the input's."""
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
            raise fail(where, f"{obj.get('kind')}: {problem} (Kubernetes {version})")


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
        raise fail(where, f"{what}: {error.message} at '{path}'")


def load_yaml_docs(data: bytes, where: str) -> list[dict[str, Any]]:
    """The documents of a generated YAML stream (they must all be mappings)."""
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        raise fail(where, f"not UTF-8: {exc}") from None
    docs = [d for d in load_all_text(text, where) if d is not None]
    if not all(isinstance(d, dict) for d in docs):
        raise fail(where, "a document is not a mapping")
    return docs


def check_crio_dropin(data: bytes, expected_profile: str, where: str) -> None:
    """Parse the CRI-O drop-in as TOML and check it names the profile we install."""
    try:
        conf = tomllib.loads(data.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise fail(where, f"CRI-O drop-in is not TOML: {exc}") from None
    got = conf.get("crio", {}).get("runtime", {}).get("seccomp_profile")
    if got != expected_profile:
        raise fail(where, f"CRI-O seccomp_profile is {got!r}, expected {expected_profile!r}")


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
        raise fail(where, "kubelet drop-in is not a KubeletConfiguration with seccompDefault")


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
        raise fail(where, f"PodSecurity defaults are {got}, the platform wants {want}")
    exempt = (conf.get("exemptions") or {}).get("namespaces") or []
    missing = [n for n in exempt_namespaces if n not in exempt]
    if missing:
        raise fail(where, f"PodSecurity does not exempt the system namespaces {missing}")
