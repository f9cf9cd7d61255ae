"""Fit each profile to the fleet: the ABIs it names, and whether every runtime can load it.

The platform configuration says which node architectures and runtime versions exist; a
profile names only the ABIs of those nodes' kernels (a runtime refuses the whole profile for
one architecture it does not know, even one no node has), and every OCI JSON the build ships
is judged against every runtime target. A refusal is reported at the line of the policy that
causes it: the ``abis`` list for an architecture, the rule for an action.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from seccompiler.arch.abi import by_oci, lookup
from seccompiler.base.errors import ErrorList, InputError, Location
from seccompiler.base.fsio import read_text
from seccompiler.base.yamlsrc import LList, LMap, load_text
from seccompiler.frontend.scmp import ACTION_NAMES
from seccompiler.platform import runtimes
from seccompiler.platform.config import PlatformConfig
from seccompiler.program import Action, ActionKind, Program


def _policy_marks(program: Program) -> LMap | None:
    if not program.sources:
        return None
    path = program.sources[0]
    try:
        doc = load_text(read_text(path, 4 * 1024 * 1024), path)
    except InputError:
        return None
    return doc if isinstance(doc, LMap) else None


def _key_location(program: Program, *keys: str) -> Location:
    doc = _policy_marks(program)
    path = program.sources[0] if program.sources else f"<{program.name}>"
    if doc is None:
        return Location(path)
    for key in keys:
        if key in doc:
            return doc.where_key(key).location()
    return doc.mark.location()


def fleet_abis(program: Program, cfg: PlatformConfig) -> list[str]:
    """The program's ABIs that fleet nodes can enter; every fleet family must be covered."""
    if not cfg.architectures:
        return [p.abi.name for p in program.abis]
    covered = {p.abi.family for p in program.abis}
    missing = [f for f in cfg.families if f not in covered]
    if missing:
        raise InputError(
            f"profile '{program.name}' covers no ABI of the fleet's "
            f"{', '.join(missing)} nodes (platform.yaml architectures)",
            hint=f"add {', '.join(missing)} to the policy's abis, or remove those "
            f"architectures from {cfg.path}",
            location=_key_location(program, "abis"),
        )
    return [p.abi.name for p in program.abis if p.abi.name in cfg.abis]


def audit_variant(program: Program) -> Program:
    """The same profile logging (SCMP_ACT_LOG) wherever it would refuse: the audit stage."""

    def log(action: Action) -> Action:
        return Action(ActionKind.LOG) if action.blocks else action

    return program.map_actions(log)


def _rule_location(program: Program, rule: Mapping[str, Any]) -> Location | None:
    names = set(rule.get("names") or ())
    action = rule.get("action")
    for abi in program.abis:
        for sp in abi.syscalls.values():
            if sp.name not in names:
                continue
            for r in sp.rules:
                if ACTION_NAMES[r.action.kind] == action and r.origin is not None:
                    return Location(r.origin.path, r.origin.line, r.origin.column)
            if ACTION_NAMES[sp.fallback.kind] == action and sp.fallback_origin is not None:
                o = sp.fallback_origin
                return Location(o.path, o.line, o.column)
    return None


def locate(program: Program, doc: Mapping[str, Any], problem: runtimes.Problem) -> Location:
    """The line of the policy that put ``problem`` into the OCI object ``doc``."""
    if problem.field == "syscalls":
        found = _rule_location(program, doc["syscalls"][problem.index])
        if found is not None:
            return found
    if problem.field in ("defaultAction", "defaultErrnoRet"):
        return _key_location(program, "unknown", "default")
    if problem.field == "architectures":
        found = _abi_item_location(program, problem.value)
        if found is not None:
            return found
    return _key_location(program, "abis")


def _abi_item_location(program: Program, oci_name: str) -> Location | None:
    """Where the policy's ``abis`` list names the ABI whose SCMP_ARCH_* is ``oci_name``."""
    doc = _policy_marks(program)
    abi = by_oci(oci_name)
    items = doc.get("abis") if doc is not None else None
    if abi is None or not isinstance(items, LList):
        return None
    for i, item in enumerate(items):
        if isinstance(item, str) and lookup(item) == abi:
            return items.where(i).location()
    return None


def check_runtimes(
    program: Program, artifacts: Mapping[str, bytes], cfg: PlatformConfig
) -> list[str]:
    """Refuse, at the policy's line, any artifact a runtime target cannot load.

    ``artifacts`` maps a dist path to OCI JSON bytes; returns one summary line per artifact.
    """
    errors: list[InputError] = []
    lines = []
    for rel, data in sorted(artifacts.items()):
        doc = json.loads(data)
        for runtime in cfg.runtimes:
            for problem in runtimes.problems(doc, runtime):
                hint = (
                    f"upgrade the fleet's {runtime.name}, or change the policy or the "
                    f"architectures/runtimes in {cfg.path}"
                )
                if problem.source:
                    hint += f" (source: {problem.source})"
                errors.append(
                    InputError(
                        f"{rel}: {runtime} cannot load it: {problem.message}",
                        hint=hint,
                        location=locate(program, doc, problem),
                    )
                )
        names = ", ".join(str(r) for r in cfg.runtimes)
        lines.append(f"{rel}: loadable by {names}")
    if errors:
        if len(errors) == 1:
            raise errors[0]
        raise ErrorList(f"{len(errors)} runtime refusals", errors=errors)
    return lines
