"""Namespace labels for a Pod Security level: the manifest or the ``kubectl label`` command.

The platform enforces baseline by default and lets a namespace opt into restricted; it
refuses ``privileged`` (``pss guard`` installs the policy that does). Pinning an older
``enforce-version`` is allowed but named for what it gives up.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from seccompiler.base.errors import UsageError
from seccompiler.platform.pss.admission import valid_namespace_name
from seccompiler.platform.pss.checks import CHECKS
from seccompiler.platform.pss.registry import NEWEST
from seccompiler.platform.pss.versions import (
    AUDIT_LABEL,
    AUDIT_VERSION_LABEL,
    ENFORCE_LABEL,
    ENFORCE_VERSION_LABEL,
    WARN_LABEL,
    WARN_VERSION_LABEL,
    Level,
    ParseError,
    Version,
    parse_level,
    parse_version,
)

PRIVILEGED_REFUSED = (
    "enforce=privileged is refused on this platform: every namespace enforces baseline or"
    " restricted, and an admission policy denies privileged (see `seccompiler pss guard`)"
)
PRIVILEGED_HINT = (
    "use --level baseline, or ask for the namespace to be added to the guard's allow-list"
    " and the PodSecurity exemptions"
)


@dataclass(frozen=True)
class LabelPlan:
    namespace: str
    labels: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]  # warnings for the user, in the order found

    def as_dict(self) -> dict[str, str]:
        return dict(self.labels)


def _level(flag: str, text: str) -> Level:
    try:
        return parse_level(text)
    except ParseError as exc:
        raise UsageError(f"{flag} {text!r}: {exc}") from None


def version_notes(level: Level, version: Version) -> list[str]:
    """What pinning ``version`` gives up at ``level``, or how a too-new version is clamped."""
    if version.latest:
        return []
    assert version.minor is not None
    if NEWEST.older(version):
        return [
            f"enforce-version {version} is newer than the newest policy known here ({NEWEST});"
            f" the API server evaluates it with the {NEWEST} checks, as for latest"
        ]
    if version == NEWEST:
        return []
    levels = {Level.BASELINE} if level is Level.BASELINE else {Level.BASELINE, Level.RESTRICTED}
    changes = sorted(
        (step.since.minor or 0, check.id)
        for check in CHECKS
        if check.level in levels
        for step in check.steps
        if (step.since.minor or 0) > version.minor
    )
    listed = ", ".join(f"{cid} (v1.{since})" for since, cid in changes)
    return [
        f"enforce-version {version} is older than the newest policy ({NEWEST}): pods are checked"
        f" against the {version} rules, which check less"
        + (f"; added or changed since: {listed}" if listed else "")
        + "; prefer latest"
    ]


def plan_labels(
    namespace: str,
    level: str,
    version: str = "latest",
    audit: str | None = None,
    warn: str | None = None,
) -> LabelPlan:
    """Choose the labels for ``namespace``; raise ``UsageError`` for anything refused."""
    if not valid_namespace_name(namespace):
        raise UsageError(
            f"{namespace!r} is not a valid namespace name",
            hint="lower-case letters, digits and '-', at most 63 characters",
        )
    enforce = _level("--level", level)
    if enforce is Level.PRIVILEGED:
        raise UsageError(PRIVILEGED_REFUSED, hint=PRIVILEGED_HINT)
    try:
        pinned = parse_version(version)
    except ParseError as exc:
        raise UsageError(f"--version {version!r}: {exc}") from None
    labels = [(ENFORCE_LABEL, enforce.value), (ENFORCE_VERSION_LABEL, str(pinned))]
    for flag, label, version_label, value in (
        ("--audit", AUDIT_LABEL, AUDIT_VERSION_LABEL, audit),
        ("--warn", WARN_LABEL, WARN_VERSION_LABEL, warn),
    ):
        if value is not None:
            labels += [(label, _level(flag, value).value), (version_label, str(pinned))]
    return LabelPlan(namespace, tuple(labels), tuple(version_notes(enforce, pinned)))


def namespace_manifest(plan: LabelPlan) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": plan.namespace, "labels": plan.as_dict()},
    }


def kubectl_command(plan: LabelPlan) -> str:
    words = ["kubectl", "label", "--overwrite", "namespace", plan.namespace]
    words += [f"{k}={v}" for k, v in plan.labels]
    return shlex.join(words)
