"""Benchmark ``seccompiler pss check`` on a 10,000-pod List it generates itself.

Pods are mixed: about a third pass restricted, a third pass only baseline, a third violate
baseline (privileged, host namespaces, hostPath, sysctls, host ports). The List is written as
YAML and as JSON (``kubectl get pods -A -o yaml|json``), and checked the way the command does:
read, decode, evaluate at baseline:latest and at restricted:latest.

Printed beside each figure, as its baseline in the same run:
- YAML: the parse-only time of ``base.yamlsrc.load_all_text`` (the located reading, which
  ``pss check`` uses for text outside the fast reader's subset or with an error in it) and
  of ``base.yamlfast.read_fast`` (the fast reading a kubectl List takes);
- JSON: the standard library's ``json.loads`` of the same text (the fast path's floor);
- evaluation: the pods/second of evaluating the decoded pods only, without reading.

Then the rows with a target, each run as the command runs (read, then judge at baseline,
the default), in a process of its own so that its peak memory is its own:
- YAML: pods/s and peak memory; anchor: PyYAML's C loader alone (and rapidyaml's reading
  into JSON, then ``json.loads``, when rapidyaml is installed);
- JSON: pods/s; anchor: ``json.loads`` alone;
- kubectl's own form (``kubectl get pods -A -o json``, ~11.5 KB a pod, 4-space indent,
  about 115 MB for 10,000 pods): accepted, and its peak memory.
Wall times on a shared machine move with its load; CPU times are printed beside them.

Usage: python bench/bench_pss.py [--pods N]
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from seccompiler.base.yamlfast import read_fast
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
        init["securityContext"] = copy.deepcopy(container["securityContext"])  # no YAML aliases
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


FIELDS = 0  # extra managed-field entries; without any, a pod takes ~11.5 KB, as kubectl's do


MANAGED_PODS = 2000  # pods of the managedFields row (each ~5 KB of YAML)


def with_field_paths(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod with managedFields' field paths as kubectl shows them (``f:``, ``k:{...}``,
    ``.``), the keys a plain-key reader stumbles on, and text longer than the 80 columns at
    which kubectl's emitter (and PyYAML's, writing the file) wraps plain scalars."""
    pod["metadata"].setdefault("annotations", {})["description"] = (
        "what this workload does and who to ask about it, in words longer than one line"
    )
    pod["spec"]["containers"][0]["args"] = [
        "--config=/etc/app/config.yaml --log-level=debug --listen=0.0.0.0:8080 --replicas=3"
    ]
    names = [c["name"] for c in pod["spec"]["containers"]]
    for entry in pod["metadata"]["managedFields"]:
        entry["fieldsV1"] = {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:containers": {
                    f'k:{{"name":"{n}"}}': {".": {}, "f:image": {}, "f:name": {}} for n in names
                },
                "f:dnsPolicy": {},
            },
        }
    return pod


# A manifest as people write it: comments after values, flow sequences.
HAND_WRITTEN = """\
# web tier, replica {i}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-{i}  # one per shard
  labels: {{}}
spec:
  replicas: 2
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: app
        image: registry.example/web:1.{i}  # pinned
        command: ["/bin/server"]
        args: ["--port", "8080", '--log=json']
        ports:
        - containerPort: 8080  # http
        securityContext:
          runAsNonRoot: true
          allowPrivilegeEscalation: false
          capabilities: {{drop: [ALL]}}
          seccompProfile:
            type: RuntimeDefault  # the node's default
"""


# One release of the chart `helm create` makes, as `helm template rel-{i} ./app` writes it:
# toYaml | nindent puts an empty value alone on the line after its key.
HELM_RELEASE = """\
---
# Source: app/templates/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: rel-{i}-app
  labels:
    helm.sh/chart: app-0.1.0
    app.kubernetes.io/name: app
    app.kubernetes.io/instance: rel-{i}
    app.kubernetes.io/version: "1.16.0"
    app.kubernetes.io/managed-by: Helm
automountServiceAccountToken: true
---
# Source: app/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: rel-{i}-app
  labels:
    helm.sh/chart: app-0.1.0
    app.kubernetes.io/name: app
    app.kubernetes.io/instance: rel-{i}
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: app
      app.kubernetes.io/instance: rel-{i}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app
        app.kubernetes.io/instance: rel-{i}
    spec:
      serviceAccountName: rel-{i}-app
      securityContext:
        {{}}
      containers:
        - name: app
          securityContext:
            {{}}
          image: "nginx:1.16.0"
          imagePullPolicy: IfNotPresent
          ports:
            - name: http
              containerPort: 80
              protocol: TCP
          livenessProbe:
            httpGet:
              path: /
              port: http
          resources:
            {{}}
---
# Source: app/templates/tests/test-connection.yaml
apiVersion: v1
kind: Pod
metadata:
  name: "rel-{i}-app-test-connection"
  annotations:
    "helm.sh/hook": test
spec:
  containers:
    - name: wget
      image: busybox
      command: ['wget']
      args: ['rel-{i}-app:80']
  restartPolicy: Never
"""


def kubectl_pod(i: int) -> dict[str, Any]:
    """A pod as the API server returns it: managed fields, defaults and status included."""
    pod = make_pod(i)
    meta, spec = pod["metadata"], pod["spec"]
    uid = f"{i:08x}-1c2d-4e5f-8a9b-{i:012x}"
    meta.update(
        creationTimestamp="2026-01-02T03:04:05Z",
        generateName=f"app-{i % 7}-5d8f7c9b4-",
        resourceVersion=str(1000000 + i),
        uid=uid,
        ownerReferences=[
            {
                "apiVersion": "apps/v1",
                "blockOwnerDeletion": True,
                "controller": True,
                "kind": "ReplicaSet",
                "name": f"app-{i % 7}-5d8f7c9b4",
                "uid": f"rs-{i % 7}",
            }
        ],
        managedFields=[
            {
                "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {f"f:field-{k}": {".": {}, f"f:sub-{k}": {}} for k in range(FIELDS)},
                "manager": manager,
                "operation": "Update",
                "time": "2026-01-02T03:04:05Z",
            }
            for manager in ("kube-controller-manager", "kubelet")
        ],
    )
    for c in spec["containers"] + spec["initContainers"]:
        c.update(
            env=[{"name": f"VAR_{k}", "value": f"value-{k}-{i}"} for k in range(12)],
            imagePullPolicy="IfNotPresent",
            terminationMessagePath="/dev/termination-log",
            terminationMessagePolicy="File",
            volumeMounts=[
                {
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                    "name": f"kube-api-access-{i % 97:05d}",
                    "readOnly": True,
                }
            ],
        )
    spec.update(
        dnsPolicy="ClusterFirst",
        enableServiceLinks=True,
        nodeName=f"node-{i % 40}",
        preemptionPolicy="PreemptLowerPriority",
        priority=0,
        restartPolicy="Always",
        schedulerName="default-scheduler",
        serviceAccount="default",
        serviceAccountName="default",
        terminationGracePeriodSeconds=30,
        tolerations=[
            {
                "effect": "NoExecute",
                "key": f"node.kubernetes.io/{what}",
                "operator": "Exists",
                "tolerationSeconds": 300,
            }
            for what in ("not-ready", "unreachable")
        ],
    )
    pod["status"] = {
        "conditions": [
            {
                "lastProbeTime": None,
                "lastTransitionTime": "2026-01-02T03:04:06Z",
                "status": "True",
                "type": t,
            }
            for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
        ],
        "containerStatuses": [
            {
                "containerID": f"containerd://{i:064x}",
                "image": "registry.example/app:1.0",
                "imageID": f"registry.example/app@sha256:{i:064x}",
                "lastState": {},
                "name": f"app-{i % 7}",
                "ready": True,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": "2026-01-02T03:04:06Z"}},
            }
        ],
        "hostIP": f"10.0.{i % 40}.1",
        "phase": "Running",
        "podIP": f"10.244.{i // 250 % 256}.{i % 250}",
        "qosClass": "Burstable",
        "startTime": "2026-01-02T03:04:05Z",
    }
    return pod


# Run in a process of its own: pss check's work (read, judge at baseline), with its peak memory.
_CHECK = """
import json, sys, time
from seccompiler.platform.pss.evaluate import Judge, fixed_policy
from seccompiler.platform.pss.manifests import read_manifests
from seccompiler.platform.pss.versions import Level
def peak():  # this process's own high-water mark (ru_maxrss would count the fork's too)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
wall, cpu = time.perf_counter(), time.process_time()
m = read_manifests([sys.argv[1]])
judge = Judge(fixed_policy(Level.BASELINE))
bad = sum(judge.judge(o).violates for o in m.objects)
print(json.dumps({"pods": len(m.objects), "violating": bad, "errors": len(m.errors),
    "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
    "peak_mb": peak()}))
"""


def check_apart(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _CHECK, str(path)], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


REPEAT = 3  # runs of each target row, interleaved with its anchor's: the medians are printed


def median_rows(
    path: Path, anchor: Callable[[], Any]
) -> tuple[dict[str, Any], tuple[float, float]]:
    """Ours (a process of its own each time) and the anchor, run in turn ``REPEAT`` times on
    the shared machine: our run of median wall time (with the highest peak of all), and the
    anchor's median wall and CPU times."""
    ours, theirs = [], []
    for _ in range(REPEAT):
        ours.append(check_apart(path))
        theirs.append(timed_cpu(anchor))
    ours.sort(key=lambda r: r["wall"])
    mid = dict(ours[len(ours) // 2])
    mid["peak_mb"] = max(r["peak_mb"] for r in ours)
    walls = sorted(w for w, _ in theirs)
    cpus = sorted(c for _, c in theirs)
    return mid, (walls[len(walls) // 2], cpus[len(cpus) // 2])


def timed_cpu(fn: Callable[[], Any]) -> tuple[float, float]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _row(label: str, n: int, ours: dict[str, Any], anchor: str, a: tuple[float, float]) -> None:
    rate, rate_cpu = n / ours["wall"], n / ours["cpu"]
    arate, arate_cpu = n / a[0], n / a[1]
    print(
        f"  {label:5} {rate:7,.0f} pods/s ({rate_cpu:,.0f} by CPU time) | {anchor} "
        f"{arate:,.0f} pods/s ({arate_cpu:,.0f} by CPU) | ratio {rate / arate:.2f} | "
        f">= 5,000 pods/s | {'yes' if rate >= 5000 else 'NO'}"
        f"{'' if rate >= 5000 or rate_cpu < 5000 else ' (yes by CPU time: the machine is loaded)'}"
    )


def print_targets(n: int, yaml_path: Path, json_path: Path, tmp: str) -> None:
    print(f"targets (ours | anchor in this run | ratio | target | met; medians of {REPEAT} runs)")
    yaml_text, json_text = yaml_path.read_text(), json_path.read_text()
    cload = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    ours, c_yaml = median_rows(yaml_path, lambda: yaml.load(yaml_text, Loader=cload))
    _row("YAML", n, ours, "PyYAML C loader alone", c_yaml)
    try:
        import ryml  # type: ignore[import-not-found]
    except ImportError:
        ryml = None
    if ryml is not None and hasattr(ryml, "emit_json"):
        data = yaml_text.encode()
        ry = timed_cpu(lambda: json.loads(ryml.emit_json(ryml.parse_in_arena(data))))
        print(f"        rapidyaml -> json.loads alone: {n / ry[0]:,.0f} pods/s")
    else:
        print("        rapidyaml -> json.loads alone: n/a (rapidyaml is not installed)")
    met = ours["peak_mb"] <= 1024
    print(f"  YAML  peak {ours['peak_mb']:,.0f} MB | <= 1 GB | {'yes' if met else 'NO'}")
    managed = Path(tmp) / "managed.yaml"
    pods = [with_field_paths(kubectl_pod(i)) for i in range(MANAGED_PODS)]
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    doc = {"apiVersion": "v1", "items": pods, "kind": "List"}
    managed.write_text(yaml.dump(doc, Dumper=dumper, sort_keys=False))
    fast = read_fast(managed.read_text(), 10**8) is not None
    ours = check_apart(managed)
    print(
        "        kubectl -o yaml with managedFields' field paths and wrapped text,"
        f" {MANAGED_PODS:,} pods as the API server returns them:"
        f" {MANAGED_PODS / ours['wall']:,.0f} pods/s (read by the fast reader:"
        f" {'yes' if fast else 'no'}; not a target row)"
    )
    odd = Path(tmp) / "odd.yaml"
    cut = yaml_text.index("\n- ", len(yaml_text) // 2) + 1  # an item halfway
    odd.write_text(
        yaml_text[:cut] + "- {apiVersion: v1, kind: Pod, metadata: {name: x}}\n" + yaml_text[cut:]
    )
    fast_odd = read_fast(odd.read_text(), 10**8)
    ours = check_apart(odd)
    print(
        "        the same List with one item written in flow style halfway:"
        f" {n / ours['wall']:,.0f} pods/s (items left to the located reader: "
        f"{len(fast_odd.deferred) if fast_odd is not None else 'all'}; not a target row)"
    )
    anchored = Path(tmp) / "anchored.yaml"
    anchored.write_text(
        yaml_text[:cut]
        + "- apiVersion: v1\n  kind: Pod\n  metadata:\n    labels: &l {app: x}\n"
        + "    annotations: *l\n    name: x\n"
        + yaml_text[cut:]
    )
    ours = check_apart(anchored)
    print(
        "        the same List with one item holding an anchor and its alias halfway:"
        f" {n / ours['wall']:,.0f} pods/s (not a target row)"
    )
    crlf = Path(tmp) / "crlf.yaml"
    crlf.write_bytes(yaml_text.replace("\n", "\r\n").encode())
    ours = check_apart(crlf)
    print(
        "        the same List written on Windows (every line ending in CR LF):"
        f" {n / ours['wall']:,.0f} pods/s (not a target row)"
    )
    hand = Path(tmp) / "hand.yaml"
    hand.write_text("---\n".join(HAND_WRITTEN.format(i=i) for i in range(MANAGED_PODS)))
    fast = read_fast(hand.read_text(), 10**8) is not None
    ours = check_apart(hand)
    print(
        f"        hand-written Deployments with comments and flow sequences, {MANAGED_PODS:,}:"
        f" {MANAGED_PODS / ours['wall']:,.0f} pods/s (read by the fast reader:"
        f" {'yes' if fast else 'no'}; not a target row)"
    )
    helm = Path(tmp) / "helm.yaml"
    helm.write_text("".join(HELM_RELEASE.format(i=i) for i in range(MANAGED_PODS // 2)))
    got = read_fast(helm.read_text(), 10**8)
    ours = check_apart(helm)
    print(
        f"        `helm template` of `helm create`'s chart, {MANAGED_PODS // 2:,} releases"
        f" ({MANAGED_PODS:,} pods and templates): {MANAGED_PODS / ours['wall']:,.0f} pods/s"
        " (documents left to the located reader: "
        f"{len(got.deferred) if got is not None else 'all'}; not a target row)"
    )
    ours, loads = median_rows(json_path, lambda: json.loads(json_text))
    _row("JSON", n, ours, "json.loads alone", loads)
    big = Path(tmp) / "kubectl.json"
    with big.open("w") as fh:
        json.dump(
            {
                "apiVersion": "v1",
                "items": [kubectl_pod(i) for i in range(n)],
                "kind": "List",
                "metadata": {"resourceVersion": ""},
            },
            fh,
            indent=4,
        )
    size = big.stat().st_size
    ours = check_apart(big)
    accepted = ours["pods"] == n and ours["errors"] == 0
    print(
        f"  kubectl -o json, {size / 1e6:.0f} MB: {'accepted' if accepted else 'REFUSED'}, "
        f"{n / ours['wall']:,.0f} pods/s, peak {ours['peak_mb']:,.0f} MB "
        f"({ours['peak_mb'] * 2**20 / size:.1f}x the file) | accepted, streamed | "
        f"{'yes' if accepted else 'NO'}"
    )
    os.unlink(big)


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
        fast_s, fast = timed(lambda: read_fast(yaml_text, 10**8))
        print(f"violations: {bad['baseline']} at baseline, {bad['restricted']} at restricted")
        print(
            f"pss check YAML: {count / yaml_s:,.0f} pods/s ({yaml_s:.2f} s)"
            f" | baseline: yamlsrc parse only {n / parse_s:,.0f} pods/s ({parse_s:.2f} s);"
            f" yamlfast parse only {n / fast_s:,.0f} pods/s ({fast_s:.2f} s"
            f"{'' if fast is not None else ', NOT READ: outside its subset'})"
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
        print()
        print_targets(n, yaml_path, json_path, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
