"""The two Kubernetes API calls ``node label`` needs, with the standard library only.

In a pod the API server is ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``,
authenticated with the service account token and CA mounted at
``/var/run/secrets/kubernetes.io/serviceaccount``. The DaemonSet's ClusterRole grants
``get`` and ``patch`` on nodes, nothing else.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seccompiler.base import jsontext
from seccompiler.base.errors import InputError, Location, UsageError

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
MAX_RESPONSE = 4 * 1024 * 1024


@dataclass(frozen=True)
class Client:
    base: str
    token: str = ""
    context: ssl.SSLContext | None = None

    @classmethod
    def in_cluster(cls) -> Client:
        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host or not (SA_DIR / "token").is_file():
            raise UsageError(
                "not running in a pod: no KUBERNETES_SERVICE_HOST or service account token",
                hint="pass --api URL",
            )
        token = (SA_DIR / "token").read_text().strip()
        context = ssl.create_default_context(cafile=str(SA_DIR / "ca.crt"))
        return cls(f"https://{host}:{port}", token, context)

    def call(self, method: str, path: str, body: Any = None, ctype: str = "") -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base.rstrip("/") + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if ctype:
            req.add_header("Content-Type", ctype)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.context) as resp:
                raw = resp.read(MAX_RESPONSE + 1)
        except urllib.error.HTTPError as exc:
            raise InputError(
                f"{method} {path}: the API server answered {exc.code} {exc.reason}",
                location=Location(self.base),
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise UsageError(f"{self.base}: cannot reach the API server: {exc}") from None
        if len(raw) > MAX_RESPONSE:
            raise InputError(
                f"{method} {path}: answer larger than {MAX_RESPONSE} bytes",
                location=Location(self.base + path),
            )
        try:
            return jsontext.loads_bytes(raw, self.base + path)
        except InputError as exc:
            raise InputError(
                f"{method} {path}: the answer cannot be read: {exc.message}",
                hint=exc.hint,
                location=exc.location,
            ) from None


def set_node_labels(
    client: Client, node: str, labels: Mapping[str, str], prefix: str
) -> dict[str, str | None]:
    """Set ``labels`` on ``node`` and remove other labels starting with ``prefix``; return
    what changed (None: removed)."""
    path = f"/api/v1/nodes/{node}"
    current = client.call("GET", path).get("metadata", {}).get("labels") or {}
    patch: dict[str, str | None] = {
        k: None for k in current if k.startswith(prefix) and k not in labels
    }
    patch.update({k: v for k, v in labels.items() if current.get(k) != v})
    if patch:
        body = {"metadata": {"labels": patch}}
        client.call("PATCH", path, body, "application/merge-patch+json")
    return patch
