"""Which admission API versions each Kubernetes minor version serves, and the choice per fleet.

Facts (KEP-3962, kubernetes PR #136039, the API's OpenAPI documents shipped for each
version): MutatingAdmissionPolicy is alpha (v1alpha1) in 1.32–1.33, beta (v1beta1) in
1.34–1.35 with v1alpha1 still served, GA (v1) in 1.36. Before 1.36 it needs the
``MutatingAdmissionPolicy`` feature gate and the API enabled with ``--runtime-config``
(beta APIs are off by default, KEP-3136). ValidatingAdmissionPolicy is GA (v1) from 1.30.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

GROUP = "admissionregistration.k8s.io"
VAP_GA = 30
MAP_FIRST = 32


def map_versions(minor: int) -> tuple[str, ...]:
    """MutatingAdmissionPolicy API versions Kubernetes 1.``minor`` serves, newest first."""
    if minor >= 36:
        return ("v1", "v1beta1", "v1alpha1")
    if minor >= 34:
        return ("v1beta1", "v1alpha1")
    if minor >= MAP_FIRST:
        return ("v1alpha1",)
    return ()


@dataclass(frozen=True)
class MapChoice:
    """The MutatingAdmissionPolicy API version for a fleet, or why there is none."""

    version: str | None
    problem: str = ""
    opt_in: str = ""  # what the API servers need before they serve it


def choose_map(minors: Sequence[int]) -> MapChoice:
    """The newest MutatingAdmissionPolicy version every one of ``minors`` serves."""
    lacking = [m for m in minors if not map_versions(m)]
    if lacking:
        return MapChoice(
            None,
            f"Kubernetes {', '.join(f'1.{m}' for m in lacking)} serves no "
            "MutatingAdmissionPolicy API (alpha from 1.32, GA in 1.36)",
        )
    common = set(map_versions(minors[0])).intersection(*(map_versions(m) for m in minors))
    version = next(v for v in ("v1", "v1beta1", "v1alpha1") if v in common)
    opt_in = ""
    if version != "v1":
        opt_in = (
            "--feature-gates=MutatingAdmissionPolicy=true "
            f"--runtime-config={GROUP}/{version}=true on every API server"
        )
    return MapChoice(f"{GROUP}/{version}", opt_in=opt_in)


VAP_VERSION = f"{GROUP}/v1"
