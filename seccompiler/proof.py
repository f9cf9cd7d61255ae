"""Check compiled filters against their program before anything is written."""

from __future__ import annotations

from collections.abc import Mapping

from seccompiler.errors import InputError
from seccompiler.program import Program


class ProofFailed(InputError):
    """An emitted filter disagrees with the policy it was compiled from."""


def prove_outputs(program: Program, files: Mapping[str, bytes]) -> list[str]:
    """Verify every ``bpf/<family>.bpf`` among ``files``; return one summary line per ABI."""
    from seccompiler.verify import verify_bpf

    lines: list[str] = []
    for rel, data in sorted(files.items()):
        if not rel.startswith("bpf/"):
            continue
        family = rel.removeprefix("bpf/").removesuffix(".bpf")
        report = verify_bpf(program, data, family)
        lines.extend(report.lines())
        if report.rejected is not None:
            raise ProofFailed(
                f"{rel}: the kernel would refuse this filter: {report.rejected.message}",
                hint="this is a compiler bug; please report it with the policy",
            )
        if not report.ok:
            raise ProofFailed(
                f"{rel}: the filter disagrees with the policy in {len(report.disagreements)} "
                f"cases, first: {report.disagreements[0]}",
                hint="this is a compiler bug; please report it with the policy",
            )
    return lines
