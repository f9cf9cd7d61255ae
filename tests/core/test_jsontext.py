"""The checks every reader of untrusted JSON makes: each refusal is located at its cause."""

from __future__ import annotations

import pytest

from seccompiler.base import jsontext, yamlsrc
from seccompiler.base.errors import InputError

D = jsontext.MAX_DEPTH

# (name, text, line and column of the error)
REFUSED: list[tuple[str, bytes, int, int]] = [
    ("deep arrays", b"[" * 100_000 + b"]" * 100_000, 1, D + 1),
    ("deep objects", b'{"a":' * (D + 1) + b"1" + b"}" * (D + 1), 1, 5 * D + 1),
    ("deep on line 2", b'{"a":\n ' + b"[" * (D + 5), 2, D + 1),
    ("deep, unclosed", b"[" * 1000, 1, D + 1),
    ("deep after brackets in strings", b'["]]]]",' * (D + 1), 1, 8 * D + 1),
    ("huge int", b'{"files": {}, "x": ' + b"9" * 5000 + b"}", 1, 20),
    ("huge float", b"[1." + b"5" * 5000 + b"]", 1, 2),
    ("lone surrogate", b'{"a": "\\ud800"}', 1, 8),
    ("not UTF-8", b'{"a":\n  "\xff"}', 2, 4),
    ("syntax", b'{"a": [1, 2}', 1, 12),
]

# texts that read: nesting at the limit, and brackets that only strings hold
READ: list[tuple[str, bytes]] = [
    ("at the limit", b"[" * D + b"]" * D),
    ("brackets in strings", b'["' + b"[" * 1000 + b'"]'),
    ("escaped quote before brackets", b'["\\"' + b"[" * 1000 + b'"]'),
    ("many shallow", b"[" + b",".join([b"[1]"] * 1000) + b"]"),
]


@pytest.mark.parametrize(
    ("text", "line", "column"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_refused_at_its_cause(text: bytes, line: int, column: int) -> None:
    with pytest.raises(InputError) as info:
        jsontext.loads_bytes(text, "f.json")
    loc = info.value.location
    assert loc is not None
    assert (loc.path, loc.line, loc.column) == ("f.json", line, column)


@pytest.mark.parametrize("text", [r[1] for r in READ], ids=[r[0] for r in READ])
def test_read_as_json_reads_it(text: bytes) -> None:
    import json

    assert jsontext.loads_bytes(text, "f.json") == json.loads(text)


def test_the_depth_limit_is_the_yaml_readers() -> None:
    assert jsontext.MAX_DEPTH == yamlsrc.MAX_DEPTH
