"""``seccompiler build``: the bundled profiles → ``dist/``, atomically and reproducibly."""

from __future__ import annotations

import click

from seccompiler.base.fsio import check_output, check_replaceable, replace_tree
from seccompiler.base.inroot import RootDir
from seccompiler.commands.options import DirPath, echo_json, file_json, format_option
from seccompiler.frontend import bundled
from seccompiler.platform.artifacts import dist
from seccompiler.platform.build import build_dist


@click.command("build", short_help="Compile every profile into node and cluster artifacts.")
@click.argument("profiles_dir", required=False, type=click.Path(file_okay=False))
@click.option(
    "-o",
    "--output",
    "outdir",
    default="dist",
    show_default=True,
    type=DirPath(),
    help="Directory to replace with the build.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Rebuild in memory and compare with OUTPUT; exit 1 listing stale files. Writes nothing.",
)
@click.option(
    "--root",
    type=DirPath(),
    help="Also install the node-side files into this node image root at their real paths.",
)
@click.option("--timings", is_flag=True, help="Print the wall time of each stage (stderr).")
@format_option()
def build_cmd(
    profiles_dir: str | None,
    outdir: str,
    check: bool,
    root: str | None,
    timings: bool,
    fmt: str,
) -> int:
    """Compile every profile in PROFILES_DIR (default: the bundled ones) into OUTPUT's artifacts.

    Every output is checked first (filters proved against their policy, manifests against
    their schemas, CEL evaluated); OUTPUT is then replaced whole, so a failing build leaves
    the previous one untouched, and the same sources always give the same bytes. What was
    written (or, with --check, what is stale) goes to standard output, the proofs to
    standard error.
    """
    source = profiles_dir if profiles_dir is not None else str(bundled.directory())
    check_output(outdir, [source], "output directory")
    if not check:
        check_replaceable(outdir, dist.is_ours)  # refused before the build, not after it
    if root is not None:
        with RootDir(root) as node:  # refuse a bad root before anything is written
            if not check:
                node.check_writable()
    result = build_dist(source)
    if timings:
        for stage, seconds in result.timings.stages.items():
            click.echo(f"{seconds * 1000:9.1f} ms  {stage}", err=True)
        click.echo(f"{result.timings.total * 1000:9.1f} ms  total", err=True)
    if check:
        return _check(result.files, outdir, root, fmt)
    if root is not None:
        dist.check_install(result.files, root)  # refused before dist/ is replaced
    replace_tree(outdir, result.files, dist.is_ours)
    for line in result.proofs:
        click.echo(line, err=True)
    installed = dist.install(result.files, root) if root is not None else []
    base = outdir.rstrip("/")
    if fmt == "json":
        echo_json(
            {
                "output": outdir,
                "files": [
                    file_json(f"{base}/{rel}", data) for rel, data in sorted(result.files.items())
                ],
                "installed": [f"{root.rstrip('/')}{path}" for path in installed] if root else [],
                "proofs": [{"profile": name, **r.to_json()} for name, r in result.reports],
                "runtime_checks": result.runtime_checks,
            }
        )
        return 0
    click.echo(f"wrote {len(result.files)} files to {outdir}/")
    for path in installed:
        click.echo(f"installed {(root or '').rstrip('/')}{path}")
    return 0


def _check(files: dict[str, bytes], outdir: str, root: str | None, fmt: str) -> int:
    diffs = [(outdir, d) for d in dist.compare(outdir, files)]
    if root is not None:
        node = {p.lstrip("/"): data for p, data in dist.node_files(files).items()}
        diffs += [(root, d) for d in dist.compare_in_root(root, node)]
    found = [(d.kind, f"{base.rstrip('/')}/{d.path}") for base, d in diffs]
    if fmt == "json":
        echo_json(
            {
                "output": outdir,
                "files": len(files),
                "up_to_date": not diffs,
                "differences": [{"kind": kind, "path": path} for kind, path in found],
            }
        )
    elif not diffs:
        click.echo(f"{outdir}/ is up to date ({len(files)} files)")
    else:
        click.echo(f"stale: {len(diffs)} difference{'s' if len(diffs) != 1 else ''}")
        for kind, path in found:
            click.echo(f"{kind}: {path}")
    return 1 if diffs else 0
