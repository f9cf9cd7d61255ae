"""Evaluate the admission policies' CEL with a real CEL implementation (cel-python).

Kubernetes adds one thing plain CEL lacks here: ``Object{…}`` / ``Object.spec{…}`` values in a
MutatingAdmissionPolicy's apply configuration, typed against the object's schema. For checking
what an expression produces the type names do not matter, so such constructions evaluate to
plain maps of their fields; everything else is cel-python's standard evaluation.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from seccompiler.base.errors import UsageError

_OBJECT_TYPE = re.compile(r"\bObject(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?=\s*\{)")


def _celpy() -> Any:
    try:
        import celpy
    except ImportError:
        raise UsageError(
            "cel-python is needed to check the admission policies' CEL",
            hint="it is a dependency of seccompiler: pip install 'cel-python>=0.5'",
        ) from None
    return celpy


def _to_python(value: Any) -> Any:
    celtypes = _celpy().celtypes
    if isinstance(value, celtypes.MapType):
        return {str(k): _to_python(v) for k, v in value.items()}
    if isinstance(value, celtypes.ListType | list | tuple):
        return [_to_python(v) for v in value]
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if value is None:
        return None
    if isinstance(value, Exception):
        raise value
    return value


@functools.cache
def _program(expression: str) -> Any:
    """Compile once per expression text: parsing dominates the cost of evaluating."""
    _celpy()  # a clear error when cel-python is missing
    import celpy
    from celpy import celtypes
    from celpy.evaluation import Evaluator, NameContainer

    class _Evaluator(Evaluator):
        def member_object(self, tree: Any) -> Any:
            values = self.visit_children(tree)
            if len(values) == 2 and isinstance(values[0], NameContainer):
                return celtypes.MapType(values[1])
            return super().member_object(tree)

    class _Runner(celpy.InterpretedRunner):
        def evaluate(self, context: Any) -> Any:
            return _Evaluator(ast=self.ast, activation=self.new_activation()).evaluate(context)

    env = celpy.Environment(runner_class=_Runner)
    return env.program(env.compile(expression))


def evaluate(expression: str, activation: Mapping[str, Any]) -> Any:
    """Evaluate ``expression`` with JSON-like ``activation`` values; return a Python value.

    Raises the CEL error (a ``celpy.CELEvalError``) when evaluation fails, as the API server
    would fail the admission request.
    """
    program = _program(expression)
    from celpy import celtypes
    from celpy.adapter import json_to_cel

    bindings: dict[str, Any] = {k: json_to_cel(v) for k, v in activation.items()}
    for name in sorted(set(_OBJECT_TYPE.findall(expression))):
        bindings.setdefault(name, lambda fields: celtypes.MapType(fields or {}))
    return _to_python(program.evaluate(bindings))
