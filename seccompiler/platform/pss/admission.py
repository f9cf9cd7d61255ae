"""The API server's PodSecurity admission configuration: emit it, and read one back.

``admission_configuration`` gives the ``AdmissionConfiguration`` this platform installs:
enforce=baseline, audit=restricted, warn=restricted (all at ``latest``) unless told
otherwise, with exemptions. ``load_configuration`` reads a ``PodSecurityConfiguration``
(directly, or inside an ``AdmissionConfiguration``) with upstream's defaulting and
validation (admission/api/v1/defaults.go, admission/api/validation/validation.go).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seccompiler.base.errors import InputError, Location, UsageError
from seccompiler.base.yamlsrc import LMap, load_text
from seccompiler.platform.pss.typed import fields
from seccompiler.platform.pss.versions import (
    Level,
    LevelVersion,
    ParseError,
    Policy,
    parse_level,
    parse_version,
)

CONFIG_GROUP = "pod-security.admission.config.k8s.io"
CONFIG_API_VERSION = f"{CONFIG_GROUP}/v1"
CONFIG_API_VERSIONS = frozenset(f"{CONFIG_GROUP}/{v}" for v in ("v1", "v1beta1", "v1alpha1"))
ADMISSION_API_VERSIONS = frozenset({"apiserver.config.k8s.io/v1", "apiserver.k8s.io/v1alpha1"})

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def valid_namespace_name(name: str) -> bool:
    """A DNS-1123 label, as namespace names must be."""
    return len(name) <= 63 and _DNS_LABEL.fullmatch(name) is not None


def valid_dns_subdomain(name: str) -> bool:
    return len(name) <= 253 and _DNS_SUBDOMAIN.fullmatch(name) is not None


@dataclass(frozen=True)
class Exemptions:
    usernames: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    runtime_classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PodSecurityConfig:
    """Cluster defaults and exemptions, as the admission plugin holds them."""

    defaults: Policy
    exemptions: Exemptions = field(default_factory=Exemptions)


def _check_exemptions(ex: Exemptions) -> list[tuple[str, str]]:
    """Upstream's validation of exemptions: (field path, problem) pairs."""
    problems = []
    for name, values, ok in (
        ("namespaces", ex.namespaces, valid_namespace_name),
        ("runtimeClasses", ex.runtime_classes, valid_dns_subdomain),
        ("usernames", ex.usernames, lambda u: u != ""),
    ):
        seen: set[str] = set()
        for i, value in enumerate(values):
            if not ok(value):
                problems.append((f"exemptions.{name}[{i}]", f"invalid value {value!r}"))
            elif value in seen:
                problems.append((f"exemptions.{name}[{i}]", f"duplicate value {value!r}"))
            seen.add(value)
    return problems


def admission_configuration(
    enforce: str = "baseline",
    enforce_version: str = "latest",
    audit: str = "restricted",
    audit_version: str = "latest",
    warn: str = "restricted",
    warn_version: str = "latest",
    exempt_namespaces: Sequence[str] = (),
    exempt_usernames: Sequence[str] = (),
    exempt_runtime_classes: Sequence[str] = (),
    rollout: bool = False,
) -> dict[str, Any]:
    """Return the API server's AdmissionConfiguration with the PodSecurity plugin configured.

    Raise ``UsageError`` for a bad level or version, for ``enforce=privileged`` (which this
    platform refuses, except ``rollout`` stages before enforcement, which audit and warn
    only), and for exemptions upstream would reject.
    """
    values = {
        "enforce": enforce,
        "enforce-version": enforce_version,
        "audit": audit,
        "audit-version": audit_version,
        "warn": warn,
        "warn-version": warn_version,
    }
    _check_defaults(values, rollout)
    ex = Exemptions(
        tuple(exempt_usernames), tuple(exempt_namespaces), tuple(exempt_runtime_classes)
    )
    problems = _check_exemptions(ex)
    if problems:
        raise UsageError("; ".join(f"{where}: {what}" for where, what in problems))
    return _admission_document(values, ex)


def _check_defaults(values: Mapping[str, str], rollout: bool) -> None:
    """Refuse a level or version upstream cannot parse, and enforce=privileged (``UsageError``)."""
    for key, value in values.items():
        try:
            (parse_version if key.endswith("version") else parse_level)(value)
        except ParseError as exc:
            raise UsageError(f"PodSecurity default {key}={value!r}: {exc}") from None
    if values["enforce"] == Level.PRIVILEGED and not rollout:
        raise UsageError(
            "PodSecurity default enforce=privileged is refused on this platform",
            hint="enforce baseline (the default) or restricted",
        )


def _admission_document(defaults: dict[str, str], ex: Exemptions) -> dict[str, Any]:
    """The AdmissionConfiguration that gives the PodSecurity plugin these defaults."""
    exemptions: dict[str, list[str]] = {
        "usernames": list(ex.usernames),
        "namespaces": list(ex.namespaces),
        "runtimeClasses": list(ex.runtime_classes),
    }
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AdmissionConfiguration",
        "plugins": [
            {
                "name": "PodSecurity",
                "configuration": {
                    "apiVersion": CONFIG_API_VERSION,
                    "kind": "PodSecurityConfiguration",
                    "defaults": defaults,
                    "exemptions": exemptions,
                },
            }
        ],
    }


def platform_configuration() -> PodSecurityConfig:
    """The defaults this platform installs, as a parsed configuration."""
    return parse_configuration(
        admission_configuration()["plugins"][0]["configuration"], "<platform>"
    )


def load_configuration(path: str, *, _chain: tuple[str, ...] = ()) -> PodSecurityConfig:
    """Read a PodSecurityConfiguration file, or an AdmissionConfiguration that holds one."""
    doc = load_text(_read(path), path)
    return parse_configuration(doc, path, _chain=(*_chain, os.path.realpath(path)))


def _read(path: str) -> str:
    from seccompiler.base.fsio import read_text

    return read_text(path, 4 * 1024 * 1024)


def _loc(node: Any, key: str | None, path: str) -> Location:
    if isinstance(node, LMap):
        return (node.where(key) if key else node.mark).location()
    return Location(path)


def parse_configuration(doc: Any, path: str, *, _chain: tuple[str, ...] = ()) -> PodSecurityConfig:
    """Validate and default a PodSecurityConfiguration (or AdmissionConfiguration) document.

    ``_chain`` holds the files read to get here, so a ``path:`` leading back is refused.
    """
    if not isinstance(doc, dict):
        raise InputError("expected a PodSecurityConfiguration mapping", location=Location(path))
    api_version = fields.string(doc, "apiVersion", "apiVersion") or ""
    kind = fields.string(doc, "kind", "kind") or ""
    if api_version in ADMISSION_API_VERSIONS and kind == "AdmissionConfiguration":
        return _from_admission(doc, path, _chain)
    if api_version not in CONFIG_API_VERSIONS or kind != "PodSecurityConfiguration":
        raise InputError(
            f"expected kind PodSecurityConfiguration ({CONFIG_API_VERSION}) or an"
            f" AdmissionConfiguration, got {kind or 'no kind'} ({api_version or 'no apiVersion'})",
            location=_loc(doc, "kind", path),
        )
    defaults = fields.mapping(doc, "defaults", "defaults") or {}
    modes = []
    for mode in ("enforce", "audit", "warn"):
        level_text = fields.string(defaults, mode, f"defaults.{mode}") or "privileged"
        version_text = fields.string(defaults, f"{mode}-version", f"defaults.{mode}-version")
        version_text = version_text or "latest"
        try:
            level = parse_level(level_text)
        except ParseError as exc:
            raise InputError(
                f"defaults.{mode}: {exc}", location=_loc(defaults, mode, path)
            ) from None
        try:
            version = parse_version(version_text)
        except ParseError as exc:
            raise InputError(
                f"defaults.{mode}-version: {exc}",
                location=_loc(defaults, f"{mode}-version", path),
            ) from None
        modes.append(LevelVersion(level, version))
    ex_node = fields.mapping(doc, "exemptions", "exemptions") or {}

    def strings(key: str) -> tuple[str, ...]:
        seq = fields.sequence(ex_node, key, f"exemptions.{key}")
        return tuple(fields.item_str(seq, i, f"exemptions.{key}") for i in range(len(seq)))

    ex = Exemptions(strings("usernames"), strings("namespaces"), strings("runtimeClasses"))
    problems = _check_exemptions(ex)
    if problems:
        where, what = problems[0]
        raise InputError(
            f"{where}: {what}", location=_loc(ex_node, where.split(".")[1].split("[")[0], path)
        )
    return PodSecurityConfig(Policy(*modes), ex)


def _from_admission(doc: Mapping[str, Any], path: str, chain: tuple[str, ...]) -> PodSecurityConfig:
    plugins = fields.sequence(doc, "plugins", "plugins")
    for i in range(len(plugins)):
        plugin = fields.item_map(plugins, i, "plugins")
        if plugin.get("name") != "PodSecurity":
            continue
        config = fields.mapping(plugin, "configuration", f"plugins[{i}].configuration")
        if config is not None:
            return parse_configuration(config, path)
        ref = fields.string(plugin, "path", f"plugins[{i}].path")
        if ref:
            target = Path(path).parent / ref if not Path(ref).is_absolute() else Path(ref)
            if os.path.realpath(target) in chain:
                raise InputError(
                    f"plugins[{i}].path leads back to {target}, a file already being read",
                    hint="point it at the PodSecurityConfiguration file, or write the "
                    "configuration inline under 'configuration:'",
                    location=_loc(plugin, "path", path),
                )
            return load_configuration(str(target), _chain=chain)
        raise InputError(
            "the PodSecurity plugin has neither configuration nor path",
            location=_loc(plugin, None, path),
        )
    raise InputError(
        "this AdmissionConfiguration does not configure the PodSecurity plugin",
        location=_loc(doc, "plugins", path),
    )
