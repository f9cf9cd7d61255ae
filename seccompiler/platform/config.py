"""The platform configuration: ``platform.yaml`` beside the profiles, read with located errors.

One file says what the fleet is, so that ``build`` emits what that fleet can load and admit:
the Kubernetes minor versions its API servers run, the node architectures
(``kubernetes.io/arch`` values), the runtime versions on the nodes, the namespaces the
platform itself runs in, the Pod Security defaults, whether the API servers take an
admission configuration file (``self-managed``) or not (``managed``), the rollout stage,
and the image that installs the node files. Every key is optional; docs/build.md lists them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seccompiler.arch.abi import ABIS, FAMILIES, family_members
from seccompiler.base.errors import ErrorList, InputError, Location
from seccompiler.base.fsio import read_text
from seccompiler.base.yamlsrc import LList, LMap, Mark, load_text
from seccompiler.platform import runtimes
from seccompiler.platform.pss.admission import valid_namespace_name

FILENAME = "platform.yaml"
FORMAT_KEY = "seccompiler-platform"
KEYS = (
    FORMAT_KEY,
    "kubernetes",
    "architectures",
    "runtimes",
    "cluster",
    "system-namespaces",
    "pod-security",
    "rollout",
    "installer-image",
    "profile-distribution",
)
MODES = ("self-managed", "managed")
STAGES = ("audit", "warn", "enforce")
DISTRIBUTIONS = ("installer", "security-profiles-operator")
LEVELS = ("baseline", "restricted")
PSS_MODES = ("enforce", "audit", "warn")
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
# kubernetes.io/arch value → kernel family (the family's native ABI).
NODE_ARCHES: dict[str, str] = {ABIS[f].goarch: f for f in FAMILIES}
_MINOR = re.compile(r"1\.(0|[1-9][0-9]?)")
_IMAGE = re.compile(r"[a-z0-9][a-z0-9._/:@-]*[a-z0-9]", re.IGNORECASE)
OLDEST_KUBERNETES = 30  # ValidatingAdmissionPolicy is GA (admissionregistration/v1) from 1.30


@dataclass(frozen=True)
class PlatformConfig:
    """What ``platform.yaml`` says, with the defaults filled in."""

    kubernetes: tuple[int, ...] = (34, 35)  # minor versions of 1.x
    # Empty: no platform.yaml says, so each profile is built for every family it covers.
    architectures: tuple[str, ...] = ()
    runtimes: tuple[runtimes.Runtime, ...] = (
        runtimes.Runtime("runc", (1, 2, 0)),
        runtimes.Runtime("crun", (1, 14)),
    )
    cluster: str = "self-managed"
    system_namespaces: tuple[str, ...] = SYSTEM_NAMESPACES
    pod_security: dict[str, str] = field(
        default_factory=lambda: {"enforce": "baseline", "audit": "restricted", "warn": "restricted"}
    )
    rollout: str = "enforce"
    installer_image: str = "ghcr.io/keisson/seccompiler:latest"
    # installer: our DaemonSet writes the kubelet files; security-profiles-operator: the
    # operator writes them from SeccompProfile objects, and pods are pointed at its path.
    profile_distribution: str = "installer"
    path: str = "<defaults>"
    marks: dict[str, Mark] = field(default_factory=dict, compare=False, repr=False)

    @property
    def families(self) -> tuple[str, ...]:
        """The kernel families of the fleet, in the order the architectures are listed."""
        return tuple(dict.fromkeys(NODE_ARCHES[a] for a in self.architectures))

    @property
    def abis(self) -> frozenset[str]:
        """Every ABI a fleet node's kernel can be entered through."""
        return frozenset(a.name for f in self.families for a in family_members(f))

    @property
    def spo(self) -> bool:
        return self.profile_distribution == "security-profiles-operator"

    @property
    def managed(self) -> bool:
        return self.cluster == "managed"

    def where(self, key: str) -> Location:
        mark = self.marks.get(key)
        return mark.location() if mark else Location(self.path)

    @property
    def kubernetes_text(self) -> list[str]:
        return [f"1.{m}" for m in self.kubernetes]


class _Errors:
    def __init__(self) -> None:
        self.items: list[InputError] = []

    def add(self, mark: Mark, message: str, hint: str = "") -> None:
        self.items.append(InputError(message, hint=hint, location=mark.location()))


def _strings(doc: LMap, key: str, errs: _Errors) -> list[tuple[str, Mark]] | None:
    if key not in doc:
        return None
    value = doc[key]
    if not isinstance(value, LList) or not value:
        errs.add(doc.where(key), f"'{key}' must be a non-empty list")
        return None
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            # YAML reads 1.30 as the number 1.3 and 1.340 as 1.34: a number's text is lost
            hint = (
                'quote versions: kubernetes: ["1.30"] (unquoted, 1.30 is the number 1.3)'
                if key == "kubernetes"
                else "quote it: unquoted, YAML reads numbers, yes/no and on/off as other types"
            )
            errs.add(
                value.where(i), f"'{key}' items must be strings; this one is read as {item!r}", hint
            )
            continue
        out.append((item, value.where(i)))
    return out


def _choice(doc: LMap, key: str, choices: tuple[str, ...], errs: _Errors) -> str | None:
    if key not in doc:
        return None
    value = doc[key]
    if value not in choices:
        errs.add(doc.where(key), f"'{key}' is {value!r}", f"use one of: {', '.join(choices)}")
        return None
    return str(value)


def _kubernetes(doc: LMap, errs: _Errors) -> tuple[int, ...] | None:
    kube = _strings(doc, "kubernetes", errs)
    if kube is None:
        return None
    minors = []
    for text_, mark in kube:
        m = _MINOR.fullmatch(text_)
        if m is None:
            errs.add(mark, f"Kubernetes version '{text_}' is not 1.MINOR", "e.g. '1.34'")
        elif int(m[1]) < OLDEST_KUBERNETES:
            errs.add(
                mark,
                f"Kubernetes {text_} does not serve admissionregistration.k8s.io/v1 "
                "ValidatingAdmissionPolicy (GA in 1.30), which the platform's guards need",
                "upgrade the API servers to 1.30 or newer first",
            )
        else:
            minors.append(int(m[1]))
    return tuple(sorted(set(minors)))


def _architectures(doc: LMap, errs: _Errors) -> tuple[str, ...] | None:
    arches = _strings(doc, "architectures", errs)
    if arches is None:
        return None
    for name, mark in arches:
        if name not in NODE_ARCHES:
            errs.add(
                mark,
                f"unknown node architecture '{name}'",
                f"use kubernetes.io/arch values: {', '.join(sorted(NODE_ARCHES))}",
            )
    return tuple(dict.fromkeys(n for n, _ in arches if n in NODE_ARCHES))


def _runtimes(doc: LMap, errs: _Errors) -> tuple[runtimes.Runtime, ...] | None:
    rts = _strings(doc, "runtimes", errs)
    if rts is None:
        return None
    parsed = []
    for name, mark in rts:
        try:
            parsed.append(runtimes.parse(name))
        except ValueError as exc:
            errs.add(mark, str(exc))
    return tuple(dict.fromkeys(parsed))


def _system_namespaces(doc: LMap, errs: _Errors) -> tuple[str, ...] | None:
    ns = _strings(doc, "system-namespaces", errs)
    if ns is None:
        return None
    for name, mark in ns:
        if not valid_namespace_name(name):
            errs.add(mark, f"'{name}' is not a namespace name")
    return tuple(dict.fromkeys(n for n, _ in ns))


def _pod_security(doc: LMap, errs: _Errors) -> dict[str, str] | None:
    if "pod-security" not in doc:
        return None
    pss = doc["pod-security"]
    if not isinstance(pss, LMap):
        errs.add(doc.where("pod-security"), "'pod-security' must be a mapping")
        return None
    levels = dict(PlatformConfig().pod_security)
    for mode in pss:
        if mode not in PSS_MODES:
            errs.add(pss.where_key(mode), f"unknown Pod Security mode '{mode}'",
                     f"modes: {', '.join(PSS_MODES)}")  # fmt: skip
        elif pss[mode] not in LEVELS:
            hint = "this platform never enforces or settles for privileged"
            errs.add(pss.where(mode), f"'{mode}' is {pss[mode]!r}",
                     f"use baseline or restricted; {hint}")  # fmt: skip
        else:
            levels[mode] = str(pss[mode])
    return levels


def _installer_image(doc: LMap, errs: _Errors) -> str | None:
    if "installer-image" not in doc:
        return None
    image = doc["installer-image"]
    if not isinstance(image, str) or not _IMAGE.fullmatch(image):
        errs.add(doc.where("installer-image"), f"'installer-image' is {image!r}",
                 "name an image reference, e.g. registry.example/seccompiler:1.0")  # fmt: skip
        return None
    return image


def parse(text: str, path: str) -> PlatformConfig:
    """Validate a platform configuration; every problem is reported with its line."""
    doc = load_text(text, path)
    if not isinstance(doc, LMap):
        raise InputError(
            "a platform configuration is a YAML mapping",
            hint=f"start from the bundled profiles/{FILENAME}",
            location=Location(path, 1, 1),
        )
    errs = _Errors()
    for key in doc:
        if key not in KEYS:
            errs.add(doc.where_key(key), f"unknown key '{key}'", f"keys: {', '.join(KEYS)}")
    if doc.get(FORMAT_KEY) != 1:
        errs.add(doc.where(FORMAT_KEY), f"'{FORMAT_KEY}: 1' must come first", "")
    values: dict[str, Any] = {}
    marks = {k: doc.where(k) for k in doc}

    fields: tuple[tuple[str, Callable[[LMap, _Errors], Any]], ...] = (
        ("kubernetes", _kubernetes),
        ("architectures", _architectures),
        ("runtimes", _runtimes),
        ("system_namespaces", _system_namespaces),
        ("cluster", lambda d, e: _choice(d, "cluster", MODES, e)),
        ("profile_distribution", lambda d, e: _choice(d, "profile-distribution", DISTRIBUTIONS, e)),
        ("rollout", lambda d, e: _choice(d, "rollout", STAGES, e)),
        ("pod_security", _pod_security),
        ("installer_image", _installer_image),
    )  # in the order their errors are reported
    for name, read in fields:
        value = read(doc, errs)
        if value is not None:
            values[name] = value

    if errs.items:
        if len(errs.items) == 1:
            raise errs.items[0]
        raise ErrorList(f"{len(errs.items)} errors in {path}", errors=errs.items)
    return PlatformConfig(**values, path=path, marks=marks)


def load(profiles_dir: str | Path) -> PlatformConfig:
    """``platform.yaml`` in ``profiles_dir``, or the defaults when there is none."""
    path = Path(profiles_dir) / FILENAME
    if not os.path.lexists(path):  # anything else there (a FIFO, a dangling link) is refused
        return PlatformConfig()
    return parse(read_text(path, 1024 * 1024), str(path))
