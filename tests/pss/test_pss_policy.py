"""Versions, clamping, namespace label resolution, exemptions, the namespace dry run, and the
admission configuration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pss_helpers import base_pod, parse_yaml, wrap

from seccompiler.base.errors import InputError, UsageError
from seccompiler.platform.pss.admission import (
    admission_configuration,
    load_configuration,
    parse_configuration,
    platform_configuration,
)
from seccompiler.platform.pss.evaluate import (
    Judge,
    dry_run_namespace,
    fixed_policy,
    namespace_policy,
)
from seccompiler.platform.pss.registry import DEFAULT, NEWEST, Evaluator
from seccompiler.platform.pss.versions import (
    LATEST,
    PLATFORM_DEFAULTS,
    UPSTREAM_DEFAULTS,
    Level,
    LevelVersion,
    ParseError,
    Policy,
    Version,
    parse_level,
    parse_version,
    policy_from_labels,
)

B, R, P = Level.BASELINE, Level.RESTRICTED, Level.PRIVILEGED
E = "pod-security.kubernetes.io/"


@pytest.mark.parametrize(
    ("text", "minor"),
    [("latest", None), ("v1.0", 0), ("v1.9", 9), ("v1.37", 37), ("v1.1000", 1000)],
)
def test_parse_version(text: str, minor: int | None) -> None:
    assert parse_version(text) == Version(minor)
    assert str(parse_version(text)) == text


@pytest.mark.parametrize(
    "text",
    ["", "Latest", "1.20", "v1.020", "v2.0", "v1.", "v1.-1", "v1.2\n", "v1.99999999999999999999"],
)
def test_parse_version_refuses(text: str) -> None:
    with pytest.raises(ParseError, match=re.escape('must be "latest" or "v1.x"')):
        parse_version(text)


def test_levels() -> None:
    assert parse_level("restricted") is R
    with pytest.raises(ParseError, match="must be one of privileged, baseline, restricted"):
        parse_level("Baseline")


def test_newest_policy_and_clamping() -> None:
    assert Version(37) == NEWEST
    pod = parse_yaml(wrap(base_pod(), "Pod")).objects[0].pod
    assert pod is not None
    for asked in (LATEST, Version(40), Version(37)):
        assert DEFAULT.evaluate(LevelVersion(B, asked), pod).evaluated == Version(37)
    assert DEFAULT.evaluate(LevelVersion(B, Version(20)), pod).evaluated == Version(20)
    # an API server at 1.33 evaluates latest (and 1.36) with its 1.33 rules
    old_cluster = Evaluator(cluster=Version(33))
    assert old_cluster.evaluate(LevelVersion(B, LATEST), pod).evaluated == Version(33)
    assert "hostProbesAndHostLifecycle" not in old_cluster.check_ids(B, LATEST)
    assert "hostProbesAndHostLifecycle" in DEFAULT.check_ids(B, Version(90))


def test_messages_quote_the_asked_version_not_the_clamped_one() -> None:
    p = base_pod()
    p["spec"]["hostPID"] = True
    pod = parse_yaml(wrap(p, "Pod")).objects[0].pod
    assert pod is not None
    assert (
        DEFAULT.evaluate(LevelVersion(B, Version(40)), pod)
        .message()
        .startswith('violates PodSecurity "baseline:v1.40": host namespaces')
    )
    assert (
        DEFAULT.evaluate(LevelVersion(B), pod)
        .message()
        .startswith('violates PodSecurity "baseline:latest"')
    )


@pytest.mark.parametrize(
    ("labels", "enforce", "audit", "warn", "n_errors"),
    [
        ({}, LevelVersion(B), LevelVersion(R), LevelVersion(R), 0),
        ({E + "enforce": "restricted"}, LevelVersion(R), LevelVersion(R), LevelVersion(R), 0),
        (
            {E + "enforce": "restricted", E + "enforce-version": "v1.30"},
            LevelVersion(R, Version(30)),
            LevelVersion(R),
            LevelVersion(R),
            0,
        ),
        # warn follows a stricter explicit enforce level, and its version
        (
            {E + "enforce": "restricted", E + "enforce-version": "v1.30", E + "warn": "baseline"},
            LevelVersion(R, Version(30)),
            LevelVersion(R),
            LevelVersion(B),
            0,
        ),
        # a bad enforce level fails closed (restricted), a bad warn level fails open
        ({E + "enforce": "bogus"}, LevelVersion(R), LevelVersion(R), LevelVersion(R), 1),
        ({E + "warn": "bogus"}, LevelVersion(B), LevelVersion(R), LevelVersion(P), 1),
        ({E + "enforce-version": "1.30"}, LevelVersion(B), LevelVersion(R), LevelVersion(R), 1),
    ],
)
def test_policy_from_labels(
    labels: dict[str, str],
    enforce: LevelVersion,
    audit: LevelVersion,
    warn: LevelVersion,
    n_errors: int,
) -> None:
    resolved = policy_from_labels(labels, PLATFORM_DEFAULTS)
    assert resolved.policy == Policy(enforce, audit, warn)
    assert len(resolved.errors) == n_errors


def test_warn_follows_enforce_over_privileged_defaults() -> None:
    resolved = policy_from_labels({E + "enforce": "baseline"}, UPSTREAM_DEFAULTS)
    assert resolved.policy.warn == LevelVersion(B)
    assert resolved.policy.audit == LevelVersion(P)


def _objects(*docs: dict[str, object]) -> list:  # type: ignore[type-arg]
    m = parse_yaml(*docs)
    assert not m.errors
    return m.objects


def _privileged_pod(name: str, namespace: str, runtime_class: str | None = None) -> dict:  # type: ignore[type-arg]
    p = base_pod()
    p["metadata"] = {"name": name, "namespace": namespace}
    p["spec"]["containers"][0]["securityContext"]["privileged"] = True
    if runtime_class:
        p["spec"]["runtimeClassName"] = runtime_class
    return wrap(p, "Pod")


def test_judge_with_namespaces_and_exemptions() -> None:
    config = parse_configuration(
        {
            "apiVersion": "pod-security.admission.config.k8s.io/v1",
            "kind": "PodSecurityConfiguration",
            "defaults": {"enforce": "baseline", "warn": "restricted", "audit": "restricted"},
            "exemptions": {"namespaces": ["kube-system"], "runtimeClasses": ["kata"]},
        },
        "cfg",
    )
    labels = {"open": {E + "enforce": "privileged"}}
    judge = Judge(namespace_policy(labels, config.defaults), config)
    objs = _objects(
        _privileged_pod("a", "kube-system"),
        _privileged_pod("b", "team"),
        _privileged_pod("c", "team", runtime_class="kata"),
        _privileged_pod("d", "open"),
    )
    verdicts = [judge.judge(o) for o in objs]
    assert [v.exempt for v in verdicts] == ["namespace", None, "runtimeClass", None]
    assert [v.denied for v in verdicts] == [False, True, False, False]
    assert verdicts[1].error() == (
        'pods "b" is forbidden: violates PodSecurity "baseline:latest": privileged '
        '(container "c" must not set securityContext.privileged=true)'
    )
    assert verdicts[1].warnings == ()  # a denied pod gets no warnings
    assert verdicts[1].audit is not None and verdicts[1].audit.startswith(
        'would violate PodSecurity "restricted:latest"'
    )
    # the open namespace: enforce privileged, but warn/audit restricted still speak
    assert verdicts[3].warnings and verdicts[3].warnings[0].startswith(
        'would violate PodSecurity "restricted:latest": privileged'
    )


def test_templates_warn_and_count_as_violating() -> None:
    p = base_pod()
    p["spec"]["hostNetwork"] = True
    (obj,) = _objects(wrap(p, "Deployment", "web"))
    verdict = Judge(fixed_policy(B)).judge(obj)
    assert not verdict.denied and verdict.violates
    assert verdict.warnings == (
        'would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)',
    )


def test_dry_run_namespace_groups_like_the_api_server() -> None:
    pods = []
    for name in ("z", "b", "m"):
        pods.append(_privileged_pod(name, "n"))
    plain = wrap(base_pod(), "Pod")
    plain["metadata"] = {"name": "fine", "namespace": "n"}
    pods.append(plain)
    host = base_pod()
    host["metadata"] = {"name": "h", "namespace": "n"}
    host["spec"]["hostNetwork"] = True
    pods.append(wrap(host, "Pod"))
    objs = _objects(*pods)
    warnings = dry_run_namespace("n", LevelVersion(R), objs)
    assert warnings == [
        'existing pods in namespace "n" violate the new PodSecurity enforce level'
        ' "restricted:latest"',
        "b (and 2 other pods): privileged",
        "h: host namespaces",
    ]
    limited = dry_run_namespace("n", LevelVersion(R), objs, max_pods=2)
    assert (
        limited[0]
        == "new PodSecurity enforce level only checked against the first 2 of 5 existing pods"
    )
    assert dry_run_namespace("n", LevelVersion(B), objs[3:4]) == []


def test_admission_configuration_defaults() -> None:
    cfg = admission_configuration()
    plugin = cfg["plugins"][0]
    assert cfg["kind"] == "AdmissionConfiguration" and plugin["name"] == "PodSecurity"
    assert plugin["configuration"]["defaults"] == {
        "enforce": "baseline",
        "enforce-version": "latest",
        "audit": "restricted",
        "audit-version": "latest",
        "warn": "restricted",
        "warn-version": "latest",
    }
    assert platform_configuration().defaults == PLATFORM_DEFAULTS
    assert admission_configuration() == admission_configuration()
    with_ex = admission_configuration(exempt_namespaces=["kube-system"], exempt_usernames=["u"])
    exemptions = with_ex["plugins"][0]["configuration"]["exemptions"]
    assert exemptions == {"usernames": ["u"], "namespaces": ["kube-system"], "runtimeClasses": []}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"enforce": "privileged"},
        {"warn": "loud"},
        {"audit_version": "1.2"},
        {"exempt_namespaces": ["Bad_Name"]},
        {"exempt_namespaces": ["a", "a"]},
        {"exempt_usernames": [""]},
    ],
)
def test_admission_configuration_refuses(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        admission_configuration(**kwargs)  # type: ignore[arg-type]


def test_load_configuration_roundtrip_and_embedded(tmp_path: Path) -> None:
    full = tmp_path / "admission.yaml"
    full.write_text(yaml.safe_dump(admission_configuration(exempt_namespaces=["kube-system"])))
    cfg = load_configuration(str(full))
    assert cfg.defaults == PLATFORM_DEFAULTS and cfg.exemptions.namespaces == ("kube-system",)
    plain = tmp_path / "psc.yaml"
    plain.write_text(
        "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\n"
        "defaults:\n  enforce: restricted\n"
    )
    cfg = load_configuration(str(plain))
    assert cfg.defaults == Policy(LevelVersion(R), LevelVersion(P), LevelVersion(P))
    ref = tmp_path / "ref.yaml"
    ref.write_text(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n"
        "plugins:\n- name: PodSecurity\n  path: psc.yaml\n"
    )
    assert load_configuration(str(ref)).defaults.enforce == LevelVersion(R)
    bad = tmp_path / "bad.yaml"
    bad.write_text(plain.read_text() + "  warn-version: v1.x\n")
    with pytest.raises(InputError) as info:
        load_configuration(str(bad))
    assert info.value.location is not None and info.value.location.line == 5


ADMISSION_BY_PATH = (
    "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n"
    "plugins:\n- name: PodSecurity\n  path: {0}\n"
)


@pytest.mark.parametrize(
    ("files", "start", "bad"),
    [
        ({"self.yaml": "self.yaml"}, "self.yaml", "self.yaml"),
        ({"self.yaml": "./sub/../self.yaml"}, "self.yaml", "self.yaml"),
        ({"a.yaml": "b.yaml", "b.yaml": "a.yaml"}, "a.yaml", "b.yaml"),
    ],
)
def test_a_path_leading_back_is_a_cycle_at_its_path(
    tmp_path: Path, files: dict[str, str], start: str, bad: str
) -> None:
    (tmp_path / "sub").mkdir()
    for name, ref in files.items():
        (tmp_path / name).write_text(ADMISSION_BY_PATH.format(ref))
    with pytest.raises(InputError) as info:
        load_configuration(str(tmp_path / start))
    where = info.value.location
    assert where is not None
    assert (Path(where.path).name, where.line, where.column) == (bad, 5, 9)
    assert "leads back" in info.value.message and "configuration:" in info.value.hint
