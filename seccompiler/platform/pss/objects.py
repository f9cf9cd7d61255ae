"""Kubernetes objects as ``pss`` sees them: Pods and the pod templates of workloads.

``classify`` takes one decoded object (from the located YAML reader, the fast YAML reader or
JSON) and files it as a pod object, a namespace, a skipped kind or an error, unpacking
``List`` objects. Kinds follow the admission controller's pod-spec resources. A value the API
server could not decode is an ``InputError`` naming ``file:line:col``; classifying goes on
with the next object so that one report lists them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from seccompiler.base.errors import InputError, Location
from seccompiler.base.yamlsrc import LList, LMap
from seccompiler.platform.pss.model import Pod, decode_pod
from seccompiler.platform.pss.typed import fields

MAX_LIST_DEPTH = 8
Marks = dict[int, tuple[int, int]]  # id(object) -> (line, column) from the fast reader


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


# A List item whose reading added errors: the item, its pointer and item type, its errors'
# place in the list of errors [first, end).
FailedItem = tuple[Any, str, tuple[str, str] | None, int, int]


class Unplaced(Exception):
    """A fast-read object without a recorded position: read the text located instead."""


def extend(out: Manifests, more: Manifests) -> None:
    out.objects += more.objects
    out.skipped += more.skipped
    out.namespaces += more.namespaces
    out.errors += more.errors


def collect(docs: Iterable[Any], path: str, out: Manifests, marks: Marks | None = None) -> None:
    for i, doc in enumerate(docs):
        if doc is not None:
            classify(doc, path, f"document {i + 1}" if i else "", out, None, 0, None, marks)


def _place(obj: Any, path: str, at: Location | None, marks: Marks | None) -> Location:
    """Where ``obj`` starts: its own mark, the fast reader's record of it, or ``at``."""
    if isinstance(obj, LMap | LList):
        return obj.mark.location()
    if marks is not None and isinstance(obj, dict):
        where = marks.get(id(obj))
        if where is None:
            raise Unplaced
        return Location(path, where[0], where[1])
    return at or Location(path)


def classify(
    obj: Any,
    path: str,
    pointer: str,
    out: Manifests,
    inherit: tuple[str, str] | None,
    depth: int,
    at: Location | None = None,
    marks: Marks | None = None,
    failed: list[FailedItem] | None = None,
) -> None:
    """Classify one object, recursing into Lists (``inherit``: a typed list's item type).

    ``marks``: the positions of a fast reading's objects (``yamlfast``); ``failed`` gets the
    items of this object, when it is a List, whose reading added errors.
    """
    loc = _place(obj, path, at, marks)
    if isinstance(obj, list):
        for i in range(len(obj)):
            item_at = _item_location(obj, i, path)
            classify(obj[i], path, f"{pointer}[{i}]", out, inherit, depth + 1, item_at, marks)
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
        api_version, kind = _type_of(obj, inherit, loc)
        items = obj.get("items")
        if kind.endswith("List") and (items is not None or kind == "List"):
            if depth >= MAX_LIST_DEPTH:
                raise InputError("Lists nested too deeply", location=loc)
            item_type = None if kind == "List" else (api_version, kind[: -len("List")])
            _classify_items(obj, path, pointer, out, item_type, depth, marks, failed)
        else:
            _file_object(obj, pointer, out, api_version, kind, loc)
    except InputError as exc:
        out.errors.append(exc)


def _type_of(
    obj: Mapping[str, Any], inherit: tuple[str, str] | None, loc: Location
) -> tuple[str, str]:
    """The object's apiVersion and kind, a typed List's item type filling in what is missing."""
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
    return api_version, kind


def _classify_items(
    obj: Mapping[str, Any],
    path: str,
    pointer: str,
    out: Manifests,
    item_type: tuple[str, str] | None,
    depth: int,
    marks: Marks | None,
    failed: list[FailedItem] | None,
) -> None:
    """Classify each item of a List; ``failed`` gets those whose reading added errors."""
    seq = fields.sequence(obj, "items", "items")
    for i in range(len(seq)):
        item = f"{pointer}.items[{i}]" if pointer else f"items[{i}]"
        item_at = _item_location(seq, i, path)
        before = len(out.errors)
        classify(seq[i], path, item, out, item_type, depth + 1, item_at, marks)
        if failed is not None and len(out.errors) > before:
            failed.append((seq[i], item, item_type, before, len(out.errors)))


def _file_object(
    obj: Mapping[str, Any], pointer: str, out: Manifests, api_version: str, kind: str, loc: Location
) -> None:
    """File one object that is not a List: a namespace, a pod object or a skipped kind."""
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


def _item_location(seq: Any, i: int, path: str) -> Location:
    return seq.where(i).location() if isinstance(seq, LList) else Location(path)


def _template(obj: Mapping[str, Any], workload: Workload) -> Pod | None:
    if not workload.template:
        return decode_pod(
            fields.mapping(obj, "metadata", "metadata"),
            fields.mapping(obj, "spec", "spec"),
            is_pod=True,
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
