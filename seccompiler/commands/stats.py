"""``seccompiler stats``: size, path lengths and action-cache coverage of a filter."""

from __future__ import annotations

import json
from typing import Any

import click

from seccompiler.arch.abi import Abi
from seccompiler.base.errors import UsageError
from seccompiler.bpf.emulate import Filter
from seccompiler.bpf.stats import FilterStats, default_mix, filter_stats, load_mix
from seccompiler.commands.options import (
    abi_option,
    caps_option,
    file_option,
    format_option,
    kernel_option,
)
from seccompiler.commands.sources import Source, load


def family_filters(src: Source, layout: str = "runc") -> dict[str, tuple[Filter, tuple[Abi, ...]]]:
    """Each family's filter and ABIs: compiled by us (policy), by libseccomp (JSON), or as given."""
    out: dict[str, tuple[Filter, tuple[Abi, ...]]] = {}
    families = dict.fromkeys(a.family for a in src.abis)
    for fam in families:
        abis = tuple(a for a in src.abis if a.family == fam)
        if src.kind == "bpf":
            out[fam] = (src.filters[fam], abis)
        elif src.kind == "policy":
            from seccompiler.backends.bpf import compile_family

            assert src.program is not None
            out[fam] = (Filter.from_bytes(compile_family(src.program, fam), abis[0].endian), abis)
        else:
            from seccompiler.frontend.ocijson import Profile
            from seccompiler.prove import libseccomp_ref

            assert isinstance(src.profile, Profile)
            if not all(libseccomp_ref.supports(a) for a in abis):
                src.notes.append(
                    f"libseccomp {libseccomp_ref.version()} cannot build a faithful "
                    f"{fam} filter on this machine"
                )
                continue
            ref = libseccomp_ref.build_profile(
                src.profile,
                fam,
                abis=[a.name for a in abis],
                optimize=2 if layout == "tree" else 1,
            )
            if ref.skipped:
                names = ", ".join(sorted({n for _, n in ref.skipped}))
                note = f"libseccomp {libseccomp_ref.version()} skipped: {names}"
                if note not in src.notes:
                    src.notes.append(note)
            out[fam] = (Filter.from_bytes(ref.bpf, abis[0].endian), abis)
    return out


def render_stats(label: str, s: FilterStats) -> list[str]:
    lines = [f"{label}: {s.instructions} instructions, headroom {s.headroom} of 4096"]
    head = (
        f"  {'abi':<12}{'syscalls':>9}{'allowed':>9}  {'path min/mean/max':<19}"
        f"{'weighted':>9}{'cached':>8}{'of allowed':>12}{'of calls':>10}  longest path"
    )
    lines.append(head)
    for a in s.abis:
        path = f"{a.min_path}/{a.mean_path:.1f}/{a.max_path}"
        w = f"{a.weighted_path:.1f}" if a.weighted_path is not None else "-"
        wc = f"{a.weighted_cached_share:.0%}" if a.weighted_cached_share is not None else "-"
        lines.append(
            f"  {a.abi:<12}{a.syscalls:>9}{a.allowed:>9}  {path:<19}{w:>9}{a.cached:>8}"
            f"{a.cached_share:>12.0%}{wc:>10}  {a.max_path_syscall}"
        )
    return lines


def stats_json(label: str, s: FilterStats) -> dict[str, Any]:
    return {
        "filter": label,
        "instructions": s.instructions,
        "headroom": s.headroom,
        "abis": [
            {k: v for k, v in vars(a).items() if k != "paths"} | {"paths": dict(a.paths)}
            for a in s.abis
        ],
    }


@click.command("stats", short_help="Size, path lengths and cache coverage of a filter.")
@click.argument("file", type=click.Path(dir_okay=False))
@abi_option()
@caps_option()
@kernel_option()
@file_option("--mix", help="Syscall mix (name<TAB>count).")
@click.option(
    "--layout",
    type=click.Choice(["runc", "tree"]),
    default="runc",
    help="JSON profiles: libseccomp's default layout (as runc) or its binary tree.",
)
@click.option("--per-syscall", is_flag=True, help="Also list each syscall's path length.")
@format_option()
def stats_cmd(
    file: str,
    abis: tuple[str, ...],
    caps: tuple[str, ...],
    kernel: str | None,
    mix: str | None,
    layout: str,
    per_syscall: bool,
    fmt: str,
) -> int:
    """Instruction count, headroom, path lengths and cache coverage of FILE.

    FILE is a policy (compiled by us), a JSON profile (compiled by libseccomp as runc does)
    or raw BPF (with --abi, unless its arch checks tell).
    """
    src = load(file, abis=abis, caps=caps, kernel=kernel)
    weights = load_mix(mix) if mix else default_mix()
    results = []
    numbered = {  # a policy's syscalls by number (nr:), shown as #480
        p.abi.name: {nr: sp.name for nr, sp in p.syscalls.items() if sp.numbered}
        for p in (src.program.abis if src.program is not None else ())
    }
    for fam, (f, fam_abis) in family_filters(src, layout).items():
        results.append((f"{file} [{fam}]", filter_stats(f, fam_abis, weights, numbered)))
    if not results:
        raise UsageError(
            f"no filter of {file} could be built here: {'; '.join(src.notes)}",
            hint="choose ABIs with --abi",
        )
    if fmt == "json":
        doc = [stats_json(label, s) for label, s in results]
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        for note in src.notes:
            click.echo(f"note: {note}", err=True)
        return 0
    for label, s in results:
        click.echo("\n".join(render_stats(label, s)))
        if per_syscall:
            for a in s.abis:
                for name, steps in sorted(a.paths.items(), key=lambda kv: (-kv[1], kv[0])):
                    click.echo(f"    {a.abi:<12}{name:<28}{steps:>5}")
    for note in src.notes:
        click.echo(f"note: {note}", err=True)
    if weights is None:
        click.echo("note: no syscall mix found; weighted columns left out (use --mix)", err=True)
    return 0
