"""Typed access to decoded Kubernetes objects with Go's rules: a wrong type is a located error.

The API server decodes a manifest into typed structs: a missing or null field is the zero
value, and a value of the wrong type is a decoding error. Each accessor here takes a field
by key and returns it typed, or raises a ``DecodeError`` naming the field's path and where
it stands in the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from seccompiler.base.errors import InputError
from seccompiler.base.yamlsrc import LList, LMap


class DecodeError(InputError):
    """A field has a type the API server would refuse to decode."""


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


class _Decoder:
    """Typed field access that names the field path and its position when a type is wrong.

    ``path`` names the field itself (see ``_Lazy`` for the other way).
    """

    def here(self, key: str, path: str) -> str:
        return path

    def fail(
        self, parent: Any, key: str | int, path: str, expected: str, value: Any
    ) -> DecodeError:
        loc = None
        if isinstance(parent, LMap) and isinstance(key, str):
            loc = parent.where(key).location()
        if isinstance(parent, LList) and isinstance(key, int):
            loc = parent.where(key).location()
        return DecodeError(
            f"{path}: expected {expected}, got {_type_name(value)}",
            hint="the API server would reject this manifest as undecodable",
            location=loc,
        )

    def mapping(self, m: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
        value = m.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(m, key, self.here(key, path), "a mapping", value)
        return value

    def sequence(self, m: Mapping[str, Any], key: str, path: str) -> Sequence[Any]:
        value = m.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(m, key, self.here(key, path), "a list", value)
        return value

    def item_map(self, seq: Sequence[Any], i: int, path: str) -> Mapping[str, Any]:
        value = seq[i]
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(seq, i, f"{path}[{i}]", "a mapping", value)
        return value

    def item_str(self, seq: Sequence[Any], i: int, path: str) -> str:
        value = seq[i]
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.fail(seq, i, f"{path}[{i}]", "a string", value)
        return value

    def boolean(self, m: Mapping[str, Any], key: str, path: str) -> bool | None:
        value = m.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise self.fail(m, key, self.here(key, path), "a boolean", value)

    def string(self, m: Mapping[str, Any], key: str, path: str) -> str | None:
        value = m.get(key)
        if value is None or isinstance(value, str):
            return value
        raise self.fail(m, key, self.here(key, path), "a string", value)

    def integer(self, m: Mapping[str, Any], key: str, path: str, bits: int) -> int | None:
        value = m.get(key)
        if value is None:
            return None
        # sigs.k8s.io/yaml turns a YAML 80.0 into the JSON number 80, which decodes as an int.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(m, key, self.here(key, path), f"an int{bits}", value)
        if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise self.fail(m, key, self.here(key, path), f"an int{bits} in range", value)
        return value

    def string_map(self, m: Mapping[str, Any], key: str, path: str) -> Mapping[str, str]:
        value = self.mapping(m, key, path)
        if not value:
            return {}
        for k, item in value.items():
            if item is not None and not isinstance(item, str):
                raise self.fail(value, k, f"{self.here(key, path)}[{k}]", "a string", item)
        return {k: ("" if item is None else item) for k, item in value.items()}


class _Lazy(_Decoder):
    """The same access given the path of the field's parent, joined only when a type is
    wrong: ``decode_pod`` runs for every pod of a large List, and most fields are fine."""

    def here(self, key: str, path: str) -> str:
        return f"{path}.{key}" if path else key


fields = _Decoder()  # typed access by full field path, for the manifest and config readers
lazy_fields = _Lazy()  # the same by the parent's path, for decode_pod
