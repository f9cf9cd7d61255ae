"""The security-profiles-operator ``SeccompProfile`` object for a compiled profile.

Facts from the operator's v1beta1 CRD (group security-profiles-operator.x-k8s.io): ``spec``
requires ``defaultAction``; ``architectures``, ``syscalls``, ``flags`` are enums or lists as in
the OCI runtime spec, except that there is no ``defaultErrnoRet``, argument values are
``int64`` with minimum 0, at most 6 arguments per rule, and the architecture enum stops at
SCMP_ARCH_RISCV64. The operator writes the profile to
``<kubelet root>/seccomp/operator/<namespace>/<name>.json`` on every node.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from typing import Any

from seccompiler.base.errors import InputError, Location
from seccompiler.frontend.scmp import ACTIONS, OPS
from seccompiler.platform.artifacts.node import parse_oci
from seccompiler.platform.artifacts.paths import short_name

API_VERSION = "security-profiles-operator.x-k8s.io/v1beta1"
NAMESPACE = "security-profiles-operator"  # where the objects go, so the path is known


def installed_ref(obj: Mapping[str, Any]) -> str:
    """The ``localhostProfile`` under which the operator writes ``obj`` on every node."""
    meta = obj["metadata"]
    return f"operator/{meta.get('namespace', '')}/{meta['name']}.json"


KIND = "SeccompProfile"

ARCHITECTURES = frozenset(
    {
        "SCMP_ARCH_NATIVE", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32",
        "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64",
        "SCMP_ARCH_RISCV64",
    }
)  # fmt: skip
FLAGS = frozenset(
    {
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    }
)
INT64_MAX = (1 << 63) - 1
UNSUPPORTED_ANNOTATION = "seccompiler.keisson.io/architectures-not-in-spo"
DEFAULT_ERRNO_ANNOTATION = "seccompiler.keisson.io/default-errno-not-in-spo"


def _arg(arg: Mapping[str, Any], where: Location) -> dict[str, Any]:
    out: dict[str, Any] = {"index": int(arg["index"]), "op": str(arg["op"])}
    for key in ("value", "valueTwo"):
        value = int(arg.get(key, 0))
        if value > INT64_MAX:
            raise InputError(
                f"argument value {value:#x} does not fit the operator's int64 field",
                hint="SeccompProfile stores argument values as int64; express the condition "
                "with a smaller value or a mask, or distribute this profile as a kubelet file",
                location=where,
            )
        if value:
            out[key] = value
    return out


def _rule(rule: Mapping[str, Any], where: Location) -> dict[str, Any]:
    out: dict[str, Any] = {"action": rule["action"], "names": list(rule["names"])}
    if "errnoRet" in rule:
        out["errnoRet"] = int(rule["errnoRet"])
    args = [_arg(a, where) for a in rule.get("args") or ()]
    if args:
        out["args"] = args
    return out


def seccomp_profile_object(
    name: str, oci: bytes | Mapping[str, Any], namespace: str | None = None
) -> dict[str, Any]:
    """The ``SeccompProfile`` for compiled profile ``name`` from its flat OCI JSON."""
    where = Location(f"<{name} OCI JSON>")
    spec_in = parse_oci(oci, where.path)
    short_name(name)  # validates the name as a Kubernetes object name
    annotations: dict[str, str] = {}
    default_errno = spec_in.get("defaultErrnoRet")
    if default_errno is not None and int(default_errno) != errno.EPERM:
        # The CRD has no defaultErrnoRet, so runtimes answer unmatched syscalls with EPERM
        # (runc still answers ENOSYS above the newest syscall the profile names). Keep the
        # object usable and say what differs; the kubelet file stays exact.
        annotations[DEFAULT_ERRNO_ANNOTATION] = str(int(default_errno))
    arches = list(spec_in.get("architectures") or ())
    kept = [a for a in arches if a in ARCHITECTURES]
    dropped = sorted(set(arches) - ARCHITECTURES)
    spec: dict[str, Any] = {"defaultAction": spec_in["defaultAction"]}
    if kept:
        spec["architectures"] = kept
    flags = sorted(f for f in spec_in.get("flags") or () if f in FLAGS)
    if flags:
        spec["flags"] = flags
    for key in ("listenerPath", "listenerMetadata"):
        if spec_in.get(key):
            spec[key] = str(spec_in[key])
    rules = [_rule(r, where) for r in spec_in.get("syscalls") or ()]
    if rules:
        spec["syscalls"] = rules
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if dropped:
        # The operator would refuse the object; say what a node of that family misses.
        annotations[UNSUPPORTED_ANNOTATION] = ",".join(dropped)
    if annotations:
        metadata["annotations"] = dict(sorted(annotations.items()))
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


_ACTIONS = list(ACTIONS)
_OPS = list(OPS)

# The v1beta1 CRD's structural schema for what we emit, restated as JSON Schema (the API
# server prunes unknown fields, so we refuse them here instead of losing them silently).
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": API_VERSION},
        "kind": {"const": KIND},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "required": ["defaultAction"],
            "additionalProperties": False,
            "properties": {
                "baseProfileName": {"type": "string"},
                "defaultAction": {"enum": _ACTIONS},
                "disabled": {"type": "boolean"},
                "architectures": {
                    "type": "array",
                    "items": {"enum": sorted(ARCHITECTURES)},
                },
                "flags": {"type": "array", "items": {"enum": sorted(FLAGS)}},
                "listenerPath": {"type": "string"},
                "listenerMetadata": {"type": "string"},
                "syscalls": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["action", "names"],
                        "additionalProperties": False,
                        "properties": {
                            "action": {"enum": _ACTIONS},
                            "names": {"type": "array", "items": {"type": "string"}},
                            "errnoRet": {"type": "integer", "minimum": 0},
                            "args": {
                                "type": "array",
                                "maxItems": 6,
                                "items": {
                                    "type": "object",
                                    "required": ["index", "op"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "index": {"type": "integer", "minimum": 0},
                                        "op": {"enum": _OPS},
                                        "value": {
                                            "type": "integer",
                                            "minimum": 0,
                                            "maximum": INT64_MAX,
                                        },
                                        "valueTwo": {
                                            "type": "integer",
                                            "minimum": 0,
                                            "maximum": INT64_MAX,
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}
