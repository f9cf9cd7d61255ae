"""``seccompiler syscalls``: look syscall names, numbers and groups up per ABI."""

from __future__ import annotations

import json
from typing import Any

import click

from seccompiler.arch import abi as abimod
from seccompiler.arch import catalog, tables
from seccompiler.base.errors import InputError, SyscallNotFound, UsageError
from seccompiler.commands.options import format_option


def _abis(selected: tuple[str, ...]) -> list[abimod.Abi]:
    if not selected:
        return list(abimod.ABIS.values())
    out = []
    for raw in selected:
        for part in raw.split(","):
            a = abimod.lookup(part)
            if a is None:
                raise UsageError(f"unknown ABI '{part}'", hint=f"known: {', '.join(abimod.ABIS)}")
            out.append(a)
    return out


def _fmt_nr(a: abimod.Abi, nr: int | None) -> str:
    if nr is None:
        return "-"
    return f"{nr - a.nr_offset} ({nr:#x})" if a.is_x32 else str(nr)


def _lookup_name(name: str, abis: list[abimod.Abi]) -> dict[str, Any]:
    if name not in tables.all_names():
        close = tables.suggest(name)
        raise SyscallNotFound(
            f"unknown syscall '{name}'",
            hint=f"did you mean {', '.join(repr(c) for c in close)}?" if close else "",
            name=name,
            suggestions=close,
        )
    groups = sorted(g for g in catalog.groups() if name in catalog.expand_group(g))
    return {
        "name": name,
        "numbers": {a.name: tables.table(a).by_name.get(name) for a in abis},
        "groups": ["@" + g for g in groups],
    }


def _lookup_number(nr: int, abis: list[abimod.Abi]) -> dict[str, Any]:
    found = {}
    for a in abis:
        t = tables.table(a)
        found[a.name] = t.name_of(nr) or t.name_of(nr + a.nr_offset)
    return {"number": nr, "names": found}


def _lookup_group(name: str, abis: list[abimod.Abi]) -> dict[str, Any]:
    g = name[1:]
    if g not in catalog.groups():
        close = tables.suggest(name, frozenset("@" + x for x in catalog.groups()))
        raise InputError(
            f"unknown group '{name}'",
            hint=f"did you mean {', '.join(close)}?" if close else "",
        )
    members = catalog.expand_group(g)
    return {
        "group": name,
        "description": catalog.groups()[g].description,
        "members": {
            m: {
                "reason": why,
                "abis": [a.name for a in abis if m in tables.table(a).by_name],
            }
            for m, why in sorted(members.items())
        },
    }


def _text(r: dict[str, Any], chosen: list[abimod.Abi]) -> list[str]:
    if "numbers" in r:
        head = f"{r['name']}  groups: {' '.join(r['groups']) or '-'}"
        return [head, *(f"  {a.name:<12} {_fmt_nr(a, r['numbers'][a.name])}" for a in chosen)]
    if "names" in r:
        return [str(r["number"]), *(f"  {a.name:<12} {r['names'][a.name] or '-'}" for a in chosen)]
    if "members" in r:
        return [
            f"{r['group']}: {r['description']}",
            *(f"  {m:<24} {info['reason']}" for m, info in r["members"].items()),
        ]
    return [f"{r['group']:<16} {r['size']:>3}  {r['description']}"]


@click.command("syscalls", short_help="Look up syscall names, numbers and groups per ABI.")
@click.argument("queries", nargs=-1)
@click.option("--abi", "abis", multiple=True, metavar="ABI[,ABI…]", help="ABIs to show.")
@format_option()
def syscalls_cmd(queries: tuple[str, ...], abis: tuple[str, ...], fmt: str) -> int:
    """Look up syscall NAMEs, NUMBERs or @GROUPs per ABI (no query: list the groups).

    \b
    seccompiler syscalls openat --abi x86
    seccompiler syscalls 257
    seccompiler syscalls @legacy
    """
    chosen = _abis(abis)
    results: list[dict[str, Any]] = []
    if not queries:
        results = [
            {
                "group": "@" + g.name,
                "description": g.description,
                "size": len(catalog.expand_group(g.name)),
            }
            for g in catalog.groups().values()
        ]
    for q in queries:
        if q.startswith("@"):
            results.append(_lookup_group(q, chosen))
        elif q.isdigit() or q.lower().startswith("0x"):
            try:
                results.append(_lookup_number(int(q, 0), chosen))
            except ValueError:
                raise UsageError(f"'{q}' is not a syscall number") from None
        else:
            results.append(_lookup_name(q, chosen))
    if fmt == "json":
        click.echo(json.dumps({"table": tables.source_stamp(), "results": results}, indent=2))
        return 0
    for r in results:
        for line in _text(r, chosen):
            click.echo(line)
    return 0
