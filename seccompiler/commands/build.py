"""``seccompiler build``: the bundled profiles → ``dist/``, atomically and reproducibly."""

from __future__ import annotations

import click

from seccompiler.build import build_dist
from seccompiler.ioutil import replace_tree


@click.command("build")
@click.argument("profiles_dir", default="profiles", type=click.Path(file_okay=False))
@click.option(
    "-o",
    "--output",
    "outdir",
    default="dist",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Directory to replace with the build.",
)
def build_cmd(profiles_dir: str, outdir: str) -> int:
    """Compile every profile in PROFILES_DIR into OUTPUT, replacing it whole.

    Every filter is proved against its policy first; a failing build leaves the previous
    OUTPUT untouched, and the same sources always give the same bytes.
    """
    result = build_dist(profiles_dir)
    replace_tree(outdir, result.files)
    for line in result.proofs:
        click.echo(line)
    click.echo(f"wrote {len(result.files)} files to {outdir}/")
    return 0
