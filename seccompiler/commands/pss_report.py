"""How ``seccompiler pss check`` reports: a line per finding, the JSON document, the summary."""

from __future__ import annotations

from typing import Any

import click

from seccompiler.base.errors import InputError
from seccompiler.commands.cli import render_error
from seccompiler.platform.pss.evaluate import Verdict
from seccompiler.platform.pss.objects import Manifests, PodObject
from seccompiler.platform.pss.registry import NEWEST


def _where(obj: PodObject) -> str:
    loc = obj.location
    if loc.line:
        return str(loc)
    return f"{loc.path} ({obj.pointer})" if obj.pointer else loc.path


def _text_lines(verdict: Verdict, namespaced: bool) -> list[str]:
    obj = verdict.obj
    prefix = f"{_where(obj)}: "
    if namespaced:
        prefix += f"namespace {verdict.namespace}: "
    subject = f'{obj.resource} "{obj.name}"'
    error = verdict.error()
    if error is not None:
        return [prefix + error]
    lines = [f"{prefix}{subject}: Warning: {w}" for w in verdict.warnings]
    if verdict.violates and not obj.is_pod and verdict.enforce is not None:
        text = verdict.enforce.warning()
        if text not in verdict.warnings:
            message = verdict.enforce.message()
            lines.append(f"{prefix}{subject}: pods it creates would be forbidden: {message}")
    return lines


def _verdict_json(verdict: Verdict) -> dict[str, Any]:
    obj = verdict.obj
    if verdict.exempt:
        state = "exempt"
    elif obj.pod is None:
        state = "no-template"
    else:
        state = "violates" if verdict.violates else "pass"
    out: dict[str, Any] = {
        "file": obj.location.path,
        "line": obj.location.line or None,
        "column": obj.location.column or None,
        "pointer": obj.pointer,
        "kind": obj.kind,
        "resource": obj.resource,
        "name": obj.name,
        "namespace": verdict.namespace,
        "verdict": state,
    }
    if verdict.exempt:
        out["exempt"] = verdict.exempt
    if verdict.enforce is not None:
        out["enforce"] = str(verdict.enforce.level_version)
        out["evaluated_version"] = str(verdict.enforce.evaluated)
        out["failures"] = [
            {"check": f.check, "reason": f.reason, "detail": f.detail}
            for f in verdict.enforce.failures
        ]
        if verdict.violates:
            out["message"] = verdict.error() or verdict.enforce.warning()
    out["warnings"] = list(verdict.warnings)
    if verdict.audit:
        out["audit"] = verdict.audit
    if verdict.label_errors:
        out["label_errors"] = [str(e) for e in verdict.label_errors]
    return out


def _error_json(err: InputError) -> dict[str, Any]:
    loc = err.location
    return {
        "file": loc.path if loc else None,
        "line": (loc.line or None) if loc else None,
        "column": (loc.column or None) if loc else None,
        "message": err.message,
        "hint": err.hint or None,
    }


def check_summary(verdicts: list[Verdict], manifests: Manifests) -> dict[str, Any]:
    """The counts ``pss check`` ends with."""
    return {
        "objects": len(verdicts),
        "pods": sum(v.obj.is_pod for v in verdicts),
        "templates": sum(not v.obj.is_pod for v in verdicts),
        "violating": sum(v.violates for v in verdicts),
        "with_warnings": sum(bool(v.warnings) for v in verdicts),
        "exempt": sum(bool(v.exempt) for v in verdicts),
        "skipped": len(manifests.skipped),
        "errors": len(manifests.errors),
        "newest_policy": str(NEWEST),
    }


def check_json(
    label: str, verdicts: list[Verdict], manifests: Manifests, summary: dict[str, Any]
) -> dict[str, Any]:
    """The JSON document ``pss check --format json`` prints."""
    return {
        "policy": label,
        "objects": [_verdict_json(v) for v in verdicts],
        "skipped": [
            {
                "file": s.location.path,
                "line": s.location.line or None,
                "kind": s.kind,
                "apiVersion": s.api_version,
                "name": s.name,
            }
            for s in manifests.skipped
        ],
        "errors": [_error_json(e) for e in manifests.errors],
        "summary": summary,
    }


def check_text(
    label: str,
    verdicts: list[Verdict],
    manifests: Manifests,
    summary: dict[str, Any],
    namespaced: bool,
) -> None:
    """Print the report: unreadable input and label errors on stderr, findings and the
    closing count on stdout."""
    for err in manifests.errors:
        click.echo(render_error(err), err=True)
    reported: set[str] = set()
    for verdict in verdicts:
        for line in _text_lines(verdict, namespaced):
            click.echo(line)
        if verdict.label_errors and verdict.namespace not in reported:
            reported.add(verdict.namespace)
            for e in verdict.label_errors:
                click.echo(f'Warning: namespace "{verdict.namespace}": {e}', err=True)
    click.echo(
        f"checked {summary['objects']} objects ({summary['pods']} pods,"
        f" {summary['templates']} templates) at {label}: {summary['violating']} violate,"
        f" {summary['with_warnings']} with warnings, {summary['exempt']} exempt,"
        f" {summary['skipped']} other objects skipped"
        + (f", {summary['errors']} unreadable" if manifests.errors else "")
    )
