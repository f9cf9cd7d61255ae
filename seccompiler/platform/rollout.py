"""The rollout stages, as data: what each stage of ``rollout`` in platform.yaml switches on.

Every stage is built from the same sources; only these switches differ (docs/rollout.md).

- ``audit``: pods get the logging variant of the profile (SCMP_ACT_LOG wherever it would
  refuse, so the kernel's audit log names every call the real profile would refuse), the
  admission policies and the guard warn and audit instead of denying, and Pod Security only
  audits (at the configured audit level) and warns (at the level that will be enforced).
- ``warn``: pods get the real profile; admission still only warns and audits.
- ``enforce``: everything denies.
"""

from __future__ import annotations

from dataclasses import dataclass

from seccompiler.platform.config import PlatformConfig


@dataclass(frozen=True)
class Stage:
    name: str
    audit_profiles: bool  # pods are pointed at keisson/audit/<name>.json
    actions: tuple[str, ...]  # validationActions of the deny-Unconfined policy and the guard
    enforce_pss: bool  # Pod Security enforces (else: audit and warn only)


STAGES: dict[str, Stage] = {
    "audit": Stage("audit", True, ("Warn", "Audit"), False),
    "warn": Stage("warn", False, ("Warn", "Audit"), False),
    "enforce": Stage("enforce", False, ("Deny",), True),
}


def stage(cfg: PlatformConfig) -> Stage:
    return STAGES[cfg.rollout]


def pss_levels(cfg: PlatformConfig) -> dict[str, str]:
    """The Pod Security levels per mode at this stage; ``privileged`` means "not enforced".

    Before the enforce stage, warnings show the level that will be enforced, so a team sees
    in ``kubectl`` output what the enforce stage would reject.
    """
    levels = dict(cfg.pod_security)
    if not stage(cfg).enforce_pss:
        levels = {"enforce": "privileged", "audit": levels["audit"], "warn": levels["enforce"]}
    return levels
