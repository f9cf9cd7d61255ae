"""Inflate the check table into one ordered list of rules per level and version, and evaluate.

As upstream's registry does: each step holds from its version until the next step; a
restricted step that overrides a baseline check replaces it at that version; rules run with
baseline ids (sorted) first, then restricted ids (sorted), which fixes the order of reasons
in messages. A version newer than the newest step (``latest`` included) is evaluated at the
newest, or at the cluster's version when that is older (upstream's emulation version).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from seccompiler.platform.pss.checks import CHECKS, Check, Rule, Step
from seccompiler.platform.pss.model import Pod
from seccompiler.platform.pss.versions import Level, LevelVersion, Version


@dataclass(frozen=True)
class Failure:
    """A failed check, by id, with upstream's reason and detail."""

    check: str
    reason: str
    detail: str

    def text(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


@dataclass(frozen=True)
class Result:
    """The outcome of evaluating one pod at one level and version."""

    level_version: LevelVersion  # as asked, before clamping: this is what messages quote
    evaluated: Version  # the policy version whose rules ran
    failures: tuple[Failure, ...]

    @property
    def allowed(self) -> bool:
        return not self.failures

    def reasons(self) -> str:
        """Upstream's ``ForbiddenReason``: the short reasons, comma-separated."""
        return ", ".join(f.reason for f in self.failures)

    def details(self) -> str:
        """Upstream's ``ForbiddenDetail``: each reason followed by its detail in parentheses."""
        return ", ".join(f.text() for f in self.failures)

    def message(self) -> str:
        """The API server's denial text for this result."""
        return f'violates PodSecurity "{self.level_version}": {self.details()}'

    def warning(self) -> str:
        """The API server's warning (or audit annotation) text for this result."""
        return f'would violate PodSecurity "{self.level_version}": {self.details()}'


MEMO_SIZE = 1 << 16  # distinct (level, version, pod) results kept


class Evaluator:
    """Per-version rule lists, built once from a check table."""

    def __init__(self, checks: Sequence[Check] = CHECKS, cluster: Version | None = None) -> None:
        ids = [c.id for c in checks]
        if len(set(ids)) != len(ids):
            raise ValueError("check ids must be unique")
        self.newest = max(c.steps[-1].since.minor or 0 for c in checks)
        self.max_minor = self.newest
        if cluster is not None and cluster.older(Version(self.newest)):
            assert cluster.minor is not None
            self.max_minor = cluster.minor
        order = sorted(c.id for c in checks if c.level is Level.BASELINE)
        order += sorted(c.id for c in checks if c.level is Level.RESTRICTED)
        by_id = {c.id: c for c in checks}
        self._tables: dict[tuple[Level, int], tuple[tuple[str, Rule], ...]] = {}
        for minor in range(self.newest + 1):
            active = {c.id: step for c in checks if (step := _step_at(c, minor)) is not None}
            overridden = {
                o
                for i, s in active.items()
                if by_id[i].level is Level.RESTRICTED
                for o in s.overrides
            }
            for level in (Level.BASELINE, Level.RESTRICTED):
                keep = [
                    (i, active[i].rule)
                    for i in order
                    if i in active
                    and (by_id[i].level is Level.BASELINE or level is Level.RESTRICTED)
                    and not (level is Level.RESTRICTED and i in overridden)
                ]
                self._tables[(level, minor)] = tuple(keep)
        self._memo: dict[tuple[Level, int, Pod], tuple[Failure, ...]] = {}

    def clamp(self, version: Version) -> Version:
        """The policy version whose rules apply to ``version``."""
        if version.minor is None or version.minor > self.max_minor:
            return Version(self.max_minor)
        return version

    def check_ids(self, level: Level, version: Version) -> tuple[str, ...]:
        """The ids of the checks that run, in the order they run."""
        if level is Level.PRIVILEGED:
            return ()
        minor = self.clamp(version).minor
        assert minor is not None
        return tuple(i for i, _ in self._tables[(level, minor)])

    def evaluate(self, lv: LevelVersion, pod: Pod) -> Result:
        evaluated = self.clamp(lv.version)
        if lv.level is Level.PRIVILEGED:
            return Result(lv, evaluated, ())
        assert evaluated.minor is not None
        # The replicas of a workload decode to equal pods: each distinct pod is judged once.
        key = (lv.level, evaluated.minor, pod)
        failures = self._memo.get(key)
        if failures is None:
            failures = tuple(
                Failure(check_id, violation.reason, violation.detail)
                for check_id, rule in self._tables[(lv.level, evaluated.minor)]
                if (violation := rule(pod)) is not None
            )
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = failures
        return Result(lv, evaluated, failures)


def _step_at(check: Check, minor: int) -> Step | None:
    found = None
    for step in check.steps:
        assert step.since.minor is not None
        if step.since.minor <= minor:
            found = step
    return found


DEFAULT = Evaluator()
NEWEST = Version(DEFAULT.newest)
