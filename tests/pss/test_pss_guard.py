"""The guard's CEL, run by a real CEL implementation (cel-python) on admission requests, and
compared with the Python rules of ``pss guard --check``; manifests checked against the
Kubernetes schemas (kubernetes-validate)."""

from __future__ import annotations

import re
from typing import Any

import celpy
import kubernetes_validate
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seccompiler.base.errors import UsageError
from seccompiler.platform.pss.guard import (
    MSG_DOWNGRADE,
    MSG_LEVEL,
    MSG_MISSING,
    MSG_PRIVILEGED,
    NamespaceChange,
    at_least_pattern,
    guard_denials,
    guard_manifests,
    msg_version,
)
from seccompiler.platform.pss.versions import Version

E = "pod-security.kubernetes.io/enforce"
EV = "pod-security.kubernetes.io/enforce-version"
ALLOW = ("kube-system",)
FLOOR = "v1.25"


def _cel(expr: str, activation: dict[str, Any]) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(expr)).evaluate(activation)


def run_policy(policy: dict[str, Any], request: dict[str, Any]) -> list[str]:
    """Evaluate a ValidatingAdmissionPolicy's CEL as the API server does: messages denied."""
    spec = policy["spec"]
    base = {
        "object": celpy.json_to_cel(request["object"]),
        "oldObject": celpy.json_to_cel(request.get("oldObject")),
        "request": celpy.json_to_cel(
            {
                "operation": request["operation"],
                "name": request["object"]["metadata"]["name"],
                "subResource": request.get("subResource", ""),
            }
        ),
    }
    for condition in spec.get("matchConditions", []):
        if not bool(_cel(condition["expression"], base)):
            return []
    variables: dict[str, Any] = {}
    for var in spec["variables"]:
        act = {**base, "variables": celpy.json_to_cel(variables)}
        value = _cel(var["expression"], act)
        variables[var["name"]] = (
            value if not isinstance(value, celpy.celtypes.BoolType) else bool(value)
        )
    act = {**base, "variables": celpy.json_to_cel(variables)}
    return [v["message"] for v in spec["validations"] if not bool(_cel(v["expression"], act))]


def ns(name: str, labels: dict[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


V = msg_version(Version(25))
# (name, labels, old labels or None for CREATE, denials)
CASES: list[tuple[str, dict[str, str] | None, dict[str, str] | None, list[str]]] = [
    ("plain", None, None, []),
    ("plain", {"team": "x"}, None, []),
    ("plain", {E: "baseline"}, None, []),
    ("plain", {E: "restricted", EV: "latest"}, None, []),
    ("plain", {E: "privileged"}, None, [MSG_PRIVILEGED]),
    ("plain", {E: "Privileged"}, None, [MSG_LEVEL]),
    ("plain", {E: ""}, None, [MSG_LEVEL]),
    ("plain", {E: "baseline", EV: "v1.24"}, None, [V]),
    ("plain", {E: "baseline", EV: "v1.25"}, None, []),
    ("plain", {E: "baseline", EV: "v1.100"}, None, []),
    ("plain", {E: "baseline", EV: "v1.025"}, None, [V]),
    ("plain", {E: "baseline", EV: "1.30"}, None, [V]),
    ("plain", {E: "privileged", EV: "v1.2"}, None, [MSG_PRIVILEGED, V]),
    ("kube-system", {E: "privileged"}, None, []),
    # updates: unchanged values keep working; changes are judged
    ("legacy", {E: "privileged", "x": "1"}, {E: "privileged"}, []),
    ("legacy", {E: "privileged", EV: "v1.20"}, {E: "privileged", EV: "v1.20"}, []),
    ("plain", {E: "privileged"}, {E: "baseline"}, [MSG_PRIVILEGED]),
    ("plain", {E: "privileged"}, {}, [MSG_PRIVILEGED]),
    ("plain", {E: "baseline"}, {E: "privileged"}, []),
    ("plain", {E: "baseline", EV: "v1.20"}, {E: "baseline", EV: "v1.30"}, [V]),
    ("plain", {E: "restricted"}, {E: "baseline"}, []),
    ("plain", {E: "baseline"}, {E: "restricted"}, [MSG_DOWNGRADE]),
    ("plain", {}, {E: "restricted"}, [MSG_DOWNGRADE]),
    ("plain", None, {E: "restricted"}, [MSG_DOWNGRADE]),
    ("plain", {E: "privileged"}, {E: "restricted"}, [MSG_PRIVILEGED, MSG_DOWNGRADE]),
    ("plain", {E: "restricted", EV: "v1.30"}, {E: "restricted"}, []),
    ("kube-system", {E: "baseline"}, {E: "restricted"}, []),
]


REQUESTS = [
    pytest.param(*case, sub, id=f"{i}-{sub or 'main'}")
    for i, case in enumerate(CASES)
    for sub in ("", "status", "finalize")
    if not (sub and case[2] is None)  # subresources are only updated
]


@pytest.mark.parametrize(("name", "labels", "old", "denials", "subresource"), REQUESTS)
def test_cel_and_python_agree(
    name: str,
    labels: dict[str, str] | None,
    old: dict[str, str] | None,
    denials: list[str],
    subresource: str,
) -> None:
    policy, _ = guard_manifests(ALLOW, FLOOR)
    request: dict[str, Any] = {
        "operation": "CREATE" if old is None else "UPDATE",
        "object": ns(name, labels),
        "oldObject": None if old is None else ns(name, old),
        "subResource": subresource,
    }
    assert run_policy(policy, request) == denials
    change = NamespaceChange(name, labels or {}, None if old is None else old)
    assert guard_denials(change, ALLOW, FLOOR) == denials


def test_no_floor_still_refuses_malformed_versions() -> None:
    policy, _ = guard_manifests()
    request = {"operation": "CREATE", "object": ns("a", {EV: "v1.x"}), "oldObject": None}
    assert run_policy(policy, request) == [msg_version(None)]
    request["object"] = ns("a", {EV: "v1.0"})
    assert run_policy(policy, request) == []


def test_latest_floor() -> None:
    policy, _ = guard_manifests(floor_version="latest")
    ok = {"operation": "CREATE", "object": ns("a", {EV: "latest"}), "oldObject": None}
    bad = {"operation": "CREATE", "object": ns("a", {EV: "v1.99"}), "oldObject": None}
    assert run_policy(policy, ok) == []
    assert run_policy(policy, bad) == [msg_version(Version(None))]


@pytest.mark.parametrize("floor", [None, "v1.0", "v1.9", "v1.25", "v1.30"])
@pytest.mark.parametrize("allow", [(), ("kube-system", "ingress-nginx")])
def test_manifests_validate_against_kubernetes_schemas(
    floor: str | None, allow: tuple[str, ...]
) -> None:
    assert kubernetes_validate.latest_version().startswith("1.")
    for doc in guard_manifests(allow, floor):
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
        for key in ("spec",):
            assert key in doc


def test_manifests_are_deterministic_and_sorted() -> None:
    a = guard_manifests(["b-ns", "a-ns", "b-ns"], "v1.25")
    b = guard_manifests(["a-ns", "b-ns"], "v1.25")
    assert a == b
    assert "['a-ns', 'b-ns']" in a[0]["spec"]["matchConditions"][0]["expression"]
    assert a[1]["spec"] == {"policyName": a[0]["metadata"]["name"], "validationActions": ["Deny"]}
    rules = a[0]["spec"]["matchConstraints"]["resourceRules"][0]
    assert rules["resources"] == ["namespaces", "namespaces/status", "namespaces/finalize"]


@pytest.mark.parametrize(("allow", "floor"), [(["Not_A_Name"], None), ([], "v2.0"), ([], "1.25")])
def test_bad_options_are_usage_errors(allow: list[str], floor: str | None) -> None:
    with pytest.raises(UsageError):
        guard_manifests(allow, floor)


@given(st.integers(min_value=0, max_value=5000), st.integers(min_value=0, max_value=100000))
def test_at_least_pattern(minor: int, n: int) -> None:
    assert (re.fullmatch(at_least_pattern(minor), str(n)) is not None) == (n >= minor)
    assert re.fullmatch(at_least_pattern(minor), "0" + str(n)) is None


def test_at_least_pattern_edges() -> None:
    for minor in (0, 1, 9, 10, 19, 25, 99, 100, 109, 999):
        for n in range(0, 1200):
            assert (re.fullmatch(at_least_pattern(minor), str(n)) is not None) == (n >= minor)


# a managed cluster's API servers apply no Pod Security defaults: the guard asks for the
# enforce label where a namespace is created or loses it, and leaves alone the updates of
# one made before the guard (its status and finalize: its deletion must not stick)
MANAGED: list[tuple[dict[str, str] | None, dict[str, str] | None, list[str]]] = [
    (None, None, [MSG_MISSING]),
    ({"team": "x"}, None, [MSG_MISSING]),
    ({E: "baseline"}, None, []),
    ({"team": "y"}, {"team": "x"}, []),
    ({}, {E: "baseline"}, [MSG_MISSING]),
    ({E: "restricted"}, {}, []),
]


@pytest.mark.parametrize(
    ("labels", "old", "denials", "subresource"),
    [
        pytest.param(*case, sub, id=f"{i}-{sub or 'main'}")
        for i, case in enumerate(MANAGED)
        for sub in ("", "status", "finalize")
        if not (sub and case[1] is None)
    ],
)
def test_a_managed_cluster_asks_for_the_label_only_where_it_is_set(
    labels: dict[str, str] | None,
    old: dict[str, str] | None,
    denials: list[str],
    subresource: str,
) -> None:
    policy, _ = guard_manifests(ALLOW, FLOOR, require_label=True)
    request: dict[str, Any] = {
        "operation": "CREATE" if old is None else "UPDATE",
        "object": ns("app", labels),
        "oldObject": None if old is None else ns("app", old),
        "subResource": subresource,
    }
    assert run_policy(policy, request) == denials
    change = NamespaceChange("app", labels or {}, old)
    assert guard_denials(change, ALLOW, FLOOR, require_label=True) == denials
