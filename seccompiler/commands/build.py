"""``seccompiler build``: the bundled profiles → ``dist/``, atomically and reproducibly."""

from __future__ import annotations

import click

from seccompiler.base.fsio import check_output, check_replaceable, replace_tree
from seccompiler.base.inroot import RootDir
from seccompiler.commands.options import DirPath
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
@click.option("--timings", is_flag=True, help="Print the wall time of each stage.")
def build_cmd(
    profiles_dir: str | None, outdir: str, check: bool, root: str | None, timings: bool
) -> int:
    """Compile every profile in PROFILES_DIR (default: the bundled ones) into OUTPUT's artifacts.

    Every output is checked first (filters proved against their policy, manifests against
    their schemas, CEL evaluated); OUTPUT is then replaced whole, so a failing build leaves
    the previous one untouched, and the same sources always give the same bytes.
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
        return _check(result.files, outdir, root)
    replace_tree(outdir, result.files, dist.is_ours)
    for line in result.proofs:
        click.echo(line, err=True)
    click.echo(f"wrote {len(result.files)} files to {outdir}/")
    if root is not None:
        for path in dist.install(result.files, root):
            click.echo(f"installed {root.rstrip('/')}{path}")
    return 0


def _check(files: dict[str, bytes], outdir: str, root: str | None) -> int:
    diffs = [(outdir, d) for d in dist.compare(outdir, files)]
    if root is not None:
        node = {p.lstrip("/"): data for p, data in dist.node_files(files).items()}
        diffs += [(root, d) for d in dist.compare_in_root(root, node)]
    if not diffs:
        click.echo(f"{outdir}/ is up to date ({len(files)} files)")
        return 0
    click.echo(f"stale: {len(diffs)} difference{'s' if len(diffs) != 1 else ''}", err=True)
    for base, d in diffs:
        click.echo(f"{d.kind}: {base.rstrip('/')}/{d.path}", err=True)
    return 1
