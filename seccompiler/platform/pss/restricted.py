"""The restricted Pod Security Standards rules (see ``checks``)."""

from __future__ import annotations

from seccompiler.platform.pss.baseline import (
    NAMED_VOLUME_SOURCES,
    RESTRICTED_VOLUME_SOURCES,
    seccomp_fields,
)
from seccompiler.platform.pss.model import Pod as PodSpec
from seccompiler.platform.pss.violation import (
    Rule,
    Violation,
    join_quote,
    name_containers,
    plural,
    who_sets,
)


def unless_windows(rule: Rule, pod: PodSpec) -> Violation | None:
    return None if pod.windows else rule(pod)


def unless_user_namespace(rule: Rule, pod: PodSpec) -> Violation | None:
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
        f"{name_containers(bad)} must set securityContext.allowPrivilegeEscalation=false",
    )


def run_as_non_root(pod: PodSpec) -> Violation | None:
    pod_value = pod.security.run_as_non_root
    explicit = [c.name for c in pod.containers if c.security.run_as_non_root is False]
    setters = who_sets(pod_value is False, explicit)
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
        f"pod or {name_containers(implicit)} must set securityContext.runAsNonRoot=true",
    )


def run_as_user(pod: PodSpec) -> Violation | None:
    bad = [c.name for c in pod.containers if c.security.run_as_user == 0]
    setters = who_sets(pod.security.run_as_user == 0, bad)
    if not setters:
        return None
    return Violation("runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0")


def seccomp_restricted(pod: PodSpec) -> Violation | None:
    return seccomp_fields(pod, required=True)


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
        details.append(
            f'{name_containers(no_drop)} must set securityContext.capabilities.drop=["ALL"]'
        )
    if adding:
        details.append(
            f"{name_containers(adding)} must not include {join_quote(sorted(caps))}"
            " in securityContext.capabilities.add"
        )
    return Violation("unrestricted capabilities", "; ".join(details)) if details else None


# --- the table --------------------------------------------------------------------------------
