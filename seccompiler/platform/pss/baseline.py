"""The baseline Pod Security Standards rules and the allow-lists they read (see ``checks``)."""

from __future__ import annotations

from seccompiler.platform.pss.model import VOLUME_SOURCES, SELinux
from seccompiler.platform.pss.model import Pod as PodSpec
from seccompiler.platform.pss.violation import (
    Violation,
    go_quote,
    join_quote,
    name_containers,
    plural,
    who_sets,
)

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)

# The safe sysctls, by the version that first allows each group.
SAFE_SYSCTLS: dict[int, tuple[str, ...]] = {
    0: (
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    ),
    27: ("net.ipv4.ip_local_reserved_ports",),
    29: (
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    ),
    32: ("net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"),
    37: ("net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"),
}

# The SELinux types a pod may set, by the version that first allows each.
SELINUX_TYPES: dict[int, tuple[str, ...]] = {
    0: ("", "container_t", "container_init_t", "container_kvm_t"),
    31: ("container_engine_t",),
}

# Inline volume sources the restricted level accepts (everything else is named as refused).
RESTRICTED_VOLUME_SOURCES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
# The refused sources, in the order upstream picks a volume's type name.
NAMED_VOLUME_SOURCES = tuple(k for k in VOLUME_SOURCES if k not in RESTRICTED_VOLUME_SOURCES)

SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"


def cumulative(table: dict[int, tuple[str, ...]], minor: int) -> frozenset[str]:
    """The union of a growing allow-list up to and including ``minor``."""
    return frozenset(x for since, items in table.items() if since <= minor for x in items)


# --- baseline rules ---------------------------------------------------------------------------


def host_process(pod: PodSpec) -> Violation | None:
    bad = [c.name for c in pod.containers if c.security.host_process is True]
    setters = who_sets(pod.security.host_process is True, bad)
    if not setters:
        return None
    return Violation(
        "hostProcess",
        f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true",
    )


def host_namespaces(pod: PodSpec) -> Violation | None:
    flags = [
        name
        for name, on in (
            ("hostNetwork=true", pod.host_network),
            ("hostPID=true", pod.host_pid),
            ("hostIPC=true", pod.host_ipc),
        )
        if on
    ]
    return Violation("host namespaces", ", ".join(flags)) if flags else None


def privileged(pod: PodSpec) -> Violation | None:
    bad = [c.name for c in pod.containers if c.privileged is True]
    if not bad:
        return None
    return Violation(
        "privileged", f"{name_containers(bad)} must not set securityContext.privileged=true"
    )


def capabilities_baseline(pod: PodSpec) -> Violation | None:
    bad: list[str] = []
    caps: set[str] = set()
    for c in pod.containers:
        extra = [cap for cap in c.caps_add if cap not in BASELINE_CAPABILITIES]
        if extra:
            bad.append(c.name)
            caps.update(extra)
    if not bad:
        return None
    return Violation(
        "non-default capabilities",
        f"{name_containers(bad)} must not include {join_quote(sorted(caps))}"
        " in securityContext.capabilities.add",
    )


def host_path_volumes(pod: PodSpec) -> Violation | None:
    bad = [vol.name for vol in pod.volumes if "hostPath" in vol.sources]
    if not bad:
        return None
    return Violation(
        "hostPath volumes", f"{plural('volume', 'volumes', len(bad))} {join_quote(bad)}"
    )


def host_ports(pod: PodSpec) -> Violation | None:
    bad: list[str] = []
    ports: set[str] = set()  # upstream sorts the port numbers as strings
    for c in pod.containers:
        used = [str(p) for p in c.host_ports if p != 0]
        if used:
            bad.append(c.name)
            ports.update(used)
    if not bad:
        return None
    return Violation(
        "hostPort",
        f"{name_containers(bad)} {plural('uses', 'use', len(bad))}"
        f" {plural('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}",
    )


def probe_hosts(pod: PodSpec) -> Violation | None:
    bad = sorted({c.name for c in pod.containers if c.probe_hosts})  # a set upstream: sorted
    if not bad:
        return None
    hosts = sorted({h for c in pod.containers for h in c.probe_hosts})
    return Violation(
        "probe or lifecycle host",
        f"{name_containers(bad)} {plural('uses', 'use', len(bad))}"
        f" {plural('probe or lifecycle host', 'probe or lifecycle hosts', len(hosts))}"
        f" {join_quote(hosts)}",
    )


def apparmor(pod: PodSpec) -> Violation | None:
    values: set[str] = set()
    pod_bad = False
    profile = pod.security.apparmor_type
    if profile is not None and profile not in APPARMOR_TYPES:
        pod_bad = True
        values.add(profile)
    bad: list[str] = []
    for c in pod.containers:
        profile = c.security.apparmor_type
        if profile is not None and profile not in APPARMOR_TYPES:
            bad.append(c.name)
            values.add(profile)
    annotations = sorted(
        f"{key}={go_quote(value)}"
        for key, value in pod.annotations.items()
        if key.startswith(APPARMOR_ANNOTATION_PREFIX)
        and not (value == "" or value == "runtime/default" or value.startswith("localhost/"))
    )
    extra = [plural("annotation", "annotations", len(annotations))] if annotations else []
    setters = who_sets(pod_bad, bad, extra)
    if not setters:
        return None
    listed = sorted(values) + annotations
    return Violation(
        plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(listed)),
        f"{' and '.join(setters)} must not set AppArmor profile type to {join_quote(listed)}",
    )


def se_linux_options(allowed: frozenset[str], pod: PodSpec) -> Violation | None:
    types: set[str] = set()
    flags = {"user": False, "role": False}

    def bad(opts: SELinux | None) -> bool:
        if opts is None:
            return False
        wrong = False
        if opts.type not in allowed:
            types.add(opts.type)
            wrong = True
        if opts.user:
            flags["user"] = wrong = True
        if opts.role:
            flags["role"] = wrong = True
        return wrong

    pod_bad = bad(pod.security.se_linux)
    containers = [c.name for c in pod.containers if bad(c.security.se_linux)]
    setters = who_sets(pod_bad, containers)
    if not setters:
        return None
    data = []
    if types:
        data.append(f"{plural('type', 'types', len(types))} {join_quote(sorted(types))}")
    data += [f"{what} may not be set" for what in ("user", "role") if flags[what]]
    return Violation(
        "seLinuxOptions",
        f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}",
    )


def proc_mount(pod: PodSpec) -> Violation | None:
    bad: list[str] = []
    kinds: set[str] = set()
    for c in pod.containers:
        if c.proc_mount is not None and c.proc_mount != "Default":
            bad.append(c.name)
            kinds.add(c.proc_mount)
    if not bad:
        return None
    return Violation(
        "procMount",
        f"{name_containers(bad)} must not set securityContext.procMount"
        f" to {join_quote(sorted(kinds))}",
    )


def proc_mount_unless_user_namespace(pod: PodSpec) -> Violation | None:
    return None if pod.user_namespace else proc_mount(pod)


def _seccomp_annotation_ok(value: str) -> bool:
    return value in ("runtime/default", "docker/default") or value.startswith("localhost/")


def seccomp_annotations(pod: PodSpec) -> Violation | None:
    bad: set[str] = set()
    keys = [SECCOMP_POD_ANNOTATION]
    keys += [SECCOMP_CONTAINER_ANNOTATION_PREFIX + c.name for c in pod.containers]
    for key in keys:
        value = pod.annotations.get(key)
        if value is not None and not _seccomp_annotation_ok(value):
            bad.add(f"{key}={go_quote(value)}")
    if not bad:
        return None
    return Violation(
        "seccompProfile",
        f"forbidden {plural('annotation', 'annotations', len(bad))} {', '.join(sorted(bad))}",
    )


def seccomp_fields(pod: PodSpec, required: bool) -> Violation | None:
    values: set[str] = set()
    pod_type = pod.security.seccomp_type
    pod_bad = pod_type is not None and pod_type not in SECCOMP_TYPES
    if pod_bad:
        values.add(pod_type or "")
    pod_ok = pod_type is not None and not pod_bad
    explicit: list[str] = []
    implicit: list[str] = []
    for c in pod.containers:
        kind = c.security.seccomp_type
        if kind is not None:
            if kind not in SECCOMP_TYPES:
                explicit.append(c.name)
                values.add(kind)
        elif not pod_ok:
            implicit.append(c.name)
    setters = who_sets(pod_bad, explicit)
    if setters:
        return Violation(
            "seccompProfile",
            f"{' and '.join(setters)} must not set securityContext.seccompProfile.type"
            f" to {join_quote(sorted(values))}",
        )
    if required and implicit:
        return Violation(
            "seccompProfile",
            f"pod or {name_containers(implicit)} must set securityContext.seccompProfile.type"
            ' to "RuntimeDefault" or "Localhost"',
        )
    return None


def seccomp_baseline(pod: PodSpec) -> Violation | None:
    return seccomp_fields(pod, required=False)


def sysctls(allowed: frozenset[str], pod: PodSpec) -> Violation | None:
    bad = [name for name in pod.sysctls if name not in allowed]
    return Violation("forbidden sysctls", ", ".join(bad)) if bad else None


# --- restricted rules -------------------------------------------------------------------------
