"""PFC backend: the resolved program as readable pseudo filter code, in the spirit of
libseccomp's ``seccomp_export_pfc``, with the source position and reason of every decision.

Only syscalls answered differently from the ABI's default are listed; the default and the
answer for numbers the table does not know close each ABI's section.

Source files are named relative to the directory of the policy compiled (the last source),
so the same tree gives the same bytes wherever it lies and however its path was typed.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from seccompiler.base.quote import one_line
from seccompiler.program import AbiProgram, Origin, Program


def _namer(sources: tuple[str, ...]) -> Callable[[str], str]:
    """Source path → its name in the PFC: relative to the compiled policy's directory."""
    if not sources:
        return lambda path: path
    top = os.path.dirname(os.path.abspath(sources[-1]))
    return lambda path: os.path.relpath(os.path.abspath(path), top).replace(os.sep, "/")


def _why(origin: Origin | None, name: Callable[[str], str]) -> str:
    if origin is None:
        return ""
    reason = f" {one_line(origin.reason)}" if origin.reason else ""
    where = f"{name(origin.path)}:{origin.line}:{origin.column}"
    return f"  # {one_line(where)}{reason}"


def _abi(p: AbiProgram, name: Callable[[str], str]) -> list[str]:
    lines = [f"# filter for arch {p.abi.name} ({p.abi.audit_arch})"]
    x32 = " && ($syscall & 0x40000000)" if p.abi.is_x32 else ""
    lines.append(f"if ($arch == {p.abi.audit_arch}{x32})")
    for nr, sp in sorted(p.syscalls.items()):
        if not sp.rules and sp.fallback == p.default:
            continue
        lines.append(f'  # filter for syscall "{sp.name}" ({nr})')
        lines.append(f"  if ($syscall == {nr})")
        for rule in sp.rules:
            conds = " && ".join(f"({c})" for c in rule.conditions)
            lines.append(f"    if {conds}")
            lines.append(f"      action {rule.action};{_why(rule.origin, name)}")
        lines.append(f"    action {sp.fallback};{_why(sp.fallback_origin, name)}")
    lines.append(f"  # known syscalls not listed above ({len(p.syscalls)} known, up to {p.max_nr})")
    lines.append("  if ($syscall is known)")
    lines.append(f"    action {p.default};")
    lines.append("  # numbers the syscall table does not know")
    lines.append(f"  action {p.unknown};")
    return lines


def render(program: Program, family: str | None = None) -> str:
    """PFC text for one family of the program (default: every ABI)."""
    progs = program.families()[family] if family else program.abis
    name = _namer(program.sources)
    lines = ["#", f"# pseudo filter code for policy {program.name!r}", "#"]
    for src in program.sources:
        lines.append(f"# source: {one_line(name(src))}")
    for p in progs:
        lines.extend(_abi(p, name))
    lines.append("# default action for other architectures")
    lines.append(f"action {program.bad_arch};")
    lines.append("#")
    lines.append("# pseudo filter code end")
    lines.append("#")
    return "\n".join(lines) + "\n"
