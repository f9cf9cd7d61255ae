"""Turn a Docker, Podman or OCI JSON profile into a policy in our language.

The profile is first resolved for one container (caps, arches, kernel: ``ocijson.resolve``),
so the policy says exactly what that container gets; then syscalls that are treated alike
are grouped into one rule. Our rules apply last-wins, libseccomp's conditional rules
first-match, so a syscall's conditional rules are written in reverse order, after its
unconditional rule. Conditions keep their 64-bit width, as libseccomp compares them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from seccompiler.arch.tables import table
from seccompiler.base.quote import one_line, quoted
from seccompiler.frontend.ocijson import Profile, resolve
from seccompiler.program import Action, ArgCond, Op, Program

# The first line of every imported policy: how a later `import -o` knows the file is ours.
STAMP = re.compile(r"# imported from .+ by seccompiler import")

_Sig = tuple[Action, tuple[tuple[tuple[ArgCond, ...], Action, str], ...], str]


def _flow(items: list[str], prefix: str, width: int = 96) -> list[str]:
    """``prefix[a, b, …]`` as a YAML flow list, wrapped under its first item."""
    pad = " " * (len(prefix) + 1)
    lines: list[str] = []
    cur = prefix + "["
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "]")
        fresh = cur in (prefix + "[", pad)
        candidate = cur + ("" if fresh else " ") + piece
        if len(candidate) > width and not fresh:
            lines.append(cur)
            cur = pad + piece
        else:
            cur = candidate
    if not items:
        cur += "]"
    lines.append(cur)
    return lines


def _cond(c: ArgCond) -> str:
    fields = [f"index: {c.index}", f"op: {c.op.value}", f"value: {c.value:#x}"]
    if c.op is Op.MASKED_EQ:
        fields.append(f"mask: {c.mask:#x}")
    fields.append(f"width: {c.width}")
    return "{" + ", ".join(fields) + "}"


def program_to_policy(program: Program, header: Iterable[str] = (), name: str = "") -> str:
    """Render a program as policy YAML that resolves to the same decisions."""
    abis = [p.abi.name for p in program.abis]
    first = program.abis[0]
    sigs: dict[str, dict[str, _Sig]] = {}
    for p in program.abis:
        for sp in p.syscalls.values():
            if sp.fallback == p.default and not sp.rules:
                continue
            fb_reason = sp.fallback_origin.reason if sp.fallback_origin else ""
            rules = tuple(
                (r.conditions, r.action, r.origin.reason if r.origin else "") for r in sp.rules
            )
            sigs.setdefault(sp.name, {})[p.abi.name] = (sp.fallback, rules, fb_reason)
    groups: dict[tuple[_Sig, tuple[str, ...] | None], list[str]] = {}
    for sc, per_abi in sigs.items():
        present = [a for a in abis if sc in table(a).by_name]
        by_sig: dict[_Sig, list[str]] = {}
        for a in present:
            if a in per_abi:
                by_sig.setdefault(per_abi[a], []).append(a)
        for sig, where in by_sig.items():
            key = (sig, None if where == present else tuple(where))
            groups.setdefault(key, []).append(sc)
    out = [f"# {one_line(h)}" for h in header]
    out += [
        "seccompiler: 1",
        f"name: {quoted(name or program.name)}",
        f"abis: [{', '.join(abis)}]",
        f"default: {first.default}",
        f"unknown: {first.unknown}",
        "rules:",
    ]

    def order(item: tuple[tuple[_Sig, tuple[str, ...] | None], list[str]]) -> tuple[object, ...]:
        (sig, where), names = item
        return (bool(sig[1]), sig[0].rank, sig[0].data, where or (), sorted(names))

    for (sig, only), group in sorted(groups.items(), key=order):
        fallback, rules, reason = sig
        names = sorted(group)
        scope = f"    abis: [{', '.join(only)}]" if only else None
        if fallback != first.default:
            out += _rule(fallback, names, (), scope, reason)
        for conds, action, why in reversed(rules):
            out += _rule(action, names, conds, scope, why)
    if not groups:
        out[-1] = "rules: []"
    return "\n".join(out) + "\n"


def _rule(
    action: Action, names: list[str], conds: tuple[ArgCond, ...], scope: str | None, reason: str
) -> list[str]:
    lines = [f"  - action: {action}"]
    lines += _flow(names, "    syscalls: ")
    if conds:
        lines.append("    args:")
        lines += [f"      - {_cond(c)}" for c in conds]
    if scope:
        lines.append(scope)
    if reason:
        lines.append(f"    reason: {quoted(reason)}")
    return lines


def import_profile(
    profile: Profile,
    *,
    caps: Iterable[str] | None = None,
    abis: list[str] | None = None,
    kernel: str | None = None,
) -> tuple[str, tuple[str, ...]]:
    """The policy text for ``profile``, and the names it had to leave out."""
    res = resolve(profile, caps=caps, abis=abis, kernel=kernel)
    header = [
        f"imported from {one_line(Path(profile.path).name)} by seccompiler import",
        "resolved for capabilities: "
        + (", ".join(sorted(caps)) if caps is not None else "the runtimes' default set")
        + f"; kernel: {kernel or 'any'}",
    ]
    if res.unknown_names:
        header.append(f"left out, no syscall table knows them: {_listed(res.unknown_names)}")
    if profile.unknown_arches:
        header.append(f"arches without an ABI here: {_listed(profile.unknown_arches)}")
    name = Path(profile.path).stem
    return program_to_policy(res.program, header, name), res.unknown_names


def _listed(names: Iterable[str]) -> str:
    """Names from the profile for a comment: each on one line, quoted where it does not print."""
    return ", ".join(one_line(n) for n in names)
