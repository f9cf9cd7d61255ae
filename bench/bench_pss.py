"""Benchmark ``seccompiler pss check`` on a 10,000-pod List it generates itself.

Pods are mixed: about a third pass restricted, a third pass only baseline, a third violate
baseline (privileged, host namespaces, hostPath, sysctls, host ports). The List is written as
YAML and as JSON (``kubectl get pods -A -o yaml|json``), and checked the way the command does:
read, decode, evaluate at baseline:latest and at restricted:latest.

Printed beside each figure, as its baseline in the same run:
- YAML: the parse-only time of ``base.yamlsrc.load_all_text`` (what reading alone costs);
- JSON: the standard library's ``json.loads`` of the same text (the fast path's floor);
- evaluation: the pods/second of evaluating the decoded pods only, without reading.

Usage: python bench/bench_pss.py [--pods N]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from seccompiler.base.yamlsrc import load_all_text
from seccompiler.platform.pss.evaluate import Judge, fixed_policy
from seccompiler.platform.pss.manifests import read_manifests
from seccompiler.platform.pss.registry import DEFAULT
from seccompiler.platform.pss.versions import Level, LevelVersion


def make_pod(i: int) -> dict[str, Any]:
    kind = i % 3
    container: dict[str, Any] = {
        "name": f"app-{i % 7}",
        "image": "registry.example/app:1.0",
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
    }
    spec: dict[str, Any] = {"containers": [container], "volumes": [{"name": "tmp", "emptyDir": {}}]}
    if kind == 0:  # restricted
        spec["securityContext"] = {
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        container["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        }
    elif kind == 2:  # violates baseline, in one of five ways
        way = (i // 3) % 5
        if way == 0:
            container["securityContext"] = {"privileged": True}
        elif way == 1:
            spec["hostNetwork"] = True
        elif way == 2:
            spec["volumes"].append({"name": "root", "hostPath": {"path": "/"}})
        elif way == 3:
            spec["securityContext"] = {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}
        else:
            container["ports"][0]["hostPort"] = 80
    init = {"name": "init", "image": "registry.example/init:1.0"}
    if "securityContext" in container and kind == 0:
        init["securityContext"] = dict(container["securityContext"])
    spec["initContainers"] = [init]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"pod-{i}",
            "namespace": f"team-{i % 10}",
            "labels": {"app": f"app-{i % 7}"},
        },
        "spec": spec,
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def check(path: Path) -> tuple[int, dict[str, int]]:
    """Read and judge every pod at baseline and at restricted; count the violations."""
    manifests = read_manifests([str(path)])
    assert not manifests.errors
    violating = {}
    for level in (Level.BASELINE, Level.RESTRICTED):
        judge = Judge(fixed_policy(level))
        violating[level.value] = sum(judge.judge(obj).violates for obj in manifests.objects)
    return len(manifests.objects), violating


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=10_000)
    n = parser.parse_args().pods
    doc = {"apiVersion": "v1", "kind": "List", "items": [make_pod(i) for i in range(n)]}
    with tempfile.TemporaryDirectory() as tmp:
        yaml_path = Path(tmp) / "pods.yaml"
        json_path = Path(tmp) / "pods.json"
        yaml_text = yaml.safe_dump(doc, sort_keys=False)
        json_text = json.dumps(doc, indent=4)
        yaml_path.write_text(yaml_text)
        json_path.write_text(json_text)
        print(f"{n} pods; YAML {len(yaml_text) / 1e6:.1f} MB, JSON {len(json_text) / 1e6:.1f} MB")

        yaml_s, (count, bad) = timed(lambda: check(yaml_path))
        parse_s, _ = timed(lambda: list(load_all_text(yaml_text, "pods.yaml", 10**8)))
        print(f"violations: {bad['baseline']} at baseline, {bad['restricted']} at restricted")
        print(
            f"pss check YAML: {count / yaml_s:,.0f} pods/s ({yaml_s:.2f} s)"
            f" | baseline: yamlsrc parse only {n / parse_s:,.0f} pods/s ({parse_s:.2f} s)"
        )

        loads_s, _ = timed(lambda: json.loads(json_text))
        json_s, (count, _) = timed(lambda: check(json_path))
        print(
            f"pss check JSON: {count / json_s:,.0f} pods/s ({json_s:.2f} s)"
            f" | baseline: json.loads only {n / loads_s:,.0f} pods/s ({loads_s:.2f} s)"
        )

        pods = [o.pod for o in read_manifests([str(json_path)]).objects]
        lv = LevelVersion(Level.RESTRICTED)
        eval_s, _ = timed(lambda: [DEFAULT.evaluate(lv, p) for p in pods if p is not None])
        print(f"evaluation only (restricted:latest): {n / eval_s:,.0f} pods/s ({eval_s:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
