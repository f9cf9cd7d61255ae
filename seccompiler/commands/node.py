"""``seccompiler node install|label``: put a build onto a node, then mark the node ready."""

from __future__ import annotations

import click

from seccompiler.commands.group import HelpGroup
from seccompiler.commands.options import DirPath
from seccompiler.platform import nodeapi, nodeinstall, yama


@click.group(
    "node", cls=HelpGroup, short_help="Install a build on a node and label the node ready."
)
def node_group() -> None:
    """Install a build's node files on a node and label the node for scheduling."""


@node_group.command(
    "install", short_help="Verify a build against its manifest and install it on a node."
)
@click.option(
    "--from",
    "src",
    required=True,
    type=click.Path(file_okay=False),
    help="The tree `seccompiler build` wrote (with MANIFEST.json).",
)
@click.option(
    "--root",
    default="/",
    show_default=True,
    type=DirPath(),
    help="The node's root directory (the DaemonSet mounts it at /host).",
)
@click.option(
    "--apply-yama",
    is_flag=True,
    help="Also set the running ptrace_scope to the value the sysctl drop-in persists.",
)
@click.option(
    "--proc",
    "proc_root",
    default="/proc",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the node's proc is mounted (for --apply-yama).",
)
def install_cmd(src: str, root: str, apply_yama: bool, proc_root: str) -> int:
    """Verify every file against MANIFEST.json, then install the node files under ROOT.

    All or nothing: a node has the previous set or the new one, whenever the installer
    stops. Installing the same build again changes nothing once the release on the node
    still matches the manifest (a file that differs is restored); links an earlier install
    made that the new build lacks are removed, also after a killed run; any other file is
    left alone. Exit 3 when --apply-yama finds YAMA absent (the files are installed all the
    same).
    """
    outcome = nodeinstall.install(src, root)
    short = outcome.digest[:12]
    if outcome.unchanged:
        click.echo(f"{root}: build {short} already installed; nothing changed")
    else:
        for path in outcome.written:
            click.echo(f"linked {path}")
        for path in outcome.repaired:
            click.echo(f"restored {path}: it differed from MANIFEST.json")
        for path in outcome.removed:
            click.echo(f"removed {path}")
        for path in outcome.collected:
            click.echo(f"removed release {path}")
        click.echo(f"{root}: build {short} installed")
    if apply_yama:
        scope = nodeinstall.release_scope(nodeinstall.load_release(src))
        if scope is None:
            click.echo("the build sets no ptrace scope; nothing to apply", err=True)
            return 1
        try:
            before = yama.write_scope(scope, proc_root)
        except yama.YamaAbsent as err:
            click.echo(f"error: {err.message}\n  hint: {err.hint}", err=True)
            return yama.ABSENT_EXIT
        click.echo(f"ptrace_scope {before} -> {scope}")
    return 0


@node_group.command("label", short_help="Label the node with the build installed on it.")
@click.option("--from", "src", required=True, type=click.Path(file_okay=False))
@click.option("--node", "node_name", required=True, envvar="NODE_NAME", help="The node's name.")
@click.option(
    "--api",
    default=None,
    help="API server URL (default: the in-cluster service, with the pod's service account).",
)
def label_cmd(src: str, node_name: str, api: str | None) -> int:
    """Label the node with the installed build: the gate pods needing a profile wait for."""
    release = nodeinstall.load_release(src)
    labels = nodeinstall.profile_labels(release)
    client = nodeapi.Client.in_cluster() if api is None else nodeapi.Client(api)
    changed = nodeapi.set_node_labels(client, node_name, labels, nodeinstall.PROFILE_LABEL_PREFIX)
    for key, value in sorted(changed.items()):
        click.echo(f"{node_name}: {key}={value if value is not None else '(removed)'}")
    return 0
