"""Levels, policy versions and namespace policies, with the parsing rules of upstream.

The facts follow kubernetes/pod-security-admission ``api/helpers.go`` and ``api/constants.go``:
a version is ``latest`` or ``v1.<minor>`` (no leading zeros), ``latest`` is newer than any
numbered version, and namespace labels fall back to the cluster defaults one by one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Level(StrEnum):
    """A Pod Security Standards level."""

    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"

    def __str__(self) -> str:
        return self.value


_STRICTNESS = {Level.PRIVILEGED: 0, Level.BASELINE: 1, Level.RESTRICTED: 2}

LABEL_PREFIX = "pod-security.kubernetes.io/"
ENFORCE_LABEL = LABEL_PREFIX + "enforce"
ENFORCE_VERSION_LABEL = LABEL_PREFIX + "enforce-version"
AUDIT_LABEL = LABEL_PREFIX + "audit"
AUDIT_VERSION_LABEL = LABEL_PREFIX + "audit-version"
WARN_LABEL = LABEL_PREFIX + "warn"
WARN_VERSION_LABEL = LABEL_PREFIX + "warn-version"

LEVEL_ERROR = "must be one of privileged, baseline, restricted"
VERSION_ERROR = 'must be "latest" or "v1.x"'

_VERSION_RE = re.compile(r"v1\.([0-9]|[1-9][0-9]*)")
_MAX_INT = 2**63 - 1  # strconv.Atoi on 64-bit platforms


class ParseError(ValueError):
    """A level or version string that upstream would refuse; ``str()`` is upstream's text."""


@dataclass(frozen=True, order=False)
class Version:
    """``v1.<minor>``, or ``latest`` when ``minor`` is None."""

    minor: int | None

    def __post_init__(self) -> None:
        if self.minor is not None and self.minor < 0:
            raise ValueError(f"negative minor version {self.minor}")

    @property
    def latest(self) -> bool:
        return self.minor is None

    def older(self, other: Version) -> bool:
        """Whether this version is strictly older than ``other`` (latest is never older)."""
        if self.minor is None:
            return False
        if other.minor is None:
            return True
        return self.minor < other.minor

    def __str__(self) -> str:
        return "latest" if self.minor is None else f"v1.{self.minor}"


LATEST = Version(None)


def v(minor: int) -> Version:
    """Shorthand for ``Version(minor)``, used by the check tables."""
    return Version(minor)


def parse_level(text: str) -> Level:
    """Parse a level label value; raise ``ParseError`` with upstream's message if invalid."""
    try:
        return Level(text)
    except ValueError:
        raise ParseError(LEVEL_ERROR) from None


def parse_version(text: str) -> Version:
    """Parse a version label value; raise ``ParseError`` with upstream's message if invalid."""
    if text == "latest":
        return LATEST
    m = _VERSION_RE.fullmatch(text)
    if m is None or int(m.group(1)) > _MAX_INT:
        raise ParseError(VERSION_ERROR)
    return Version(int(m.group(1)))


def compare_levels(a: Level, b: Level) -> int:
    """-1, 0 or 1 as ``a`` is less strict than, as strict as, or stricter than ``b``."""
    d = _STRICTNESS[a] - _STRICTNESS[b]
    return (d > 0) - (d < 0)


@dataclass(frozen=True)
class LevelVersion:
    """A level at a version, printed the way upstream quotes it: ``baseline:v1.23``."""

    level: Level
    version: Version = LATEST

    def __str__(self) -> str:
        return f"{self.level.value}:{self.version}"

    def equivalent(self, other: LevelVersion) -> bool:
        both_privileged = self.level is Level.PRIVILEGED and other.level is Level.PRIVILEGED
        return both_privileged or self == other


@dataclass(frozen=True)
class Policy:
    """The three modes of a namespace's policy."""

    enforce: LevelVersion
    audit: LevelVersion
    warn: LevelVersion

    def fully_privileged(self) -> bool:
        return all(lv.level is Level.PRIVILEGED for lv in (self.enforce, self.audit, self.warn))

    def equivalent(self, other: Policy) -> bool:
        return (
            self.enforce.equivalent(other.enforce)
            and self.audit.equivalent(other.audit)
            and self.warn.equivalent(other.warn)
        )


# What this platform's API servers are configured with (see pss.admission).
PLATFORM_DEFAULTS = Policy(
    enforce=LevelVersion(Level.BASELINE),
    audit=LevelVersion(Level.RESTRICTED),
    warn=LevelVersion(Level.RESTRICTED),
)

# What upstream uses when a PodSecurityConfiguration leaves a field out.
UPSTREAM_DEFAULTS = Policy(
    enforce=LevelVersion(Level.PRIVILEGED),
    audit=LevelVersion(Level.PRIVILEGED),
    warn=LevelVersion(Level.PRIVILEGED),
)


@dataclass(frozen=True)
class LabelError:
    """One namespace label upstream would refuse."""

    label: str
    value: str
    message: str

    def __str__(self) -> str:
        return f'metadata.labels[{self.label}]: Invalid value: "{self.value}": {self.message}'


@dataclass(frozen=True)
class ResolvedPolicy:
    """A namespace's effective policy and the label errors met on the way."""

    policy: Policy
    errors: tuple[LabelError, ...] = field(default=())


def policy_from_labels(labels: Mapping[str, str], defaults: Policy) -> ResolvedPolicy:
    """Resolve namespace labels to a policy the way the admission controller does.

    A bad enforce level or version becomes restricted/latest (fail closed); a bad audit or warn
    level becomes privileged (fail open). Warn follows an explicitly stricter enforce level.
    """
    errors: list[LabelError] = []
    enforce, audit, warn = defaults.enforce, defaults.audit, defaults.warn

    def level(label: str, fail: Level) -> Level | None:
        if label not in labels:
            return None
        try:
            return parse_level(labels[label])
        except ParseError as exc:
            errors.append(LabelError(label, labels[label], str(exc)))
            return fail

    def version(label: str) -> Version | None:
        if label not in labels:
            return None
        try:
            return parse_version(labels[label])
        except ParseError as exc:
            errors.append(LabelError(label, labels[label], str(exc)))
            return LATEST

    n_errors = len(errors)
    lvl = level(ENFORCE_LABEL, Level.RESTRICTED)
    has_enforce_level = lvl is not None and len(errors) == n_errors
    if lvl is not None:
        enforce = LevelVersion(lvl, enforce.version)
    ver = version(ENFORCE_VERSION_LABEL)
    if ver is not None:
        enforce = LevelVersion(enforce.level, ver)
    lvl = level(AUDIT_LABEL, Level.PRIVILEGED)
    if lvl is not None:
        audit = LevelVersion(lvl, audit.version)
    ver = version(AUDIT_VERSION_LABEL)
    if ver is not None:
        audit = LevelVersion(audit.level, ver)
    lvl = level(WARN_LABEL, Level.PRIVILEGED)
    has_warn_level = lvl is not None
    if lvl is not None:
        warn = LevelVersion(lvl, warn.version)
    ver = version(WARN_VERSION_LABEL)
    has_warn_version = ver is not None
    if ver is not None:
        warn = LevelVersion(warn.level, ver)

    if not has_warn_level and has_enforce_level and compare_levels(enforce.level, warn.level) > 0:
        warn = LevelVersion(enforce.level, warn.version if has_warn_version else enforce.version)
    return ResolvedPolicy(Policy(enforce, audit, warn), tuple(errors))
