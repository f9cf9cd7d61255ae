"""PFC backend: the resolved program as readable pseudo filter code, in the spirit of
libseccomp's ``seccomp_export_pfc``, with the source position and reason of every decision.

Only syscalls answered differently from the ABI's default are listed; the default and the
answer for numbers the table does not know close each ABI's section.
"""

from __future__ import annotations

from seccompiler.base.quote import one_line
from seccompiler.program import AbiProgram, Origin, Program


def _why(origin: Origin | None) -> str:
    if origin is None:
        return ""
    reason = f" {one_line(origin.reason)}" if origin.reason else ""
    return f"  # {one_line(str(origin))}{reason}"


def _abi(p: AbiProgram) -> list[str]:
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
            lines.append(f"      action {rule.action};{_why(rule.origin)}")
        lines.append(f"    action {sp.fallback};{_why(sp.fallback_origin)}")
    lines.append(f"  # known syscalls not listed above ({len(p.syscalls)} known, up to {p.max_nr})")
    lines.append("  if ($syscall is known)")
    lines.append(f"    action {p.default};")
    lines.append("  # numbers the syscall table does not know")
    lines.append(f"  action {p.unknown};")
    return lines


def render(program: Program, family: str | None = None) -> str:
    """PFC text for one family of the program (default: every ABI)."""
    progs = program.families()[family] if family else program.abis
    lines = ["#", f"# pseudo filter code for policy {program.name!r}", "#"]
    for src in program.sources:
        lines.append(f"# source: {one_line(src)}")
    for p in progs:
        lines.extend(_abi(p))
    lines.append("# default action for other architectures")
    lines.append(f"action {program.bad_arch};")
    lines.append("#")
    lines.append("# pseudo filter code end")
    lines.append("#")
    return "\n".join(lines) + "\n"
