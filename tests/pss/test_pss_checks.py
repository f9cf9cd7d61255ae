"""Every check, at the version before each change and at the change, for Pods and every workload.

Expected reasons and details are upstream's texts (pod-security-admission policy tests and
check sources). Each row starts from a pod that passes everything and changes one thing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pss_helpers import base_pod, parse_yaml, wrap

from seccompiler.platform.pss.objects import WORKLOADS
from seccompiler.platform.pss.registry import DEFAULT
from seccompiler.platform.pss.versions import Level, LevelVersion, parse_version

Pod = dict[str, Any]
Change = Callable[[Pod], None]
DELETE = object()


def _update(node: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        if value is DELETE:
            node.pop(key, None)
        else:
            node[key] = value


def ctr_sc(**values: Any) -> Change:
    return lambda p: _update(p["spec"]["containers"][0].setdefault("securityContext", {}), values)


def ctr(**values: Any) -> Change:
    return lambda p: _update(p["spec"]["containers"][0], values)


def pod_sc(**values: Any) -> Change:
    return lambda p: _update(p["spec"].setdefault("securityContext", {}), values)


def spec(**values: Any) -> Change:
    return lambda p: _update(p["spec"], values)


def annotate(values: dict[str, str]) -> Change:
    return lambda p: p["metadata"].setdefault("annotations", {}).update(values)


def extra(where: str, name: str, sc: dict[str, Any] | None = None, **fields: Any) -> Change:
    def change(p: Pod) -> None:
        c: dict[str, Any] = {"name": name, "image": "x", **fields}
        c["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            **(sc or {}),
        }
        p["spec"].setdefault(where, []).append(c)

    return change


B, R = Level.BASELINE, Level.RESTRICTED
WINDOWS = spec(os={"name": "windows"})
USERNS = spec(hostUsers=False)
APPARMOR_C = "container.apparmor.security.beta.kubernetes.io/c"
SECCOMP_POD = "seccomp.security.alpha.kubernetes.io/pod"

# (row id, level, version, changes, expected [(reason, detail)])
ROWS: list[tuple[str, Level, str, tuple[Change, ...], list[tuple[str, str]]]] = [
    ("base-baseline", B, "v1.0", (), []),
    ("base-restricted", R, "latest", (), []),
    (
        "hostProcess",
        B,
        "v1.0",
        (
            pod_sc(windowsOptions={"hostProcess": True}),
            ctr_sc(windowsOptions={"hostProcess": True}),
        ),
        [
            (
                "hostProcess",
                'pod and container "c" must not set'
                " securityContext.windowsOptions.hostProcess=true",
            )
        ],
    ),
    (
        "hostNamespaces",
        B,
        "latest",
        (spec(hostNetwork=True, hostPID=True, hostIPC=True),),
        [("host namespaces", "hostNetwork=true, hostPID=true, hostIPC=true")],
    ),
    (
        "privileged-init-regular-ephemeral",
        B,
        "v1.23",
        (
            ctr_sc(privileged=True),
            extra("initContainers", "i", {"privileged": True}),
            extra("ephemeralContainers", "e", {"privileged": True}),
        ),
        [("privileged", 'containers "i", "c", "e" must not set securityContext.privileged=true')],
    ),
    ("privileged-false", B, "latest", (ctr_sc(privileged=False),), []),
    (
        "capabilities_baseline",
        B,
        "latest",
        (ctr_sc(capabilities={"add": ["SYS_ADMIN", "NET_RAW", "CHOWN"], "drop": ["ALL"]}),),
        [
            (
                "non-default capabilities",
                'container "c" must not include "NET_RAW", "SYS_ADMIN"'
                " in securityContext.capabilities.add",
            )
        ],
    ),
    (
        "capabilities-restricted-before-1.22",
        R,
        "v1.21",
        (ctr_sc(capabilities={"add": ["SYS_ADMIN", "CHOWN"]}),),
        [
            (
                "non-default capabilities",
                'container "c" must not include "SYS_ADMIN" in securityContext.capabilities.add',
            )
        ],
    ),
    (
        "capabilities-restricted-1.22",
        R,
        "v1.22",
        (ctr_sc(capabilities={"add": ["SYS_ADMIN", "CHOWN"]}),),
        [
            (
                "unrestricted capabilities",
                'container "c" must set securityContext.capabilities.drop=["ALL"]; container "c"'
                ' must not include "CHOWN", "SYS_ADMIN" in securityContext.capabilities.add',
            )
        ],
    ),
    (
        "capabilities-net-bind-service",
        R,
        "latest",
        (ctr_sc(capabilities={"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}),),
        [],
    ),
    ("drop-all-missing-1.21", R, "v1.21", (ctr_sc(capabilities=DELETE),), []),
    (
        "drop-all-missing-1.22",
        R,
        "v1.22",
        (ctr_sc(capabilities=DELETE),),
        [
            (
                "unrestricted capabilities",
                'container "c" must set securityContext.capabilities.drop=["ALL"]',
            )
        ],
    ),
    (
        "drop-all-windows-1.24",
        R,
        "v1.24",
        (ctr_sc(capabilities=DELETE), WINDOWS),
        [
            (
                "unrestricted capabilities",
                'container "c" must set securityContext.capabilities.drop=["ALL"]',
            )
        ],
    ),
    ("drop-all-windows-1.25", R, "v1.25", (ctr_sc(capabilities=DELETE), WINDOWS), []),
    (
        "hostPathVolumes",
        B,
        "latest",
        (
            spec(
                volumes=[
                    {"name": "a", "hostPath": {"path": "/"}},
                    {"name": "b", "hostPath": {"path": "/x"}},
                ]
            ),
        ),
        [("hostPath volumes", 'volumes "a", "b"')],
    ),
    (
        "restrictedVolumes-hostPath",
        R,
        "latest",
        (
            spec(
                volumes=[
                    {"name": "a", "hostPath": {"path": "/"}},
                    {"name": "b", "hostPath": {"path": "/x"}},
                ]
            ),
        ),
        [("restricted volume types", 'volumes "a", "b" use restricted volume type "hostPath"')],
    ),
    (
        "restrictedVolumes-kinds",
        R,
        "v1.0",
        (
            spec(
                volumes=[
                    {"name": "n", "nfs": {"server": "s", "path": "/"}},
                    {"name": "g", "gitRepo": {"repository": "r"}},
                    {"name": "e", "emptyDir": {}},
                    {"name": "none"},
                    {"name": "img", "image": {"reference": "x"}},
                    {"name": "pvc", "persistentVolumeClaim": {"claimName": "x"}},
                ]
            ),
        ),
        [
            (
                "restricted volume types",
                'volumes "n", "g" use restricted volume types "gitRepo", "nfs"',
            )
        ],
    ),
    (
        "restrictedVolumes-one",
        R,
        "latest",
        (spec(volumes=[{"name": "c", "cephfs": {"monitors": ["m"]}}]),),
        [("restricted volume types", 'volume "c" uses restricted volume type "cephfs"')],
    ),
    (
        "hostPorts-sorted-as-strings",
        B,
        "latest",
        (
            ctr(ports=[{"containerPort": 80, "hostPort": 80}, {"containerPort": 9, "hostPort": 9}]),
            extra(
                "containers",
                "d",
                ports=[{"containerPort": 1, "hostPort": 10}, {"containerPort": 2}],
            ),
        ),
        [("hostPort", 'containers "c", "d" use hostPorts 10, 80, 9')],
    ),
    (
        "hostPorts-one",
        B,
        "latest",
        (ctr(ports=[{"containerPort": 20, "hostPort": 20}]),),
        [("hostPort", 'container "c" uses hostPort 20')],
    ),
    (
        "probe-host-1.33",
        B,
        "v1.33",
        (ctr(livenessProbe={"httpGet": {"host": "8.8.8.8", "port": 80}}),),
        [],
    ),
    (
        "probe-host-1.34",
        B,
        "v1.34",
        (ctr(livenessProbe={"httpGet": {"host": "8.8.8.8", "port": 80}}),),
        [("probe or lifecycle host", 'container "c" uses probe or lifecycle host "8.8.8.8"')],
    ),
    (
        "probe-and-lifecycle-hosts-sorted",
        R,
        "latest",
        (
            ctr(readinessProbe={"tcpSocket": {"host": "b.com", "port": 1}}),
            extra(
                "initContainers",
                "b",
                lifecycle={"postStart": {"tcpSocket": {"host": "a.com", "port": 1}}},
            ),
        ),
        [
            (
                "probe or lifecycle host",
                'containers "b", "c" use probe or lifecycle hosts "a.com", "b.com"',
            )
        ],
    ),
    (
        "probe-empty-host",
        B,
        "latest",
        (ctr(startupProbe={"httpGet": {"host": "", "port": 1}}),),
        [],
    ),
    (
        "appArmor-container",
        B,
        "latest",
        (ctr_sc(appArmorProfile={"type": "Unconfined"}),),
        [
            (
                "forbidden AppArmor profile",
                'container "c" must not set AppArmor profile type to "Unconfined"',
            )
        ],
    ),
    (
        "appArmor-pod-and-annotation",
        B,
        "v1.0",
        (pod_sc(appArmorProfile={"type": "Unconfined"}), annotate({APPARMOR_C: "unconfined"})),
        [
            (
                "forbidden AppArmor profiles",
                'pod and annotation must not set AppArmor profile type to "Unconfined", '
                '"container.apparmor.security.beta.kubernetes.io/c="unconfined""',
            )
        ],
    ),
    (
        "appArmor-annotations",
        B,
        "latest",
        (
            annotate(
                {
                    "container.apparmor.security.beta.kubernetes.io/": "bogus",
                    "container.apparmor.security.beta.kubernetes.io/a": "",
                    "container.apparmor.security.beta.kubernetes.io/b": "runtime/default",
                    "container.apparmor.security.beta.kubernetes.io/c": "localhost/",
                    "container.apparmor.security.beta.kubernetes.io/e": "unconfined",
                    "container.apparmor.security.beta.kubernetes.io/f": "un\tknown",
                }
            ),
        ),
        [
            (
                "forbidden AppArmor profiles",
                "annotations must not set AppArmor profile type to"
                ' "container.apparmor.security.beta.kubernetes.io/="bogus"",'
                ' "container.apparmor.security.beta.kubernetes.io/e="unconfined"",'
                ' "container.apparmor.security.beta.kubernetes.io/f="un\\tknown""',
            )
        ],
    ),
    (
        "appArmor-allowed",
        B,
        "latest",
        (
            annotate({APPARMOR_C: "localhost/p"}),
            ctr_sc(appArmorProfile={"type": "Localhost", "localhostProfile": "p"}),
        ),
        [],
    ),
    (
        "seLinux-pod-and-container",
        B,
        "latest",
        (
            pod_sc(seLinuxOptions={"type": "foo", "user": "u", "role": "r"}),
            ctr_sc(seLinuxOptions={"type": "bar"}),
        ),
        [
            (
                "seLinuxOptions",
                'pod and container "c" set forbidden securityContext.seLinuxOptions: types "bar",'
                ' "foo"; user may not be set; role may not be set',
            )
        ],
    ),
    (
        "seLinux-engine-1.30",
        B,
        "v1.30",
        (ctr_sc(seLinuxOptions={"type": "container_engine_t"}),),
        [
            (
                "seLinuxOptions",
                'container "c" set forbidden securityContext.seLinuxOptions:'
                ' type "container_engine_t"',
            )
        ],
    ),
    (
        "seLinux-engine-1.31",
        B,
        "v1.31",
        (ctr_sc(seLinuxOptions={"type": "container_engine_t"}),),
        [],
    ),
    (
        "seLinux-allowed",
        B,
        "v1.0",
        (ctr_sc(seLinuxOptions={"type": "container_init_t", "level": "s0"}),),
        [],
    ),
    (
        "procMount-userns-1.34",
        B,
        "v1.34",
        (ctr_sc(procMount="Unmasked"), USERNS),
        [("procMount", 'container "c" must not set securityContext.procMount to "Unmasked"')],
    ),
    ("procMount-userns-1.35", B, "v1.35", (ctr_sc(procMount="Unmasked"), USERNS), []),
    (
        "procMount-restricted-userns-1.35",
        R,
        "v1.35",
        (ctr_sc(procMount="Unmasked"), USERNS),
        [("procMount", 'container "c" must not set securityContext.procMount to "Unmasked"')],
    ),
    ("procMount-default", R, "latest", (ctr_sc(procMount="Default"),), []),
    (
        "seccomp-annotation-1.18",
        B,
        "v1.18",
        (annotate({SECCOMP_POD: "unconfined"}),),
        [
            (
                "seccompProfile",
                'forbidden annotation seccomp.security.alpha.kubernetes.io/pod="unconfined"',
            )
        ],
    ),
    ("seccomp-annotation-1.19", B, "v1.19", (annotate({SECCOMP_POD: "unconfined"}),), []),
    (
        "seccomp-annotations-sorted",
        B,
        "v1.0",
        (
            annotate(
                {
                    SECCOMP_POD: "unconfined",
                    "container.seccomp.security.alpha.kubernetes.io/c": "unknown",
                    "container.seccomp.security.alpha.kubernetes.io/x": "unconfined",
                }
            ),
        ),
        [
            (
                "seccompProfile",
                'forbidden annotations container.seccomp.security.alpha.kubernetes.io/c="unknown",'
                ' seccomp.security.alpha.kubernetes.io/pod="unconfined"',
            )
        ],
    ),
    ("seccomp-docker-default", B, "v1.0", (annotate({SECCOMP_POD: "docker/default"}),), []),
    ("seccomp-field-1.18", B, "v1.18", (pod_sc(seccompProfile={"type": "Unconfined"}),), []),
    (
        "seccomp-field-1.19",
        B,
        "v1.19",
        (pod_sc(seccompProfile={"type": "Unconfined"}),),
        [
            (
                "seccompProfile",
                'pod must not set securityContext.seccompProfile.type to "Unconfined"',
            )
        ],
    ),
    ("seccomp-required-1.18", R, "v1.18", (pod_sc(seccompProfile=DELETE),), []),
    (
        "seccomp-required-1.19",
        R,
        "v1.19",
        (pod_sc(seccompProfile=DELETE),),
        [
            (
                "seccompProfile",
                'pod or container "c" must set securityContext.seccompProfile.type to'
                ' "RuntimeDefault" or "Localhost"',
            )
        ],
    ),
    (
        "seccomp-required-windows-1.24",
        R,
        "v1.24",
        (pod_sc(seccompProfile=DELETE), WINDOWS),
        [
            (
                "seccompProfile",
                'pod or container "c" must set securityContext.seccompProfile.type to'
                ' "RuntimeDefault" or "Localhost"',
            )
        ],
    ),
    ("seccomp-required-windows-1.25", R, "v1.25", (pod_sc(seccompProfile=DELETE), WINDOWS), []),
    (
        "seccomp-container-localhost",
        R,
        "latest",
        (
            pod_sc(seccompProfile=DELETE),
            ctr_sc(seccompProfile={"type": "Localhost", "localhostProfile": "p"}),
        ),
        [],
    ),
    (
        "sysctls-order-kept",
        B,
        "latest",
        (pod_sc(sysctls=[{"name": "b", "value": "1"}, {"name": "a", "value": "1"}]),),
        [("forbidden sysctls", "b, a")],
    ),
    *[
        row
        for name, before, at in (
            ("net.ipv4.ip_local_reserved_ports", "v1.26", "v1.27"),
            ("net.ipv4.tcp_keepalive_time", "v1.28", "v1.29"),
            ("net.ipv4.tcp_rmem", "v1.31", "v1.32"),
            ("net.ipv4.tcp_slow_start_after_idle", "v1.36", "v1.37"),
        )
        for row in (
            (
                f"sysctl-{name}-{before}",
                B,
                before,
                (pod_sc(sysctls=[{"name": name, "value": "1"}]),),
                [("forbidden sysctls", name)],
            ),
            (f"sysctl-{name}-{at}", B, at, (pod_sc(sysctls=[{"name": name, "value": "1"}]),), []),
        )
    ],
    ("ape-1.7", R, "v1.7", (ctr_sc(allowPrivilegeEscalation=DELETE),), []),
    (
        "ape-1.8",
        R,
        "v1.8",
        (ctr_sc(allowPrivilegeEscalation=DELETE),),
        [
            (
                "allowPrivilegeEscalation != false",
                'container "c" must set securityContext.allowPrivilegeEscalation=false',
            )
        ],
    ),
    (
        "ape-windows-1.24",
        R,
        "v1.24",
        (ctr_sc(allowPrivilegeEscalation=True), WINDOWS),
        [
            (
                "allowPrivilegeEscalation != false",
                'container "c" must set securityContext.allowPrivilegeEscalation=false',
            )
        ],
    ),
    ("ape-windows-1.25", R, "v1.25", (ctr_sc(allowPrivilegeEscalation=DELETE), WINDOWS), []),
    (
        "runAsNonRoot-pod-false",
        R,
        "latest",
        (pod_sc(runAsNonRoot=False),),
        [("runAsNonRoot != true", "pod must not set securityContext.runAsNonRoot=false")],
    ),
    (
        "runAsNonRoot-implicit",
        R,
        "v1.0",
        (pod_sc(runAsNonRoot=DELETE), extra("initContainers", "i", {"runAsNonRoot": True})),
        [
            (
                "runAsNonRoot != true",
                'pod or container "c" must set securityContext.runAsNonRoot=true',
            )
        ],
    ),
    (
        "runAsNonRoot-userns-1.34",
        R,
        "v1.34",
        (pod_sc(runAsNonRoot=False), USERNS),
        [("runAsNonRoot != true", "pod must not set securityContext.runAsNonRoot=false")],
    ),
    ("runAsNonRoot-userns-1.35", R, "v1.35", (pod_sc(runAsNonRoot=False), USERNS), []),
    ("runAsUser-1.22", R, "v1.22", (pod_sc(runAsUser=0), ctr_sc(runAsUser=0)), []),
    (
        "runAsUser-1.23",
        R,
        "v1.23",
        (pod_sc(runAsUser=0), ctr_sc(runAsUser=0)),
        [("runAsUser=0", 'pod and container "c" must not set runAsUser=0')],
    ),
    (
        "runAsUser-userns-1.34",
        R,
        "v1.34",
        (ctr_sc(runAsUser=0), USERNS),
        [("runAsUser=0", 'container "c" must not set runAsUser=0')],
    ),
    ("runAsUser-userns-1.35", R, "v1.35", (ctr_sc(runAsUser=0), USERNS), []),
    ("runAsUser-nonzero", R, "latest", (pod_sc(runAsUser=1000),), []),
    (
        "order-baseline-then-restricted",
        R,
        "latest",
        (ctr_sc(privileged=True, allowPrivilegeEscalation=True), spec(hostIPC=True)),
        [
            ("host namespaces", "hostIPC=true"),
            ("privileged", 'container "c" must not set securityContext.privileged=true'),
            (
                "allowPrivilegeEscalation != false",
                'container "c" must set securityContext.allowPrivilegeEscalation=false',
            ),
        ],
    ),
]


def _pod(changes: tuple[Change, ...]) -> Pod:
    p = base_pod()
    for change in changes:
        change(p)
    return p


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
@pytest.mark.parametrize(
    ("level", "version", "changes", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_check_table(
    kind: str,
    level: Level,
    version: str,
    changes: tuple[Change, ...],
    expected: list[tuple[str, str]],
) -> None:
    manifests = parse_yaml(wrap(_pod(changes), kind))
    assert not manifests.errors
    (obj,) = manifests.objects
    assert obj.pod is not None and obj.kind == kind
    result = DEFAULT.evaluate(LevelVersion(level, parse_version(version)), obj.pod)
    assert [(f.reason, f.detail) for f in result.failures] == expected


def test_message_format_matches_the_api_server() -> None:
    p = _pod((spec(hostNetwork=True), ctr_sc(privileged=True)))
    p["spec"]["containers"][0]["name"] = "a"
    (obj,) = parse_yaml(wrap(p, "Pod")).objects
    assert obj.pod is not None
    result = DEFAULT.evaluate(LevelVersion(B, parse_version("v1.23")), obj.pod)
    assert result.message() == (
        'violates PodSecurity "baseline:v1.23": host namespaces (hostNetwork=true), '
        'privileged (container "a" must not set securityContext.privileged=true)'
    )
    assert result.warning().startswith('would violate PodSecurity "baseline:v1.23": host ')
    assert result.reasons() == "host namespaces, privileged"


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_a_pod_on_the_host_network_gets_its_ports_as_host_ports(kind: str) -> None:
    """The API server defaults a Pod's spec before admission (core/v1 SetDefaults_Pod): on
    the host's network, a port of a container or init container without a hostPort gets its
    containerPort. Since Kubernetes 1.28 workloads' templates are not defaulted so."""
    p = _pod(
        (
            spec(hostNetwork=True),
            ctr(ports=[{"containerPort": 8080}, {"containerPort": 53, "hostPort": 0}]),
            extra("initContainers", "i", ports=[{"containerPort": 9090}]),
        )
    )
    (obj,) = parse_yaml(wrap(p, kind)).objects
    assert obj.pod is not None
    result = DEFAULT.evaluate(LevelVersion(B, parse_version("latest")), obj.pod)
    expected = [("host namespaces", "hostNetwork=true")]
    if kind == "Pod":
        expected.append(("hostPort", 'containers "i", "c" use hostPorts 53, 8080, 9090'))
    assert [(f.reason, f.detail) for f in result.failures] == expected
