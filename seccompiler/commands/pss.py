"""``seccompiler pss``: Pod Security Standards checks, namespace labels, and the guard policy."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import yaml

from seccompiler.base.errors import UsageError
from seccompiler.base.fsio import check_output, check_writable, write_atomic
from seccompiler.commands.cli import render_error
from seccompiler.commands.group import HelpGroup
from seccompiler.commands.options import file_option, format_option, stdout_or_file
from seccompiler.commands.pss_report import check_json, check_summary, check_text
from seccompiler.platform.pss.admission import (
    PodSecurityConfig,
    load_configuration,
    platform_configuration,
)
from seccompiler.platform.pss.evaluate import (
    Judge,
    dry_run_namespace,
    fixed_policy,
    namespace_policy,
)
from seccompiler.platform.pss.guard import NamespaceChange, guard_denials, guard_manifests
from seccompiler.platform.pss.labels import kubectl_command, namespace_manifest, plan_labels
from seccompiler.platform.pss.manifests import read_manifests
from seccompiler.platform.pss.objects import Manifests
from seccompiler.platform.pss.registry import Evaluator
from seccompiler.platform.pss.versions import (
    Level,
    LevelVersion,
    ParseError,
    Version,
    parse_version,
)


def _version(flag: str, text: str) -> Version:
    try:
        return parse_version(text)
    except ParseError as exc:
        raise UsageError(f"{flag} {text!r}: {exc}") from None


def _dump(docs: Sequence[dict[str, Any]]) -> str:
    from seccompiler.base.yamlsrc import KubernetesDumper

    return yaml.dump_all(
        list(docs), Dumper=KubernetesDumper, sort_keys=False, default_flow_style=False
    )


@click.group(
    "pss", cls=HelpGroup, short_help="Pod Security Standards: check, label and guard namespaces."
)
def pss_group() -> None:
    """Pod Security Standards: check manifests, label namespaces, guard against privileged."""


# --- check --------------------------------------------------------------------------------------


def _judge(
    manifests: Manifests,
    level: str | None,
    version: Version,
    namespaces_file: str | None,
    config_file: str | None,
    evaluator: Evaluator,
) -> tuple[Judge, str]:
    if namespaces_file is None and config_file is None:
        lv = LevelVersion(Level(level or "baseline"), version)
        return Judge(fixed_policy(lv.level, lv), evaluator=evaluator), str(lv)
    config: PodSecurityConfig = (
        load_configuration(config_file) if config_file else platform_configuration()
    )
    labels: dict[str, dict[str, str]] = {}
    if namespaces_file is not None:
        ns = read_manifests([namespaces_file])
        if ns.errors:
            raise ns.errors[0]
        labels = {name: dict(lbls) for _, name, lbls in ns.namespaces}
    judge = Judge(namespace_policy(labels, config.defaults), config, evaluator)
    return judge, "each namespace's labels"


@pss_group.command("check", short_help="Check Pods and workload templates against the standards.")
@click.argument("files", nargs=-1, required=True)
@click.option(
    "--level",
    type=click.Choice(["baseline", "restricted"]),
    help="Level to enforce on every object (default baseline, as on this platform).",
)
@click.option(
    "--version",
    "version_text",
    default="latest",
    show_default=True,
    help="Policy version: v1.N or latest.",
)
@file_option(
    "--namespaces",
    "namespaces_file",
    help="Namespace manifests: each object is checked at its namespace's labels.",
)
@file_option(
    "--config",
    "config_file",
    help="PodSecurityConfiguration (or AdmissionConfiguration): cluster defaults, exemptions.",
)
@click.option(
    "--cluster-version",
    help="The API server's minor version (v1.N): newer policy versions are evaluated at it.",
)
@format_option()
def check_cmd(
    files: tuple[str, ...],
    level: str | None,
    version_text: str,
    namespaces_file: str | None,
    config_file: str | None,
    cluster_version: str | None,
    fmt: str,
) -> int:
    """Check Pods and workload templates against the Pod Security Standards.

    FILES are YAML or JSON manifests ('-' reads standard input), including List objects.
    Exit 0 when everything passes, 1 when anything violates or cannot be read.
    """
    version = _version("--version", version_text)
    namespaced = namespaces_file is not None or config_file is not None
    if namespaced and (level is not None or version_text != "latest"):
        raise UsageError(
            "--level/--version and --namespaces/--config are exclusive",
            hint="with --namespaces, levels and versions come from the namespace labels",
        )
    cluster = _version("--cluster-version", cluster_version) if cluster_version else None
    evaluator = Evaluator(cluster=cluster)
    manifests = read_manifests(files)
    judge, label = _judge(manifests, level, version, namespaces_file, config_file, evaluator)
    verdicts = [judge.judge(obj) for obj in manifests.objects]
    summary = check_summary(verdicts, manifests)
    if fmt == "json":
        click.echo(json.dumps(check_json(label, verdicts, manifests, summary), indent=2))
    else:
        check_text(label, verdicts, manifests, summary, namespaced)
    return 1 if summary["violating"] or manifests.errors else 0


# --- label --------------------------------------------------------------------------------------


@pss_group.command("label", short_help="Print the Pod Security labels of a namespace.")
@click.argument("namespace")
@click.option("--level", required=True, help="Enforce level: baseline or restricted.")
@click.option("--version", "version_text", default="latest", show_default=True)
@click.option("--audit", help="Also set the audit level (at the same version).")
@click.option("--warn", help="Also set the warn level (at the same version).")
@click.option(
    "--kubectl", "as_kubectl", is_flag=True, help="Print the kubectl label command instead."
)
@file_option("-o", "--output", help="File to write (default, or '-': standard output).")
@click.option(
    "--check-existing",
    "existing",
    multiple=True,
    help="Manifests of the namespace's pods: warn about those the new level would refuse.",
)
def label_cmd(
    namespace: str,
    level: str,
    version_text: str,
    audit: str | None,
    warn: str | None,
    as_kubectl: bool,
    existing: tuple[str, ...],
    output: str | None,
) -> int:
    """Print the Namespace manifest (or kubectl command) that sets Pod Security labels."""
    target = stdout_or_file(output)
    if target is not None:
        check_output(target, list(existing))
        check_writable(target)
    plan = plan_labels(namespace, level, version_text, audit, warn)
    for note in plan.notes:
        click.echo(f"Warning: {note}", err=True)
    status = 0
    if existing:
        found = read_manifests(existing)
        for err in found.errors:
            click.echo(render_error(err), err=True)
        status = 1 if found.errors else 0
        pods = [o for o in found.objects if (o.namespace or namespace) == namespace]
        enforce = LevelVersion(Level(level), _version("--version", version_text))
        for warning in dry_run_namespace(namespace, enforce, pods):
            click.echo(f"Warning: {warning}", err=True)
    text = kubectl_command(plan) + "\n" if as_kubectl else _dump([namespace_manifest(plan)])
    if target is None:
        click.echo(text, nl=False)
    else:
        write_atomic(target, text)
        click.echo(f"wrote {target}")
    return status


# --- guard --------------------------------------------------------------------------------------

GUARD_FILE = "pod-security-guard.yaml"


def _changes(path: str, old_path: str | None) -> list[tuple[str, NamespaceChange]]:
    found = read_manifests([path])
    if found.errors:
        raise found.errors[0]
    old: dict[str, dict[str, str]] = {}
    if old_path is not None:
        previous = read_manifests([old_path])
        if previous.errors:
            raise previous.errors[0]
        old = {name: dict(labels) for _, name, labels in previous.namespaces}
    return [
        (str(loc), NamespaceChange(name, dict(labels), old.get(name)))
        for loc, name, labels in found.namespaces
    ]


@pss_group.command(
    "guard", short_help="Emit the policy that keeps namespaces at baseline or above."
)
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False),
    help=f"Directory to write {GUARD_FILE} into (default, or '-': standard output).",
)
@click.option("--allow-namespace", "allow", multiple=True, help="Namespace the guard ignores.")
@click.option("--floor-version", help="Refuse enforce-version older than this (v1.N).")
@file_option(
    "--check",
    "check_file",
    help="Apply the guard's rules to these Namespace manifests instead of printing it.",
)
@file_option(
    "--old",
    "old_file",
    help="With --check: the namespaces as they are now (their change is checked as an update).",
)
def guard_cmd(
    out_dir: str | None,
    allow: tuple[str, ...],
    floor_version: str | None,
    check_file: str | None,
    old_file: str | None,
) -> int:
    """Emit the ValidatingAdmissionPolicy that keeps namespaces at baseline or restricted."""
    docs = guard_manifests(allow, floor_version)  # validates the options first
    if old_file is not None and check_file is None:
        raise UsageError("--old needs --check")
    if check_file is not None:
        denied = 0
        changes = _changes(check_file, old_file)
        for where, change in changes:
            for message in guard_denials(change, allow, floor_version):
                denied += 1
                click.echo(
                    f'{where}: namespace "{change.name}": {change.operation} denied: {message}'
                )
        click.echo(f"checked {len(changes)} namespaces: {denied} denials")
        return 1 if denied else 0
    text = _dump(docs)
    if stdout_or_file(out_dir) is None:
        click.echo(text, nl=False)
    else:
        target = Path(out_dir or "") / GUARD_FILE
        check_writable(target)
        write_atomic(target, text)
        click.echo(f"wrote {target}")
    return 0
