"""Small builders for pod manifests used by the Pod Security tests."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from seccompiler.base.yamlsrc import KubernetesDumper
from seccompiler.platform.pss.manifests import parse_text
from seccompiler.platform.pss.objects import WORKLOADS, Manifests

# A pod that passes every check at every level and version.
RESTRICTED_POD: dict[str, Any] = {
    "metadata": {"name": "p"},
    "spec": {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "c",
                "image": "registry.k8s.io/pause",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
    },
}


def base_pod() -> dict[str, Any]:
    return copy.deepcopy(RESTRICTED_POD)


def wrap(pod: dict[str, Any], kind: str, name: str = "p") -> dict[str, Any]:
    """Put a pod's metadata and spec where ``kind`` keeps them."""
    workload = WORKLOADS[kind]
    api_version = f"{workload.group}/v1" if workload.group else "v1"
    template = {"metadata": pod.get("metadata", {}), "spec": pod.get("spec", {})}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", **copy.deepcopy(template)}
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}
    node = obj
    keys = workload.template
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = copy.deepcopy(template)
    return obj


def parse_yaml(*objects: dict[str, Any], path: str = "test.yaml") -> Manifests:
    out = Manifests()
    parse_text(
        yaml.dump_all(Dumper=KubernetesDumper, documents=list(objects), sort_keys=False), path, out
    )
    return out
