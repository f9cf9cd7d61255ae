"""Located JSON: json.loads' values, with the places the located YAML reader gives them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seccompiler.base.errors import InputError
from seccompiler.base.jsonsrc import load_located
from seccompiler.base.yamlsrc import MAX_DEPTH, LList, LMap, load_text


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _places(value: Any, out: list[tuple[str, int, int]], at: str = "") -> list[Any]:
    """Every mark under ``value``, by where it points, in order."""
    if isinstance(value, LMap):
        out.append((at, value.mark.line, value.mark.column))
        for k in value:
            out.append((f"{at}.{k}:key", value.key_marks[k].line, value.key_marks[k].column))
            out.append((f"{at}.{k}", value.value_marks[k].line, value.value_marks[k].column))
            _places(value[k], out, f"{at}.{k}")
    elif isinstance(value, LList):
        out.append((at, value.mark.line, value.mark.column))
        for i, item in enumerate(value):
            out.append((f"{at}[{i}]", value.item_marks[i].line, value.item_marks[i].column))
            _places(item, out, f"{at}[{i}]")
    return out


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.sampled_from([None, 0, 1, 2]), st.booleans())
def test_values_are_json_loads_values(value: Any, indent: int | None, ascii_only: bool) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    got = load_located(text, "v.json")
    assert _plain(got) == json.loads(text)
    assert type(_plain(got)) is type(json.loads(text))


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": [true, null, {"c": "d"}], "e": {}}',
        '{\n  "a": [\n    1,\n    "x"\n  ],\n  "b": {"c": {"d": []}}\n}\n',
        '[\n {"name": "a"},\n\t{"name": "b", "v": -1.5}\n]',
        '{"k":"v","l":[[],[[]]]}',
    ],
)
def test_places_are_those_the_located_yaml_reader_gives(text: str) -> None:
    """On JSON that YAML reads alike, every mark is where yamlsrc puts it."""
    assert _places(load_located(text, "v.json"), []) == _places(load_text(text, "v.json"), [])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"note": "ship it \\ud83d\\ude80"}', {"note": "ship it \U0001f680"}),  # YAML refuses
        ('{"runAsUser": 1e3, "x": 1E+2, "y": -0}', {"runAsUser": 1000.0, "x": 100.0, "y": 0}),
        ('{"a": "\\/\\b\\f\\n\\r\\t\\"\\\\"}', {"a": '/\b\f\n\r\t"\\'}),
    ],
)
def test_json_is_read_as_json(text: str, value: dict[str, Any]) -> None:
    got = load_located(text, "v.json")
    assert got == value and [type(v) for v in got.values()] == [type(v) for v in value.values()]


def test_a_piece_is_placed_where_it_stands_in_the_file() -> None:
    text = '{"items": [\n  {"a": 1},\n  {"b":\n     [2, 3]}\n]}'
    start = text.index('{"b"')
    end = text.index("}\n]") + 1
    line_start = text.rfind("\n", 0, start) + 1
    piece = load_located(text, "f.json", start, end, line=3, line_start=line_start)
    whole = load_located(text, "f.json")
    assert piece == {"b": [2, 3]}
    assert _places(piece, []) == _places(whole["items"][1], [])
    assert (piece.value_marks["b"].line, piece.value_marks["b"].column) == (4, 6)


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ('{"a": 1,\n "a": 2}', (2, 2), "duplicate key 'a' (first given at line 1)"),
        ('{"a": [1, 2,]}', (1, 13), "Expecting value"),
        ('{"a" 1}', (1, 6), "Expecting ':' delimiter"),
        ('{"a": 1 "b": 2}', (1, 9), "Expecting ',' delimiter"),
        ("{'a': 1}", (1, 2), "Expecting property name enclosed in double quotes"),
        ('{"a": "b\n"}', (1, 9), "Invalid control character"),
        ('{"a": 1}\n{"b": 2}', (2, 1), "Extra data"),
        ('{"a": NaN}', (1, 7), "Expecting value"),
        ('{"a": "\\ud800"}', (1, 7), "half of a UTF-16 surrogate pair"),
        ('{"a": "x', (1, 7), "Unterminated string"),
        ("[" * (MAX_DEPTH + 2), (1, MAX_DEPTH + 2), f"nesting deeper than {MAX_DEPTH}"),
        ("", (1, 1), "Expecting value"),
        ("[" + "7" * 5000 + "]", (1, 2), "integer string conversion"),
    ],
)
def test_errors_name_line_and_column(text: str, where: tuple[int, int], words: str) -> None:
    with pytest.raises(InputError) as info:
        load_located(text, "e.json")
    loc = info.value.location
    assert loc is not None and (loc.path, loc.line, loc.column) == ("e.json", *where)
    assert words in info.value.message
