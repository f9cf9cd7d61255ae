"""The pipeline in one place: policy file → resolved program → backend files → proof.

``compile`` writes, per kernel family of the program: ``oci/<family>.json`` (flat
runtime-spec profile), ``bpf/<family>.bpf`` (raw filter in the family's byte order),
``pfc/<family>.pfc`` (readable pseudo code), and ``COMPILED.json`` listing them. Every BPF
file is proved equal to the program before anything is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from seccompiler.backends import bpf
from seccompiler.base.errors import InputError, SeccompilerError, UsageError
from seccompiler.base.fsio import holds_only, read_bytes
from seccompiler.frontend.policy import load_policy
from seccompiler.frontend.resolve import resolve
from seccompiler.program import KILL_PROCESS, Program

if TYPE_CHECKING:
    from seccompiler.backends.oci import Memo
    from seccompiler.prove.verify import VerifyReport

# The OCI and PFC backends and the proof are imported where they are used: ``test`` and
# ``run`` load policies through this module and need neither.


def load_program(
    policy_path: str, *, caps: Iterable[str] | None = None, abis: Sequence[str] | None = None
) -> Program:
    """Read, check and resolve a policy file."""
    return resolve(load_policy(policy_path), caps=caps, abis=abis)


FORMATS = ("oci", "bpf", "pfc")


def parse_formats(raw: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for item in raw:
        for part in item.split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part not in FORMATS:
                raise UsageError(f"unknown format '{part}'", hint=f"formats: {', '.join(FORMATS)}")
            if part not in out:
                out.append(part)
    return tuple(out) or FORMATS


def render_outputs(
    program: Program, formats: Iterable[str] = FORMATS, memo: Memo | None = None
) -> dict[str, bytes]:
    """Relative path → content for every requested format and family.

    ``memo`` keeps the OCI rendering's work for other renderings of the same program.
    """
    from seccompiler.backends import oci, pfc

    wanted = set(formats)
    files: dict[str, bytes] = {}
    memo = {} if memo is None else memo  # the families share their rules
    for family in bpf.families(program):
        if "oci" in wanted:
            files[f"oci/{family}.json"] = oci.render_family(program, family, memo)
        if "bpf" in wanted:
            files[f"bpf/{family}.bpf"] = bpf.compile_family(program, family)
        if "pfc" in wanted:
            files[f"pfc/{family}.pfc"] = pfc.render(program, family).encode()
    return files


STAMP = "COMPILED.json"  # lists what compile wrote; an output directory without it is not ours
MAX_STAMP = 4 * 1024 * 1024


def output_tree(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The whole output directory: ``files`` and the stamp that lists them with their sha256."""
    entries = {
        rel: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for rel, data in sorted(files.items())
    }
    doc = {"files": entries, "tool": {"name": "seccompiler", "output": "compile"}}
    return {**files, STAMP: (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()}


def is_output(directory: Path) -> bool:
    """Whether ``directory`` holds an earlier ``compile`` output and nothing else: our stamp,
    and no file the stamp does not list (a note, a policy, a link to elsewhere)."""
    try:
        doc = json.loads(read_bytes(directory / STAMP, MAX_STAMP))
    except (ValueError, OSError, SeccompilerError):
        return False
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), dict):
        return False
    if doc.get("tool") != {"name": "seccompiler", "output": "compile"}:
        return False
    return holds_only(directory, {*doc["files"], STAMP})


def notes(program: Program, files: Mapping[str, bytes]) -> list[str]:
    """What a reader of the outputs should know that the files cannot say themselves."""
    from seccompiler.backends import oci

    out = [str(n) for n in program.notes]
    if program.bad_arch != KILL_PROCESS and any(r.startswith("oci/") for r in files):
        out.append(
            f"note: oci/: bad-arch is {program.bad_arch} in the BPF; OCI JSON has no field for "
            "it, so the runtime decides what other arches get"
        )
    unknown = program.abis[0].unknown
    for rel, data in sorted(files.items()):
        if rel.startswith("oci/") and not oci.default_is_unknown(program, json.loads(data)):
            doc = json.loads(data)
            runtime = (
                "runc adds no ENOSYS stub under an allowing default, so they are allowed"
                if doc["defaultAction"] in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")
                else "runc answers ENOSYS above the newest syscall the profile names"
            )
            out.append(
                f"note: {rel}: defaultAction is not {unknown}: libseccomp could not express the "
                "policy exactly around it, so numbers the table does not know fall to the "
                f"default there ({runtime}; the BPF output is exact)"
            )
    return out


class ProofFailed(InputError):
    """An emitted filter disagrees with the policy it was compiled from."""


def prove_outputs(program: Program, files: Mapping[str, bytes]) -> list[str]:
    """Verify every ``bpf/<family>.bpf`` among ``files``; return one summary line per ABI."""
    return [line for report in prove_reports(program, files) for line in report.lines()]


def prove_reports(program: Program, files: Mapping[str, bytes]) -> list[VerifyReport]:
    """Verify every ``bpf/<family>.bpf`` among ``files``; ``ProofFailed`` on any disagreement."""
    from seccompiler.prove.verify import verify_bpf

    reports: list[VerifyReport] = []
    for rel, data in sorted(files.items()):
        if not rel.startswith("bpf/"):
            continue
        family = rel.removeprefix("bpf/").removesuffix(".bpf")
        report = verify_bpf(program, data, family)
        reports.append(report)
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
    return reports
