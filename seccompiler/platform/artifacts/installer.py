"""The DaemonSet that installs a build on every node, and the gate pods are scheduled by.

The installer image holds seccompiler and the build tree at ``DIST_IN_IMAGE``. Its init
container runs ``seccompiler node install`` against the host's directories mounted below
``/host`` (only the directories the build writes to, and the installer's own store), and
applies the YAMA scope; its main container then labels the node
(``profiles.seccomp.keisson.io/<profile>: installed`` and the manifest digest) and sleeps.
The default-profile policy gives every pod it mutates a ``nodeSelector`` on that label, so a
pod that needs the profile is never scheduled onto a node that lacks it: until the
installer has run there, the node simply does not match.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from seccompiler.platform.artifacts.paths import NODE_PREFIX

NAME = "seccompiler-node-installer"
DIST_IN_IMAGE = "/opt/seccompiler/dist"
HOST = "/host"
STORE_DIR = "/var/lib/seccompiler/node"
GATE_PREFIX = "profiles.seccomp.keisson.io/"
READY = "installed"
_LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "seccompiler"}


def gate_label(short_name: str) -> str:
    """The node label key that says profile ``keisson/<short_name>.json`` is installed."""
    return GATE_PREFIX + short_name


def host_dirs(files: Mapping[str, bytes]) -> list[str]:
    """The node directories the build writes to (none below another), plus the store."""
    dirs = {"/" + p.removeprefix(f"{NODE_PREFIX}/").rpartition("/")[0] for p in files
            if p.startswith(f"{NODE_PREFIX}/")}  # fmt: skip
    dirs.add(STORE_DIR)
    ordered = sorted(dirs)
    return [d for d in ordered if not any(d.startswith(o + "/") for o in ordered if o != d)]


def _volume_name(path: str) -> str:
    return "host" + path.replace("/", "-").replace(".", "-").lower()[:50]


def manifests(files: Mapping[str, bytes], image: str, namespace: str) -> Sequence[dict[str, Any]]:
    """ServiceAccount, ClusterRole (get and patch nodes), binding and the DaemonSet."""
    node_files = {k: v for k, v in sorted(files.items()) if k.startswith(f"{NODE_PREFIX}/")}
    meta = {"name": NAME, "namespace": namespace, "labels": dict(_LABELS)}
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    return [account, *_rbac(namespace), _daemonset(meta, node_files, image)]


def _rbac(namespace: str) -> list[dict[str, Any]]:
    """The ClusterRole that may get and patch nodes, and its binding to the installer."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": NAME, "labels": dict(_LABELS)},
        "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": NAME, "labels": dict(_LABELS)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
    }
    return [role, binding]


def _digest(node_files: Mapping[str, bytes]) -> str:
    """One digest of the node files' names and contents: a new build rolls the DaemonSet."""
    return hashlib.sha256(
        b"".join(k.encode() + b"\0" + hashlib.sha256(v).digest() for k, v in node_files.items())
    ).hexdigest()


def _install_container(image: str, dirs: Sequence[str]) -> dict[str, Any]:
    """The init container: ``node install`` into the host directories, and the YAMA scope."""
    mounts = [{"name": _volume_name(d), "mountPath": HOST + d} for d in dirs]
    return {
        "name": "install",
        "image": image,
        "command": ["seccompiler", "node", "install", "--from", DIST_IN_IMAGE,
                    "--root", HOST, "--apply-yama"],
        # Writing ptrace_scope and the host's directories needs a privileged container.
        "securityContext": {"privileged": True},
        "volumeMounts": mounts,
    }  # fmt: skip


def _label_container(image: str) -> dict[str, Any]:
    """The main container: label the node as ready, then sleep, with no privilege at all."""
    env = [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    return {
        "name": "label",
        "image": image,
        "command": ["sh", "-c",
                    f"seccompiler node label --from {DIST_IN_IMAGE} && exec sleep infinity"],
        "env": env,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": {"requests": {"cpu": "1m", "memory": "32Mi"},
                      "limits": {"memory": "128Mi"}},
    }  # fmt: skip


def _daemonset(meta: dict[str, Any], node_files: Mapping[str, bytes], image: str) -> dict[str, Any]:
    """The DaemonSet on every Linux node, rolled when the node files change."""
    dirs = host_dirs(node_files)
    volumes = [
        {"name": _volume_name(d), "hostPath": {"path": d, "type": "DirectoryOrCreate"}}
        for d in dirs
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "template": {
                "metadata": {
                    "labels": dict(_LABELS),
                    "annotations": {"seccomp.keisson.io/node-files": _digest(node_files)[:32]},
                },
                "spec": {
                    "serviceAccountName": NAME,
                    "priorityClassName": "system-node-critical",
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [{"operator": "Exists"}],
                    "initContainers": [_install_container(image, dirs)],
                    "containers": [_label_container(image)],
                    "volumes": volumes,
                },
            },
        },
    }
