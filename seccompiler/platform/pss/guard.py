"""The guard: a ValidatingAdmissionPolicy that keeps namespaces at baseline or restricted.

It denies, on namespaces and their ``status`` and ``finalize`` subresources:
``enforce=privileged``; any other enforce value than baseline or restricted; an
``enforce-version`` that is malformed or older than a floor; and a namespace that enforced
restricted dropping to anything else (removing the label drops it to the baseline default).
Each rule compares with the old object, so a namespace that already carries a value (a
system namespace that was exempt before the guard) keeps working until someone changes it.
Namespaces on the allow-list are not matched at all.

The rules exist twice, as CEL for the API server and as Python for ``pss guard --check``;
the tests evaluate both on the same requests with a real CEL implementation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seccompiler.base.errors import UsageError
from seccompiler.platform.pss.admission import valid_namespace_name
from seccompiler.platform.pss.versions import (
    ENFORCE_LABEL,
    ENFORCE_VERSION_LABEL,
    ParseError,
    Version,
    parse_version,
)

POLICY_NAME = "pod-security-guard"
MANAGED_BY = {"app.kubernetes.io/managed-by": "seccompiler"}
RESOURCES = ("namespaces", "namespaces/status", "namespaces/finalize")

MSG_PRIVILEGED = (
    f"{ENFORCE_LABEL}=privileged is refused on this platform:"
    " namespaces enforce baseline or restricted"
)
MSG_LEVEL = f"{ENFORCE_LABEL} must be baseline or restricted"
MSG_MISSING = (
    f"{ENFORCE_LABEL} must be set (baseline or restricted): this cluster's API servers apply"
    " no Pod Security defaults, so a namespace without the label enforces nothing"
)
MSG_DOWNGRADE = (
    f"this namespace enforces restricted: changing or removing {ENFORCE_LABEL} is refused"
)


def msg_version(floor: Version | None) -> str:
    if floor is None:
        return f'{ENFORCE_VERSION_LABEL} must be "latest" or "v1.x"'
    if floor.latest:
        return f'{ENFORCE_VERSION_LABEL} must be "latest"'
    return f'{ENFORCE_VERSION_LABEL} must be "latest" or {floor} or newer'


def at_least_pattern(minor: int) -> str:
    """A regular expression for the decimal numbers >= ``minor``, without leading zeros."""
    if minor < 0:
        raise ValueError("minor must be >= 0")
    s = str(minor)
    alts = [s, f"[1-9][0-9]{{{len(s)},}}"]
    for i, ch in enumerate(s):
        low = int(ch) + 1
        if low > 9:
            continue
        rest = len(s) - i - 1
        digit = f"[{low}-9]" if low < 9 else "9"
        alts.append(s[:i] + digit + (f"[0-9]{{{rest}}}" if rest > 1 else "[0-9]" * rest))
    return "|".join(alts)


def version_pattern(floor: Version | None) -> str | None:
    """The pattern an enforce-version other than latest must match; None if only latest."""
    if floor is not None and floor.latest:
        return None
    numbers = at_least_pattern(0 if floor is None else floor.minor or 0)
    return rf"^v1\.({numbers})$"


def _cel_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _label_variables(prefix: str, label: str) -> list[dict[str, str]]:
    key = _cel_string(label)
    old = f"old{prefix.title()}"
    return [
        {
            "name": f"{prefix}Set",
            "expression": f"has(object.metadata.labels) && {key} in object.metadata.labels",
        },
        {
            "name": prefix,
            "expression": f"variables.{prefix}Set ? object.metadata.labels[{key}] : ''",
        },
        {
            "name": f"old{prefix.title()}Set",
            "expression": (
                "request.operation == 'UPDATE' && has(oldObject.metadata.labels)"
                f" && {key} in oldObject.metadata.labels"
            ),
        },
        {
            "name": f"old{prefix.title()}",
            "expression": f"variables.{old}Set ? oldObject.metadata.labels[{key}] : ''",
        },
        {
            "name": f"{prefix}Changed",
            "expression": (
                f"request.operation != 'UPDATE' || variables.{prefix}Set != variables.old"
                f"{prefix.title()}Set || variables.{prefix} != variables.old{prefix.title()}"
            ),
        },
    ]


def _parse_floor(floor_version: str | None) -> Version | None:
    if floor_version is None:
        return None
    try:
        return parse_version(floor_version)
    except ParseError as exc:
        raise UsageError(f"floor version {floor_version!r}: {exc}") from None


def _check_allow_list(allow_namespaces: Sequence[str]) -> list[str]:
    names = []
    for name in allow_namespaces:
        if not valid_namespace_name(name):
            raise UsageError(f"allow-listed namespace {name!r} is not a valid namespace name")
        if name not in names:
            names.append(name)
    return sorted(names)


def guard_manifests(
    allow_namespaces: Sequence[str] = (),
    floor_version: str | None = None,
    require_label: bool = False,
    actions: Sequence[str] = ("Deny",),
) -> list[dict[str, Any]]:
    """Return the ValidatingAdmissionPolicy and its binding (admissionregistration.k8s.io/v1).

    ``require_label`` (managed clusters, whose API servers take no Pod Security defaults)
    also denies a namespace that carries no enforce label; ``actions`` are the binding's
    ``validationActions``.
    """
    floor = _parse_floor(floor_version)
    allowed = _check_allow_list(allow_namespaces)
    spec: dict[str, Any] = {"failurePolicy": "Fail", "matchConstraints": _match_constraints()}
    if allowed:
        names = ", ".join(_cel_string(n) for n in allowed)
        spec["matchConditions"] = [
            {"name": "not-allow-listed", "expression": f"!(object.metadata.name in [{names}])"}
        ]
    spec["variables"] = _label_variables("enforce", ENFORCE_LABEL) + _label_variables(
        "version", ENFORCE_VERSION_LABEL
    )
    spec["validations"] = _validations(floor, require_label)
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": POLICY_NAME, "labels": dict(MANAGED_BY)},
        "spec": spec,
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": POLICY_NAME, "labels": dict(MANAGED_BY)},
        "spec": {"policyName": POLICY_NAME, "validationActions": list(actions)},
    }
    return [policy, binding]


def _match_constraints() -> dict[str, Any]:
    """Creates and updates of namespaces and their ``status`` and ``finalize`` subresources."""
    return {
        "resourceRules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": list(RESOURCES),
            }
        ]
    }


def _validations(floor: Version | None, require_label: bool) -> list[dict[str, str]]:
    """The guard's rules in CEL, in the order ``guard_denials`` checks them."""
    pattern = version_pattern(floor)
    version_ok = "variables.version == 'latest'"
    if pattern is not None:
        version_ok += f" || variables.version.matches({_cel_string(pattern)})"
    validations = [
        {
            "expression": "!(variables.enforceChanged && variables.enforce == 'privileged')",
            "message": MSG_PRIVILEGED,
            "reason": "Forbidden",
        },
        {
            "expression": (
                "!variables.enforceChanged || !variables.enforceSet"
                " || variables.enforce in ['baseline', 'restricted', 'privileged']"
            ),
            "message": MSG_LEVEL,
            "reason": "Forbidden",
        },
        {
            "expression": (f"!variables.versionChanged || !variables.versionSet || {version_ok}"),
            "message": msg_version(floor),
            "reason": "Forbidden",
        },
        {
            "expression": (
                "!(request.operation == 'UPDATE' && variables.oldEnforce == 'restricted'"
                " && variables.enforce != 'restricted')"
            ),
            "message": MSG_DOWNGRADE,
            "reason": "Forbidden",
        },
    ]
    if require_label:
        # on a create, or an update that takes the label away: a namespace made before the
        # guard keeps its status and finalize updates (its deletion would stick otherwise)
        validations.append(
            {
                "expression": "!variables.enforceChanged || variables.enforceSet",
                "message": MSG_MISSING,
                "reason": "Forbidden",
            }
        )
    return validations


@dataclass(frozen=True)
class NamespaceChange:
    """A create (``old_labels`` None) or update of a namespace, as the guard sees it."""

    name: str
    labels: Mapping[str, str]
    old_labels: Mapping[str, str] | None = None

    @property
    def operation(self) -> str:
        return "CREATE" if self.old_labels is None else "UPDATE"


def guard_denials(
    change: NamespaceChange,
    allow_namespaces: Sequence[str] = (),
    floor_version: str | None = None,
    require_label: bool = False,
) -> list[str]:
    """The messages of the guard's validations that fail for ``change``, in policy order."""
    floor = _parse_floor(floor_version)
    if change.name in _check_allow_list(allow_namespaces):
        return []
    old = change.old_labels

    def value(labels: Mapping[str, str] | None, key: str) -> tuple[bool, str]:
        if labels is None or key not in labels:
            return False, ""
        return True, labels[key]

    enforce_set, enforce = value(change.labels, ENFORCE_LABEL)
    old_enforce_set, old_enforce = value(old, ENFORCE_LABEL)
    version_set, version = value(change.labels, ENFORCE_VERSION_LABEL)
    old_version_set, old_version = value(old, ENFORCE_VERSION_LABEL)
    enforce_changed = old is None or (enforce_set, enforce) != (old_enforce_set, old_enforce)
    version_changed = old is None or (version_set, version) != (old_version_set, old_version)

    denials = []
    if enforce_changed and enforce == "privileged":
        denials.append(MSG_PRIVILEGED)
    if enforce_changed and enforce_set and enforce not in ("baseline", "restricted", "privileged"):
        denials.append(MSG_LEVEL)
    if version_changed and version_set and not _version_ok(version, floor):
        denials.append(msg_version(floor))
    if old is not None and old_enforce == "restricted" and enforce != "restricted":
        denials.append(MSG_DOWNGRADE)
    if require_label and enforce_changed and not enforce_set:
        denials.append(MSG_MISSING)
    return denials


def _version_ok(version: str, floor: Version | None) -> bool:
    # The same regular expression as the CEL rule, so both agree on every string.
    if version == "latest":
        return True
    pattern = version_pattern(floor)
    return pattern is not None and re.fullmatch(pattern[1:-1], version) is not None
