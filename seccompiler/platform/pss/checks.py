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

from dataclasses import dataclass
from functools import partial

from seccompiler.platform.pss.baseline import (
    SAFE_SYSCTLS,
    SELINUX_TYPES,
    apparmor,
    capabilities_baseline,
    cumulative,
    host_namespaces,
    host_path_volumes,
    host_ports,
    host_process,
    privileged,
    probe_hosts,
    proc_mount,
    proc_mount_unless_user_namespace,
    se_linux_options,
    seccomp_annotations,
    seccomp_baseline,
    sysctls,
)
from seccompiler.platform.pss.model import SecurityFields
from seccompiler.platform.pss.restricted import (
    allow_privilege_escalation,
    capabilities_restricted,
    restricted_volumes,
    run_as_non_root,
    run_as_user,
    seccomp_restricted,
    unless_user_namespace,
    unless_windows,
)
from seccompiler.platform.pss.versions import Level, Version, v
from seccompiler.platform.pss.violation import Rule, Violation


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
            Step(v(25), partial(unless_windows, allow_privilege_escalation)),
        ),
    ),
    Check(
        "runAsNonRoot",
        R,
        (
            Step(v(0), run_as_non_root),
            Step(v(35), partial(unless_user_namespace, run_as_non_root)),
        ),
    ),
    Check(
        "runAsUser",
        R,
        (Step(v(23), run_as_user), Step(v(35), partial(unless_user_namespace, run_as_user))),
    ),
    Check(
        "seccompProfile_restricted",
        R,
        (
            Step(v(19), seccomp_restricted, ("seccompProfile_baseline",)),
            Step(
                v(25),
                partial(unless_windows, seccomp_restricted),
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
                partial(unless_windows, capabilities_restricted),
                ("capabilities_baseline",),
            ),
        ),
    ),
    Check("procMount_restricted", R, (Step(v(35), proc_mount, ("procMount",)),)),
)

__all__ = ["CHECKS", "Check", "Rule", "SecurityFields", "Step", "Violation"]
