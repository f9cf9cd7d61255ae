"""The part of a pod that the Pod Security Standards read, decoded with Go's typing rules.

The API server decodes a manifest into typed structs before admission runs: a missing or
null field is the zero value (``false``, ``""``, nil), and a value of the wrong type is a
decoding error. ``decode_pod`` does the same for exactly the fields the checks read, so the
checks see what the API server sees, and a wrong type is a located ``InputError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from seccompiler.platform.pss.typed import lazy_fields as _D

# VolumeSource members, in the order upstream tests them to name a restricted volume type.
VOLUME_SOURCES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
)

_SOURCE_ORDER = {key: i for i, key in enumerate(VOLUME_SOURCES)}


@dataclass(frozen=True, slots=True)
class SELinux:
    type: str
    user: str
    role: str


@dataclass(frozen=True, slots=True)
class SecurityFields:
    """The securityContext fields shared by pods and containers; None means unset (nil)."""

    run_as_non_root: bool | None = None
    run_as_user: int | None = None
    se_linux: SELinux | None = None
    seccomp_type: str | None = None
    apparmor_type: str | None = None
    host_process: bool | None = None


NO_SECURITY = SecurityFields()


@dataclass(frozen=True, slots=True)
class Container:
    """A container of any kind (init, regular, ephemeral), as the checks read it."""

    name: str
    has_security_context: bool = False
    security: SecurityFields = NO_SECURITY
    privileged: bool | None = None
    allow_privilege_escalation: bool | None = None
    proc_mount: str | None = None
    has_capabilities: bool = False
    caps_add: tuple[str, ...] = ()
    caps_drop: tuple[str, ...] = ()
    host_ports: tuple[int, ...] = ()
    probe_hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Volume:
    name: str
    sources: frozenset[str]  # the VolumeSource members that are set (non-null)


@dataclass(frozen=True, slots=True)
class Pod:
    """The metadata and spec of a pod or pod template."""

    annotations: Mapping[str, str]
    containers: tuple[Container, ...]  # init, then regular, then ephemeral: upstream's order
    host_network: bool = False
    host_pid: bool = False
    host_ipc: bool = False
    host_users: bool | None = None
    os_name: str | None = None
    runtime_class: str | None = None
    has_security_context: bool = False
    security: SecurityFields = NO_SECURITY
    sysctls: tuple[str, ...] = ()
    volumes: tuple[Volume, ...] = ()
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    def __hash__(self) -> int:
        # Pods key the evaluator's memo, once per level a pod is judged at: hash them once.
        if self._hash is None:
            fields_ = tuple(getattr(self, f) for f in _POD_FIELDS)
            object.__setattr__(self, "_hash", hash(fields_))
        assert self._hash is not None
        return self._hash

    @property
    def windows(self) -> bool:
        return self.os_name == "windows"

    @property
    def user_namespace(self) -> bool:
        return self.host_users is False


_POD_FIELDS = tuple(f for f in Pod.__dataclass_fields__ if f != "_hash")


class Annotations(dict[str, str]):
    """A pod's annotations: a plain mapping that hashes, so that pods can key a cache."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))


def _security(sc: Mapping[str, Any], path: str) -> SecurityFields:
    se_linux = None
    opts = _D.mapping(sc, "seLinuxOptions", path)
    if opts is not None:
        p = f"{path}.seLinuxOptions"
        se_linux = SELinux(
            type=_D.string(opts, "type", p) or "",
            user=_D.string(opts, "user", p) or "",
            role=_D.string(opts, "role", p) or "",
        )
    seccomp = _D.mapping(sc, "seccompProfile", path)
    apparmor = _D.mapping(sc, "appArmorProfile", path)
    windows = _D.mapping(sc, "windowsOptions", path)
    return SecurityFields(
        run_as_non_root=_D.boolean(sc, "runAsNonRoot", path),
        run_as_user=_D.integer(sc, "runAsUser", path, 64),
        se_linux=se_linux,
        seccomp_type=None
        if seccomp is None
        else (_D.string(seccomp, "type", f"{path}.seccompProfile") or ""),
        apparmor_type=None
        if apparmor is None
        else (_D.string(apparmor, "type", f"{path}.appArmorProfile") or ""),
        host_process=None
        if windows is None
        else _D.boolean(windows, "hostProcess", f"{path}.windowsOptions"),
    )


def _hosts(handler: Mapping[str, Any], path: str, hosts: list[str]) -> None:
    for action in ("httpGet", "tcpSocket"):
        spec = _D.mapping(handler, action, path)
        if spec is not None:
            host = _D.string(spec, "host", f"{path}.{action}")
            if host:
                hosts.append(host)


def _container(c: Mapping[str, Any], path: str) -> Container:
    name = _D.string(c, "name", path) or ""
    ports = []
    seq = _D.sequence(c, "ports", path)
    for i in range(len(seq)):
        port = _D.item_map(seq, i, f"{path}.ports")
        if port.get("hostPort") is None:
            ports.append(0)
        else:
            ports.append(_D.integer(port, "hostPort", f"{path}.ports[{i}]", 32) or 0)
    hosts: list[str] = []
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        handler = _D.mapping(c, probe, path) if c.get(probe) is not None else None
        if handler is not None:
            _hosts(handler, f"{path}.{probe}", hosts)
    lifecycle = _D.mapping(c, "lifecycle", path) if c.get("lifecycle") is not None else None
    if lifecycle is not None:
        for hook in ("postStart", "preStop"):
            handler = _D.mapping(lifecycle, hook, f"{path}.lifecycle")
            if handler is not None:
                _hosts(handler, f"{path}.lifecycle.{hook}", hosts)
    sc = _D.mapping(c, "securityContext", path)
    if sc is None:
        return Container(name=name, host_ports=tuple(ports), probe_hosts=tuple(hosts))
    p = f"{path}.securityContext"
    caps = _D.mapping(sc, "capabilities", p)
    add: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    if caps is not None:
        pc = f"{p}.capabilities"
        seq = _D.sequence(caps, "add", pc)
        add = tuple(_D.item_str(seq, i, f"{pc}.add") for i in range(len(seq)))
        seq = _D.sequence(caps, "drop", pc)
        drop = tuple(_D.item_str(seq, i, f"{pc}.drop") for i in range(len(seq)))
    return Container(
        name=name,
        has_security_context=True,
        security=_security(sc, p),
        privileged=_D.boolean(sc, "privileged", p),
        allow_privilege_escalation=_D.boolean(sc, "allowPrivilegeEscalation", p),
        proc_mount=_D.string(sc, "procMount", p),
        has_capabilities=caps is not None,
        caps_add=add,
        caps_drop=drop,
        host_ports=tuple(ports),
        probe_hosts=tuple(hosts),
    )


def _volume(vol: Mapping[str, Any], path: str) -> Volume:
    name = _D.string(vol, "name", path) or ""
    # The volume's own keys, not all thirty sources: a volume has two or three.
    sources = [key for key in vol if key in _SOURCE_ORDER and vol[key] is not None]
    if len(sources) > 1:
        sources.sort(key=_SOURCE_ORDER.__getitem__)  # the first wrong one is upstream's
    for key in sources:
        _D.mapping(vol, key, path)
    # The API server's defaulting (core/v1 SetDefaults_Volume) makes a volume with no source
    # an emptyDir before admission sees it.
    return Volume(name, frozenset(sources or ("emptyDir",)))


def _host_network_ports(spec: Mapping[str, Any], path: str, containers: list[Container]) -> None:
    """core/v1 SetDefaults_Pod: in a Pod on the host's network, a port of a container or an
    init container without a hostPort gets its containerPort as hostPort (since Kubernetes
    1.28 in Pods only, not in workloads' templates)."""
    at = 0  # containers holds init containers first, then containers, as decode_pod reads them
    for key in ("initContainers", "containers"):
        seq = _D.sequence(spec, key, path)
        for i in range(len(seq)):
            c = _D.item_map(seq, i, f"{path}.{key}")
            ports = _D.sequence(c, "ports", f"{path}.{key}[{i}]")
            host = list(containers[at].host_ports)
            for j in range(len(ports)):
                if host[j] == 0:
                    port = _D.item_map(ports, j, f"{path}.{key}[{i}].ports")
                    where = f"{path}.{key}[{i}].ports[{j}]"
                    host[j] = _D.integer(port, "containerPort", where, 32) or 0
            containers[at] = replace(containers[at], host_ports=tuple(host))
            at += 1


def decode_pod(
    metadata: Mapping[str, Any] | None,
    spec: Mapping[str, Any] | None,
    prefix: str = "",
    *,
    is_pod: bool = False,
) -> Pod:
    """Decode a pod's metadata and spec; ``prefix`` (``spec.template.``) names their place.
    ``is_pod``: a Pod's own spec, which the API server defaults as Pods alone (not a
    workload's template) before admission sees it."""
    path = f"{prefix}spec"
    annotations = _D.string_map(metadata or {}, "annotations", f"{prefix}metadata")
    spec = spec or {}
    containers = []
    for key in ("initContainers", "containers", "ephemeralContainers"):
        seq = _D.sequence(spec, key, path)
        for i in range(len(seq)):
            containers.append(
                _container(_D.item_map(seq, i, f"{path}.{key}"), f"{path}.{key}[{i}]")
            )
    volumes = []
    seq = _D.sequence(spec, "volumes", path)
    for i in range(len(seq)):
        volumes.append(_volume(_D.item_map(seq, i, f"{path}.volumes"), f"{path}.volumes[{i}]"))
    os_spec = _D.mapping(spec, "os", path)
    psc = _D.mapping(spec, "securityContext", path)
    sysctls: list[str] = []
    if psc is not None:
        p = f"{path}.securityContext.sysctls"
        seq = _D.sequence(psc, "sysctls", f"{path}.securityContext")
        for i in range(len(seq)):
            sysctls.append(_D.string(_D.item_map(seq, i, p), "name", f"{p}[{i}]") or "")
    host_network = bool(_D.boolean(spec, "hostNetwork", path))
    if host_network and is_pod:
        _host_network_ports(spec, path, containers)
    return Pod(
        annotations=Annotations(annotations),
        containers=tuple(containers),
        host_network=host_network,
        host_pid=bool(_D.boolean(spec, "hostPID", path)),
        host_ipc=bool(_D.boolean(spec, "hostIPC", path)),
        host_users=_D.boolean(spec, "hostUsers", path),
        os_name=None if os_spec is None else (_D.string(os_spec, "name", f"{path}.os") or ""),
        runtime_class=_D.string(spec, "runtimeClassName", path),
        has_security_context=psc is not None,
        security=NO_SECURITY if psc is None else _security(psc, f"{path}.securityContext"),
        sysctls=tuple(sysctls),
        volumes=tuple(volumes),
    )
