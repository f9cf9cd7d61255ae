"""The installer DaemonSet and the scheduling gate, checked against what they drive."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from seccompiler.commands.cli import main
from seccompiler.platform import nodeinstall
from seccompiler.platform.artifacts import INSTALLER_FILE, MUTATING_FILE, installer, policycheck
from seccompiler.platform.build import build_dist

PROFILES = Path(__file__).parents[2] / "profiles"
GATE = "profiles.seccomp.keisson.io/default"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    for rel, data in build_dist(PROFILES).files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    return out


def _docs(path: Path) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(path.read_bytes()) if d}


def test_daemonset_runs_in_a_system_namespace_with_the_configured_image(dist: Path) -> None:
    docs = _docs(dist / INSTALLER_FILE)
    ds = docs["DaemonSet"]
    assert ds["metadata"]["namespace"] == "kube-system"
    spec = ds["spec"]["template"]["spec"]
    images = {c["image"] for c in spec["initContainers"] + spec["containers"]}
    assert images == {"ghcr.io/keisson/seccompiler:latest"}
    assert spec["tolerations"] == [{"operator": "Exists"}]  # every node, tainted or not
    assert docs["ClusterRole"]["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}
    ]


def test_the_installer_writes_only_below_its_host_mounts(dist: Path, tmp_path: Path) -> None:
    """Run the init container's command over a root holding only what the pod mounts."""
    spec = _docs(dist / INSTALLER_FILE)["DaemonSet"]["spec"]["template"]["spec"]
    init = spec["initContainers"][0]
    mounts = [m["mountPath"] for m in init["volumeMounts"]]
    host_paths = sorted(v["hostPath"]["path"] for v in spec["volumes"])
    assert sorted(m.removeprefix(installer.HOST) for m in mounts) == host_paths
    assert (
        "/" not in host_paths and "/etc" not in host_paths and "/var/lib/kubelet" not in host_paths
    )
    root = tmp_path / "host"
    for m in mounts:
        (root / m.removeprefix(installer.HOST).lstrip("/")).mkdir(parents=True)
    before = {p for p in root.rglob("*") if p.is_dir()}
    argv = init["command"][1:]
    assert argv[:2] == ["node", "install"] and "--apply-yama" in argv
    argv = [a for a in argv if a != "--apply-yama"]
    argv[argv.index("--from") + 1] = str(dist)
    argv[argv.index("--root") + 1] = str(root)
    assert main(argv) == 0
    written = [p for p in root.rglob("*") if not p.is_dir() or p not in before]
    allowed = [root / m.removeprefix(installer.HOST).lstrip("/") for m in mounts]
    assert written and all(any(p.is_relative_to(a) for a in allowed) for p in written)


def test_no_pod_needing_the_profile_lands_on_a_node_without_it(dist: Path) -> None:
    mutating = next(
        d for d in yaml.safe_load_all((dist / MUTATING_FILE).read_bytes())
        if d and d["kind"] == "MutatingAdmissionPolicy"
    )  # fmt: skip
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
           "spec": {"containers": [{"name": "c", "image": "x"}]}}  # fmt: skip
    selector = policycheck.mutate_pod(mutating, pod)["spec"]["nodeSelector"]
    assert selector == {GATE: "installed"}
    labels = nodeinstall.profile_labels(nodeinstall.load_release(dist))
    assert labels[GATE] == "installed"  # what the installer sets once the files are there
    assert labels[nodeinstall.MANIFEST_LABEL] == nodeinstall.load_release(dist).digest[:32]


class _FakeApi(BaseHTTPRequestHandler):
    labels: ClassVar[dict[str, str]] = {}
    patches: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        assert self.path == "/api/v1/nodes/node-1"
        self._send({"metadata": {"name": "node-1", "labels": dict(self.labels)}})

    def do_PATCH(self) -> None:
        assert self.headers["Content-Type"] == "application/merge-patch+json"
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).patches.append(body)
        for k, v in body["metadata"]["labels"].items():
            if v is None:
                self.labels.pop(k, None)
            else:
                self.labels[k] = v
        self._send({"metadata": {"labels": dict(self.labels)}})


@pytest.fixture
def api() -> Iterator[str]:
    _FakeApi.labels = {"kubernetes.io/os": "linux", "profiles.seccomp.keisson.io/gone": "installed"}
    _FakeApi.patches = []
    server = HTTPServer(("127.0.0.1", 0), _FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_node_label_sets_the_gate_and_drops_stale_profile_labels(dist: Path, api: str) -> None:
    args = ["node", "label", "--from", str(dist), "--node", "node-1", "--api", api]
    assert main(args) == 0
    assert _FakeApi.labels[GATE] == "installed"
    assert "profiles.seccomp.keisson.io/gone" not in _FakeApi.labels
    assert _FakeApi.labels["kubernetes.io/os"] == "linux"
    assert main(args) == 0
    assert len(_FakeApi.patches) == 1  # already labelled: nothing to patch
