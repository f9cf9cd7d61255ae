"""Untrusted YAML: a result or a located InputError, never a traceback, hang or blow-up."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seccompiler.base.errors import InputError
from seccompiler.base.yamlsrc import (
    MAX_ALIAS_NODES,
    LList,
    LMap,
    load_all_text,
    load_file,
    load_text,
)
from seccompiler.frontend.policy import load_policy

BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}]"
        for i in range(9)
    ]
)


def test_alias_bomb_is_refused_quickly() -> None:
    with pytest.raises(InputError) as info:
        load_text(BOMB, "bomb.yaml")
    assert "too many values" in info.value.message
    assert info.value.location is not None and info.value.location.path == "bomb.yaml"


def _doubling_chain(links: int) -> str:
    lines = ["a0: &a0 [x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, links)]
    return "\n".join(lines) + "\n"


LAUGHS = "\n".join(
    ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


@pytest.mark.parametrize(
    "text", [BOMB, LAUGHS, _doubling_chain(60)], ids=["bomb", "laughs", "chain"]
)
def test_alias_expansion_is_refused_within_a_small_budget(text: str) -> None:
    """Each alias is charged what it repeats before it is expanded: the refusal costs a few MB."""
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as info:
            load_text(text, "bomb.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "too many values" in info.value.message
    assert f"more than {MAX_ALIAS_NODES}" in info.value.message
    assert peak < 16 * 1024 * 1024


def test_aliases_within_the_budget_expand_to_copies() -> None:
    doc = load_text("base: &b [read, write]\nmore: [*b, *b]\n", "ok.yaml")
    assert doc["more"] == [["read", "write"], ["read", "write"]]
    assert doc["more"][0] is not doc["more"][1]


def test_alias_budget_is_counted_per_stream() -> None:
    anchored = "[" + ", ".join(["x"] * 99) + "]"
    doc = "a: &a " + anchored + "\nb: [" + ", ".join(["*a"] * (MAX_ALIAS_NODES // 100 // 2)) + "]\n"
    assert len(list(load_all_text(doc, "one.yaml"))) == 1
    with pytest.raises(InputError):
        list(load_all_text("---\n".join([doc] * 3), "three.yaml"))


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(InputError):
        load_text("a: &a [*a]\n", "r.yaml")


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(InputError):
        load_text("[" * 5000 + "]" * 5000, "deep.yaml")


def test_huge_file_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "huge.yaml"
    p.write_text("# " + "x" * (5 * 1024 * 1024))
    with pytest.raises(InputError) as info:
        load_file(str(p))
    assert "larger than" in info.value.message


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [("a: [1, 2\n", 2, 1), ("a: b: c\n", 1, 5), ("a:\n  - x\n - y\n", 3, 2), ("a: 'open\n", 2, 1)],
)
def test_malformed_yaml_is_located(text: str, line: int, column: int) -> None:
    with pytest.raises(InputError) as info:
        load_text(text, "m.yaml")
    loc = info.value.location
    assert loc is not None and (loc.line, loc.column) == (line, column)
    assert info.value.message.startswith("malformed YAML")


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(InputError) as info:
        load_text("a: 1\nb: 2\na: 3\n", "d.yaml")
    assert info.value.location is not None and info.value.location.line == 3


def test_positions_are_kept() -> None:
    doc = load_text("top:\n  - one\n  - {k: v}\n", "p.yaml")
    assert isinstance(doc, LMap) and isinstance(doc["top"], LList)
    assert doc.where("top").line == 2
    assert doc["top"].where(1).line == 3
    assert doc["top"][1].where("k").column == 9


def test_binary_garbage_is_an_input_error(tmp_path: Path) -> None:
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"seccompiler: 1\n\xff\xfe\x00garbage")
    with pytest.raises(InputError) as info:
        load_policy(p)
    assert info.value.location is not None and info.value.location.line == 2


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{},&*!|>'\"\n #1\t?%@`")), max_size=80))
def test_arbitrary_text_gives_a_value_or_a_located_error(text: str) -> None:
    try:
        load_text(text, "fuzz.yaml")
    except InputError as err:
        assert err.location is not None and err.location.path == "fuzz.yaml"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_policy_text_gives_a_policy_or_an_input_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    p = tmp_path_factory.mktemp("fuzz") / "p.yaml"
    p.write_text(text)
    try:
        load_policy(p)
    except InputError as err:
        assert err.location is not None


@pytest.mark.parametrize(
    ("piece", "line", "column"),
    [
        ("a: b\nc: [d\n", 3, 1),  # a syntax error: libyaml's mark
        ("a: b\nc: \x01\n", 2, 4),  # a character YAML does not allow: the reader's position
        ("a: b\na: c\n", 2, 1),  # the builder's own errors
    ],
)
def test_a_piece_read_alone_places_its_errors_in_the_file(
    piece: str, line: int, column: int
) -> None:
    """A piece that starts on line 11 of its file: every error says the file's line."""
    with pytest.raises(InputError) as info:
        list(load_all_text(piece, "f.yaml", first_line=10))
    loc = info.value.location
    assert loc is not None and (loc.line, loc.column) == (10 + line, column)
