"""Every Pod Security Standards check, as rules plus a table of which rule holds from which version.

The facts (fields, allowed values, version boundaries, overrides, and the exact reason and
detail texts) are those of kubernetes/pod-security-admission ``policy/check_*.go`` at the
v1.37 policy; this is an independent implementation of them. A check is a function of a
decoded ``Pod`` returning ``None`` when allowed or a ``Violation`` carrying upstream's texts.
``CHECKS`` says, for each check id, its level, and from which minimum version which rule
applies, and which baseline check a restricted one replaces. ``registry`` inflates the table
into the ordered check lists of every version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

from seccompiler.platform.pss.model import VOLUME_SOURCES, SecurityFields, SELinux
from seccompiler.platform.pss.model import Pod as PodSpec
from seccompiler.platform.pss.versions import Level, Version, v


@dataclass(frozen=True, slots=True)
class Violation:
    """One failed check: upstream's short reason and its detail (which may be empty)."""

    reason: str
    detail: str = ""


Rule = Callable[[PodSpec], Violation | None]


@dataclass(frozen=True)
class Step:
    """From ``since`` on (until the next step), ``rule`` is the check; it may replace others."""

    since: Version
    rule: Rule
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    id: str
    level: Level
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if self.level is Level.PRIVILEGED or not self.steps:
            raise ValueError(f"check {self.id}: needs steps at baseline or restricted")
        for a, b in zip(self.steps, self.steps[1:], strict=False):
            if not a.since.older(b.since):
                raise ValueError(f"check {self.id}: versions must be strictly increasing")
        if any(s.since.latest for s in self.steps):
            raise ValueError(f"check {self.id}: a step cannot start at latest")
        if self.level is Level.BASELINE and any(s.overrides for s in self.steps):
            raise ValueError(f"check {self.id}: only restricted checks may override")


# --- wording helpers, matching upstream's messages ------------------------------------------


def plural(singular: str, many: str, count: int) -> str:
    return singular if count == 1 else many


def join_quote(items: Iterable[str]) -> str:
    """``"a", "b"``: upstream joins with literal quotes, without escaping."""
    items = list(items)
    return '"' + '", "'.join(items) + '"' if items else ""


def go_quote(text: str) -> str:
    """Quote like Go's ``%q`` (strconv.Quote), used where upstream prints annotation values."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch == " " or (ch.isprintable() and code != 0x7F):
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_GO_ESCAPES["\v"] = "\\v"


def _containers(names: list[str]) -> str:
    return f"{plural('container', 'containers', len(names))} {join_quote(names)}"


def _setters(pod_bad: bool, containers: list[str], extra: Iterable[str] = ()) -> list[str]:
    out = ["pod"] if pod_bad else []
    if containers:
        out.append(_containers(containers))
    out.extend(extra)
    return out


# --- data -------------------------------------------------------------------------------------

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
    setters = _setters(pod.security.host_process is True, bad)
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
        "privileged", f"{_containers(bad)} must not set securityContext.privileged=true"
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
        f"{_containers(bad)} must not include {join_quote(sorted(caps))}"
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
        f"{_containers(bad)} {plural('uses', 'use', len(bad))}"
        f" {plural('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}",
    )


def probe_hosts(pod: PodSpec) -> Violation | None:
    bad = sorted({c.name for c in pod.containers if c.probe_hosts})  # a set upstream: sorted
    if not bad:
        return None
    hosts = sorted({h for c in pod.containers for h in c.probe_hosts})
    return Violation(
        "probe or lifecycle host",
        f"{_containers(bad)} {plural('uses', 'use', len(bad))}"
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
    setters = _setters(pod_bad, bad, extra)
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
    setters = _setters(pod_bad, containers)
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
        f"{_containers(bad)} must not set securityContext.procMount to {join_quote(sorted(kinds))}",
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


def _seccomp_fields(pod: PodSpec, required: bool) -> Violation | None:
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
    setters = _setters(pod_bad, explicit)
    if setters:
        return Violation(
            "seccompProfile",
            f"{' and '.join(setters)} must not set securityContext.seccompProfile.type"
            f" to {join_quote(sorted(values))}",
        )
    if required and implicit:
        return Violation(
            "seccompProfile",
            f"pod or {_containers(implicit)} must set securityContext.seccompProfile.type"
            ' to "RuntimeDefault" or "Localhost"',
        )
    return None


def seccomp_baseline(pod: PodSpec) -> Violation | None:
    return _seccomp_fields(pod, required=False)


def sysctls(allowed: frozenset[str], pod: PodSpec) -> Violation | None:
    bad = [name for name in pod.sysctls if name not in allowed]
    return Violation("forbidden sysctls", ", ".join(bad)) if bad else None


# --- restricted rules -------------------------------------------------------------------------


def _unless_windows(rule: Rule, pod: PodSpec) -> Violation | None:
    return None if pod.windows else rule(pod)


def _unless_user_namespace(rule: Rule, pod: PodSpec) -> Violation | None:
    return None if pod.user_namespace else rule(pod)


def restricted_volumes(pod: PodSpec) -> Violation | None:
    bad: list[str] = []
    kinds: set[str] = set()
    for vol in pod.volumes:
        if vol.sources & RESTRICTED_VOLUME_SOURCES:
            continue
        bad.append(vol.name)
        kinds.add(next((k for k in NAMED_VOLUME_SOURCES if k in vol.sources), "unknown"))
    if not bad:
        return None
    return Violation(
        "restricted volume types",
        f"{plural('volume', 'volumes', len(bad))} {join_quote(bad)}"
        f" {plural('uses', 'use', len(bad))}"
        f" {plural('restricted volume type', 'restricted volume types', len(kinds))}"
        f" {join_quote(sorted(kinds))}",
    )


def allow_privilege_escalation(pod: PodSpec) -> Violation | None:
    bad = [c.name for c in pod.containers if c.allow_privilege_escalation is not False]
    if not bad:
        return None
    return Violation(
        "allowPrivilegeEscalation != false",
        f"{_containers(bad)} must set securityContext.allowPrivilegeEscalation=false",
    )


def run_as_non_root(pod: PodSpec) -> Violation | None:
    pod_value = pod.security.run_as_non_root
    explicit = [c.name for c in pod.containers if c.security.run_as_non_root is False]
    setters = _setters(pod_value is False, explicit)
    if setters:
        return Violation(
            "runAsNonRoot != true",
            f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false",
        )
    if pod_value is True:
        return None
    implicit = [c.name for c in pod.containers if c.security.run_as_non_root is None]
    if not implicit:
        return None
    return Violation(
        "runAsNonRoot != true",
        f"pod or {_containers(implicit)} must set securityContext.runAsNonRoot=true",
    )


def run_as_user(pod: PodSpec) -> Violation | None:
    bad = [c.name for c in pod.containers if c.security.run_as_user == 0]
    setters = _setters(pod.security.run_as_user == 0, bad)
    if not setters:
        return None
    return Violation("runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0")


def seccomp_restricted(pod: PodSpec) -> Violation | None:
    return _seccomp_fields(pod, required=True)


def capabilities_restricted(pod: PodSpec) -> Violation | None:
    no_drop: list[str] = []
    adding: list[str] = []
    caps: set[str] = set()
    for c in pod.containers:
        if not c.has_capabilities:
            no_drop.append(c.name)
            continue
        if "ALL" not in c.caps_drop:
            no_drop.append(c.name)
        extra = [cap for cap in c.caps_add if cap != "NET_BIND_SERVICE"]
        if extra:
            adding.append(c.name)
            caps.update(extra)
    details = []
    if no_drop:
        details.append(f'{_containers(no_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(
            f"{_containers(adding)} must not include {join_quote(sorted(caps))}"
            " in securityContext.capabilities.add"
        )
    return Violation("unrestricted capabilities", "; ".join(details)) if details else None


# --- the table --------------------------------------------------------------------------------

B, R = Level.BASELINE, Level.RESTRICTED

CHECKS: tuple[Check, ...] = (
    Check("windowsHostProcess", B, (Step(v(0), host_process),)),
    Check("hostNamespaces", B, (Step(v(0), host_namespaces),)),
    Check("privileged", B, (Step(v(0), privileged),)),
    Check("capabilities_baseline", B, (Step(v(0), capabilities_baseline),)),
    Check("hostPathVolumes", B, (Step(v(0), host_path_volumes),)),
    Check("hostPorts", B, (Step(v(0), host_ports),)),
    Check("hostProbesAndHostLifecycle", B, (Step(v(34), probe_hosts),)),
    Check("appArmorProfile", B, (Step(v(0), apparmor),)),
    Check(
        "seLinuxOptions",
        B,
        tuple(
            Step(v(since), partial(se_linux_options, cumulative(SELINUX_TYPES, since)))
            for since in sorted(SELINUX_TYPES)
        ),
    ),
    Check(
        "procMount",
        B,
        (Step(v(0), proc_mount), Step(v(35), proc_mount_unless_user_namespace)),
    ),
    Check(
        "seccompProfile_baseline",
        B,
        (Step(v(0), seccomp_annotations), Step(v(19), seccomp_baseline)),
    ),
    Check(
        "sysctls",
        B,
        tuple(
            Step(v(since), partial(sysctls, cumulative(SAFE_SYSCTLS, since)))
            for since in sorted(SAFE_SYSCTLS)
        ),
    ),
    Check("restrictedVolumes", R, (Step(v(0), restricted_volumes, ("hostPathVolumes",)),)),
    Check(
        "allowPrivilegeEscalation",
        R,
        (
            Step(v(8), allow_privilege_escalation),
            Step(v(25), partial(_unless_windows, allow_privilege_escalation)),
        ),
    ),
    Check(
        "runAsNonRoot",
        R,
        (
            Step(v(0), run_as_non_root),
            Step(v(35), partial(_unless_user_namespace, run_as_non_root)),
        ),
    ),
    Check(
        "runAsUser",
        R,
        (Step(v(23), run_as_user), Step(v(35), partial(_unless_user_namespace, run_as_user))),
    ),
    Check(
        "seccompProfile_restricted",
        R,
        (
            Step(v(19), seccomp_restricted, ("seccompProfile_baseline",)),
            Step(
                v(25),
                partial(_unless_windows, seccomp_restricted),
                ("seccompProfile_baseline",),
            ),
        ),
    ),
    Check(
        "capabilities_restricted",
        R,
        (
            Step(v(22), capabilities_restricted, ("capabilities_baseline",)),
            Step(
                v(25),
                partial(_unless_windows, capabilities_restricted),
                ("capabilities_baseline",),
            ),
        ),
    ),
    Check("procMount_restricted", R, (Step(v(35), proc_mount, ("procMount",)),)),
)

__all__ = ["CHECKS", "Check", "SecurityFields", "Step", "Violation"]
