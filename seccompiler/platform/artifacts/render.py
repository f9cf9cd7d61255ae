"""Byte-stable renderings shared by every artifact: the same input always gives the same bytes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from seccompiler.base.yamlsrc import KubernetesDumper


def canonical_json(obj: Any) -> bytes:
    """JSON with sorted keys, two-space indent and a final newline (diff- and hash-friendly)."""
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


class _Dumper(KubernetesDumper):
    """Block style everywhere; multi-line strings (CEL) as literal blocks so they stay readable."""


def _str(dumper: KubernetesDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def yaml_docs(docs: Iterable[Mapping[str, Any]], header: str = "") -> bytes:
    """A YAML stream of ``docs`` in their construction order (apiVersion and kind first).

    The order of keys is the order the artifact functions build them in, which is fixed, so
    the bytes are too; ``header`` becomes a leading comment.
    """
    body = yaml.dump_all(
        [dict(d) for d in docs],
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        explicit_start=True,
        allow_unicode=True,
        width=100,
    )
    lead = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return (lead + body).encode("utf-8")
