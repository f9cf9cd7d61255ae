"""Read Kubernetes manifests into located pod objects: Pods and the pod templates of workloads.

Input is multi-document YAML (through ``seccompiler.base.yamlsrc``, which keeps positions) or
JSON, from files or standard input (``-``), with ``List`` objects (``kubectl get … -o yaml``)
unpacked. Kinds follow the admission controller's pod-spec resources; other kinds are
skipped and counted. A value the API server could not decode is an ``InputError`` naming
``file:line:col``; reading goes on with the next object so that one report lists them all.

JSON is parsed with the standard library first, since ``kubectl get pods -A -o json`` can
be large; if anything in it is wrong, the file is read again through ``yamlsrc`` so that the
error names its line and column.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from seccompiler.base.errors import InputError, Location
from seccompiler.base.fsio import DEFAULT_MAX_BYTES, read_text
from seccompiler.base.yamlsrc import MAX_NODES, LList, LMap, load_all_text
from seccompiler.platform.pss.model import Pod, decode_pod, fields

STDIN = "-"
MAX_LIST_DEPTH = 8


@dataclass(frozen=True)
class Workload:
    """Where a kind keeps its pod template, and the resource name the API server prints."""

    group: str
    resource: str
    template: tuple[str, ...]  # keys from the object to the template; () for a Pod

    @property
    def qualified(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


# The admission controller's pod-spec resources (admission.go defaultPodSpecResources).
WORKLOADS: dict[str, Workload] = {
    "Pod": Workload("", "pods", ()),
    "PodTemplate": Workload("", "podtemplates", ("template",)),
    "ReplicationController": Workload("", "replicationcontrollers", ("spec", "template")),
    "ReplicaSet": Workload("apps", "replicasets", ("spec", "template")),
    "Deployment": Workload("apps", "deployments", ("spec", "template")),
    "StatefulSet": Workload("apps", "statefulsets", ("spec", "template")),
    "DaemonSet": Workload("apps", "daemonsets", ("spec", "template")),
    "Job": Workload("batch", "jobs", ("spec", "template")),
    "CronJob": Workload("batch", "cronjobs", ("spec", "jobTemplate", "spec", "template")),
}


@dataclass(frozen=True)
class PodObject:
    """A Pod or a workload's pod template, with where it was read."""

    location: Location
    pointer: str  # where in the file: "items[3]", "document 2", "" for a lone document
    kind: str
    name: str
    namespace: str | None
    resource: str  # group-qualified, as the API server names it: "deployments.apps"
    pod: Pod | None  # None when a workload has no template (upstream then skips it)
    owner_uid: str | None = None  # the controller's uid, for the namespace dry-run order

    @property
    def is_pod(self) -> bool:
        return self.kind == "Pod"


@dataclass(frozen=True)
class Skipped:
    location: Location
    pointer: str
    api_version: str
    kind: str
    name: str


@dataclass
class Manifests:
    """What a set of files held: pod objects, other objects, namespaces, and errors."""

    objects: list[PodObject] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    namespaces: list[tuple[Location, str, Mapping[str, str]]] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)


def read_source(path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str, str]:
    """Return (display name, text) for a file, or for standard input when ``path`` is ``-``."""
    if path != STDIN:
        return path, read_text(path, max_bytes)
    data = sys.stdin.buffer.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(f"input is larger than {max_bytes} bytes", location=Location("<stdin>"))
    try:
        return "<stdin>", data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError("input is not valid UTF-8", location=Location("<stdin>", line)) from None


def read_manifests(paths: Sequence[str]) -> Manifests:
    """Read every file (``-`` is standard input) into one ``Manifests``."""
    out = Manifests()
    for path in paths:
        name, text = read_source(path)
        parse_text(text, name, out)
    return out


def parse_text(text: str, path: str, out: Manifests) -> None:
    """Add what ``text`` holds to ``out``; syntax errors end the file, others are collected."""
    if text.lstrip().startswith(("{", "[")):
        try:
            doc = json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            pass  # read it again below, for the position of the problem
        else:
            fast = Manifests()
            _collect([doc], path, fast)
            if not fast.errors:
                _extend(out, fast)
                return
    try:
        _collect(load_all_text(text, path, max(MAX_NODES, len(text))), path, out)
    except InputError as exc:
        out.errors.append(exc)


def _extend(out: Manifests, more: Manifests) -> None:
    out.objects += more.objects
    out.skipped += more.skipped
    out.namespaces += more.namespaces
    out.errors += more.errors


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _collect(docs: Iterable[Any], path: str, out: Manifests) -> None:
    for i, doc in enumerate(docs):
        if doc is not None:
            _object(doc, path, f"document {i + 1}" if i else "", out, None, 0)


def _object(
    obj: Any,
    path: str,
    pointer: str,
    out: Manifests,
    inherit: tuple[str, str] | None,
    depth: int,
    at: Location | None = None,
) -> None:
    """Classify one object, recursing into Lists (``inherit``: a typed list's item type)."""
    loc = obj.mark.location() if isinstance(obj, LMap | LList) else (at or Location(path))
    if isinstance(obj, list):
        for i in range(len(obj)):
            item_at = _item_location(obj, i, path)
            _object(obj[i], path, f"{pointer}[{i}]", out, inherit, depth + 1, item_at)
        return
    if not isinstance(obj, dict):
        out.errors.append(
            InputError(
                "expected a Kubernetes object (a mapping with apiVersion and kind)",
                location=loc,
            )
        )
        return
    try:
        api_version = fields.string(obj, "apiVersion", "apiVersion") or ""
        kind = fields.string(obj, "kind", "kind") or ""
        if inherit is not None:
            api_version = api_version or inherit[0]
            kind = kind or inherit[1]
        if not kind:
            raise InputError(
                "object has no kind",
                hint="every manifest needs apiVersion and kind",
                location=loc,
            )
        items = obj.get("items")
        if kind.endswith("List") and (items is not None or kind == "List"):
            if depth >= MAX_LIST_DEPTH:
                raise InputError("Lists nested too deeply", location=loc)
            seq = fields.sequence(obj, "items", "items")
            item_kind = kind[: -len("List")]
            item_type = None if kind == "List" else (api_version, item_kind)
            for i in range(len(seq)):
                item = f"{pointer}.items[{i}]" if pointer else f"items[{i}]"
                item_at = _item_location(seq, i, path)
                _object(seq[i], path, item, out, item_type, depth + 1, item_at)
            return
        meta = fields.mapping(obj, "metadata", "metadata") or {}
        name = fields.string(meta, "name", "metadata.name") or ""
        if not name:
            name = fields.string(meta, "generateName", "metadata.generateName") or ""
        namespace = fields.string(meta, "namespace", "metadata.namespace")
        group = api_version.rpartition("/")[0]
        if kind == "Namespace" and group == "":
            labels = fields.string_map(meta, "labels", "metadata.labels")
            out.namespaces.append((loc, name, labels))
            return
        workload = WORKLOADS.get(kind)
        if workload is None or workload.group != group:
            out.skipped.append(Skipped(loc, pointer, api_version, kind, name))
            return
        out.objects.append(
            PodObject(
                location=loc,
                pointer=pointer,
                kind=kind,
                name=name,
                namespace=namespace or None,
                resource=workload.qualified,
                pod=_template(obj, workload),
                owner_uid=_controller_uid(meta),
            )
        )
    except InputError as exc:
        out.errors.append(exc)


def _item_location(seq: Any, i: int, path: str) -> Location:
    return seq.where(i).location() if isinstance(seq, LList) else Location(path)


def _template(obj: Mapping[str, Any], workload: Workload) -> Pod | None:
    if not workload.template:
        return decode_pod(
            fields.mapping(obj, "metadata", "metadata"), fields.mapping(obj, "spec", "spec")
        )
    node: Mapping[str, Any] | None = obj
    trail = ""
    for key in workload.template:
        assert node is not None
        node = fields.mapping(node, key, f"{trail}{key}")
        trail += f"{key}."
        if node is None:
            return None
    assert node is not None
    return decode_pod(
        fields.mapping(node, "metadata", f"{trail}metadata"),
        fields.mapping(node, "spec", f"{trail}spec"),
        trail,
    )


def _controller_uid(meta: Mapping[str, Any]) -> str | None:
    refs = meta.get("ownerReferences")
    if not isinstance(refs, list):
        return None
    for ref in refs:
        if isinstance(ref, dict) and ref.get("controller") is True:
            uid = ref.get("uid")
            return uid if isinstance(uid, str) else None
    return None
