"""The pipeline in one place: policy file → resolved program (→ backends)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from seccompiler.policy import load_policy
from seccompiler.program import Program
from seccompiler.resolve import resolve


def load_program(
    policy_path: str, *, caps: Iterable[str] | None = None, abis: Sequence[str] | None = None
) -> Program:
    """Read, check and resolve a policy file."""
    return resolve(load_policy(policy_path), caps=caps, abis=abis)
