"""Where each artifact lives: on a node (its real path) and in ``dist/``.

Node-side files sit in ``dist/node/`` at their real path without the leading slash, so
``build --root DIR`` installs them by copying that subtree; cluster objects sit in
``dist/cluster/``. Kubelet resolves ``localhostProfile`` relative to ``<root-dir>/seccomp``
(``--root-dir``, ``/var/lib/kubelet`` by default), so the reference a pod carries and the file
installed here must name the same relative path, extension included.
"""

from __future__ import annotations

import re

from seccompiler.base.errors import InputError

KUBELET_ROOT = "/var/lib/kubelet"
PLATFORM_DIR = "keisson"  # our profiles live in <kubelet root>/seccomp/keisson/
DEFAULT_PROFILE = "keisson-default"  # the bundled profile every pod gets unless it names one

SYSCTL_DROPIN = "/etc/sysctl.d/60-keisson-yama.conf"
CRIO_DROPIN = "/etc/crio/crio.conf.d/60-keisson-seccomp.conf"
# Read by kubelet --config-dir (beta 1.30, GA 1.35); files must end in .conf.
KUBELET_DROPIN = "/etc/kubernetes/kubelet.conf.d/60-keisson-seccomp.conf"

NODE_PREFIX = "node"
CLUSTER_PREFIX = "cluster"

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def short_name(profile: str) -> str:
    """``keisson-default`` → ``default``: the platform prefix becomes the directory."""
    if not _NAME.fullmatch(profile) or len(profile) > 63:
        raise InputError(
            f"profile name '{profile}' cannot name a Kubernetes object or a kubelet profile",
            hint="use lowercase letters, digits and '-', starting and ending with a letter or "
            "digit, at most 63 characters",
        )
    return profile.removeprefix(f"{PLATFORM_DIR}-") or profile


AUDIT_DIR = "audit"  # <kubelet root>/seccomp/keisson/audit/: the logging variants


def localhost_ref(profile: str, audit: bool = False) -> str:
    """The ``localhostProfile`` value a pod uses for ``profile``, e.g. ``keisson/default.json``
    (``keisson/audit/default.json`` for the variant that logs instead of refusing)."""
    sub = f"{AUDIT_DIR}/" if audit else ""
    return f"{PLATFORM_DIR}/{sub}{short_name(profile)}.json"


def kubelet_profile_path(
    profile: str, kubelet_root: str = KUBELET_ROOT, audit: bool = False
) -> str:
    """Absolute node path of the kubelet Localhost profile for ``profile``."""
    return f"{kubelet_root.rstrip('/')}/seccomp/{localhost_ref(profile, audit)}"


def node_dist_path(node_path: str) -> str:
    """Where in ``dist/`` a node file with absolute path ``node_path`` is kept."""
    return f"{NODE_PREFIX}/{node_path.lstrip('/')}"
