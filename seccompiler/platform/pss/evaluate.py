"""Verdicts for pod objects under a namespace's policy, the way the admission controller decides.

For a Pod, the enforce level decides admission; when admitted, the warn level's failures
become warnings. For a workload the API server enforces nothing on the object itself and
only warns (and audits), but the pods its controller creates will meet the enforce level:
``Verdict.violates`` says so, and this tool fails on it. Exempt namespaces and runtime
classes are allowed without evaluation. ``dry_run_namespace`` is the check the API server
makes of existing pods when a namespace's enforce label changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from seccompiler.platform.pss.admission import PodSecurityConfig
from seccompiler.platform.pss.objects import PodObject
from seccompiler.platform.pss.registry import DEFAULT, Evaluator, Result
from seccompiler.platform.pss.versions import (
    LabelError,
    Level,
    LevelVersion,
    Policy,
    ResolvedPolicy,
    policy_from_labels,
)

DEFAULT_NAMESPACE = "default"
MAX_PODS_TO_CHECK = 3000  # admission.go defaultNamespaceMaxPodsToCheck


@dataclass(frozen=True)
class Verdict:
    """What the API server would say about one object."""

    obj: PodObject
    namespace: str
    policy: Policy | None  # None when exempt
    exempt: str | None = None  # "namespace" or "runtimeClass"
    enforce: Result | None = None
    warnings: tuple[str, ...] = ()
    audit: str | None = None  # the audit-violations annotation
    label_errors: tuple[LabelError, ...] = ()

    @property
    def violates(self) -> bool:
        """Whether the enforce level refuses the pod (or the pods of this template)."""
        return self.enforce is not None and not self.enforce.allowed

    @property
    def denied(self) -> bool:
        """Whether the API server refuses this object itself (only Pods are enforced)."""
        return self.obj.is_pod and self.violates

    def error(self) -> str | None:
        """The API server's Forbidden message for a denied Pod."""
        if not self.denied or self.enforce is None:
            return None
        return f'{self.obj.resource} "{self.obj.name}" is forbidden: {self.enforce.message()}'


PolicyFor = Callable[[str], ResolvedPolicy]


@dataclass
class Judge:
    """Evaluates objects against per-namespace policies, caching results per level-version."""

    policy_for: PolicyFor
    config: PodSecurityConfig | None = None
    evaluator: Evaluator = DEFAULT
    _exempt_ns: frozenset[str] = field(default=frozenset(), init=False)
    _exempt_rc: frozenset[str] = field(default=frozenset(), init=False)

    def __post_init__(self) -> None:
        if self.config is not None:
            self._exempt_ns = frozenset(self.config.exemptions.namespaces)
            self._exempt_rc = frozenset(self.config.exemptions.runtime_classes)

    def judge(self, obj: PodObject) -> Verdict:
        namespace = obj.namespace or DEFAULT_NAMESPACE
        if namespace in self._exempt_ns:
            return Verdict(obj, namespace, None, exempt="namespace")
        resolved = self.policy_for(namespace)
        policy, errors = resolved.policy, resolved.errors
        pod = obj.pod
        if pod is None:  # a workload without a template: nothing to check
            return Verdict(obj, namespace, policy, label_errors=errors)
        if obj.is_pod and not errors and policy.fully_privileged():
            return Verdict(obj, namespace, policy, label_errors=errors)
        if pod.runtime_class and pod.runtime_class in self._exempt_rc:
            return Verdict(obj, namespace, None, exempt="runtimeClass", label_errors=errors)
        cache: dict[LevelVersion, Result] = {}

        def run(lv: LevelVersion) -> Result:
            if lv not in cache:
                cache[lv] = self.evaluator.evaluate(lv, pod)
            return cache[lv]

        enforce = run(policy.enforce)
        audit_result = run(policy.audit)
        audit = None if audit_result.allowed else audit_result.warning()
        warnings: tuple[str, ...] = ()
        quiet = (
            not obj.is_pod
            and not errors
            and policy.warn.level is Level.PRIVILEGED
            and policy.audit.level is Level.PRIVILEGED
        )
        if not (obj.is_pod and not enforce.allowed) and not quiet:
            warn = run(policy.warn)
            if not warn.allowed:
                warnings = (warn.warning(),)
        if quiet:
            audit = None
        return Verdict(obj, namespace, policy, None, enforce, warnings, audit, errors)


def fixed_policy(level: Level, lv: LevelVersion | None = None) -> PolicyFor:
    """One level and version for every namespace: enforce and warn at it, no audit."""
    chosen = lv or LevelVersion(level)
    policy = Policy(enforce=chosen, audit=LevelVersion(Level.PRIVILEGED), warn=chosen)
    resolved = ResolvedPolicy(policy)
    return lambda _namespace: resolved


def namespace_policy(namespaces: Mapping[str, Mapping[str, str]], defaults: Policy) -> PolicyFor:
    """Each namespace's labels over the cluster defaults; unknown namespaces get the defaults."""
    cache: dict[str, ResolvedPolicy] = {}

    def policy_for(name: str) -> ResolvedPolicy:
        if name not in cache:
            cache[name] = policy_from_labels(namespaces.get(name, {}), defaults)
        return cache[name]

    return policy_for


def dry_run_namespace(
    namespace: str,
    enforce: LevelVersion,
    pods: Sequence[PodObject],
    exempt_runtime_classes: frozenset[str] = frozenset(),
    evaluator: Evaluator = DEFAULT,
    max_pods: int = MAX_PODS_TO_CHECK,
) -> list[str]:
    """The warnings the API server returns when a namespace's enforce level changes.

    Pods of one controller are checked once before the others (upstream's prioritizePods),
    at most ``max_pods`` of them; pods with the same reasons are reported together under the
    lexically first name.
    """
    ordered = _prioritized(pods, exempt_runtime_classes)
    checked = ordered[:max_pods]
    groups = _names_by_reason(checked, enforce, evaluator)
    warnings = []
    if len(checked) < len(ordered):
        warnings.append(
            f"new PodSecurity enforce level only checked against the first {len(checked)}"
            f" of {len(ordered)} existing pods"
        )
    if groups:
        warnings.append(
            f'existing pods in namespace "{namespace}" violate the new PodSecurity enforce'
            f' level "{enforce}"'
        )
    return warnings + sorted(_grouped(names, reason) for reason, names in groups.items())


def _prioritized(pods: Sequence[PodObject], exempt: frozenset[str]) -> list[PodObject]:
    """The pods to check, one of each controller's first, then the rest of them."""
    first: list[PodObject] = []
    later: list[PodObject] = []
    seen_owners: set[str] = set()
    for obj in pods:
        if obj.pod is None or not obj.is_pod:
            continue
        if obj.pod.runtime_class and obj.pod.runtime_class in exempt:
            continue
        if obj.owner_uid is None:
            first.append(obj)
        elif obj.owner_uid in seen_owners:
            later.append(obj)
        else:
            seen_owners.add(obj.owner_uid)
            first.append(obj)
    return first + later


def _names_by_reason(
    pods: Sequence[PodObject], enforce: LevelVersion, evaluator: Evaluator
) -> dict[str, list[str]]:
    """The names of the pods ``enforce`` refuses, by their reasons, in order of first refusal."""
    groups: dict[str, list[str]] = {}
    for obj in pods:
        assert obj.pod is not None
        result = evaluator.evaluate(enforce, obj.pod)
        if not result.allowed:
            groups.setdefault(result.reasons(), []).append(obj.name)
    return groups


def _grouped(names: Sequence[str], reason: str) -> str:
    """One line for the pods refused for ``reason``, under the lexically first name."""
    name = min(names)
    others = len(names) - 1
    if others == 0:
        return f"{name}: {reason}"
    if others == 1:
        return f"{name} (and 1 other pod): {reason}"
    return f"{name} (and {others} other pods): {reason}"
