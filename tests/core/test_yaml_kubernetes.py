"""YAML as the Kubernetes API server reads it: kubectl turns YAML into JSON with
sigs.k8s.io/yaml over go-yaml v2, which resolves plain scalars by its own table (not YAML
1.1's), keeps timestamps as the text, merges ``<<`` keys, and names JSON fields from keys."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
import yaml

from seccompiler.base.errors import InputError
from seccompiler.base.yamlsrc import (
    MERGE,
    KubernetesDumper,
    go_plain,
    json_key,
    load_all_text,
)

# text → value, by go-yaml v2's resolve(): its word table, then (for a text starting with a
# digit or sign) strconv.ParseInt(text without '_', base 0), ParseUint, then its float
# syntax; a text starting with '.' as ParseFloat reads it; anything else a string.
PLAIN = [
    ("yes", True), ("Y", True), ("y", True), ("ON", True), ("True", True),
    ("n", False), ("No", False), ("off", False), ("FALSE", False),
    ("~", None), ("null", None), ("NULL", None), ("", None),
    ("tRue", "tRue"), ("nO", "nO"),
    ("0", 0), ("-0", 0), ("+1", 1), ("1_000", 1000), ("1__0", 10),
    ("0x1F", 31), ("0X1f", 31), ("0o1750", 1000), ("0O17", 15), ("0755", 493), ("00", 0),
    ("0b101", 5), ("-0b101", -5), ("+0b1", 1), ("0_7", 7),
    ("08", 8.0), ("09", 9.0),  # not octal: ParseInt fails, the float syntax takes it
    ("1e3", 1000.0), ("1.5e3", 1500.0), ("1.e5", 100000.0), ("+.5", 0.5), (".5", 0.5),
    (".5e3", 500.0), ("80.0", 80.0), ("0.1", 0.1),
    ("9223372036854775807", 2**63 - 1), ("9223372036854775808", 2**63),  # uint64
    ("18446744073709551615", 2**64 - 1), ("18446744073709551616", float(2**64)),
    ("-9223372036854775809", -float(2**63)),
    ("1e999", "1e999"), (".1e999", ".1e999"),  # out of float64's range: strings
    ("1:20", "1:20"), ("190:20:30", "190:20:30"),  # YAML 1.1's base 60 is not go-yaml's
    ("2001-12-14", "2001-12-14"), ("2001-12-14 21:59:43.10", "2001-12-14 21:59:43.10"),
    ("2001-13-45", "2001-13-45"),
    ("0x", "0x"), ("0x_", "0x_"), ("_1", "_1"), ("-", "-"), (".", "."), ("=", "="),
    ("0x1p3", "0x1p3"), ("1,000", "1,000"), ("Inf", "Inf"), ("nan", "nan"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "value"), PLAIN)
def test_plain_scalars_resolve_as_go_yaml_v2_resolves_them(text: str, value: Any) -> None:
    got = go_plain(text)
    assert got == value and type(got) is type(value), (text, got)
    if text == "-":
        return  # after a key, '-' opens a sequence
    # and the located reader builds the same value from a document
    assert list(load_all_text(f"a: {text}\n", "m.yaml", kubernetes=True)) == [{"a": value}]


@pytest.mark.parametrize("text", [".inf", "-.Inf", "+.INF", ".NaN", ".nan"])
def test_floats_json_cannot_hold_are_refused_where_they_are(text: str) -> None:
    assert math.isnan(go_plain(text)) or math.isinf(go_plain(text))
    with pytest.raises(InputError) as err:
        list(load_all_text(f"a: 1\nb:\n  c: {text}\n", "m.yaml", kubernetes=True))
    assert (err.value.location.line, err.value.location.column) == (3, 6)  # type: ignore[union-attr]
    assert f"{text} is not a number JSON can hold" in err.value.message


def test_merge_key_text_is_merge() -> None:
    assert go_plain("<<") is MERGE
    # as a value, '<<' is only its text
    assert list(load_all_text("a: <<\n", "m.yaml", kubernetes=True)) == [{"a": "<<"}]


# key → the JSON object's field name sigs.k8s.io/yaml gives it (floats: Go's
# strconv.FormatFloat(f, 'g', -1, 32))
KEYS = [
    ("name", "name"), (True, "true"), (False, "false"), (1, "1"), (-5, "-5"),
    (2**63 - 1, str(2**63 - 1)),
    (1.0, "1"), (1.5, "1.5"), (1e3, "1000"), (0.1, "0.1"), (123456.0, "123456"),
    (1e6, "1e+06"), (1234567.0, "1.234567e+06"), (1.5e-5, "1.5e-05"), (0.0001, "0.0001"),
    (-2.5, "-2.5"), (3.14159265, "3.1415927"), (16777217.0, "1.6777216e+07"), (1e20, "1e+20"),
]  # fmt: skip


@pytest.mark.parametrize(("key", "name"), KEYS)
def test_keys_name_fields_as_sigs_yaml_names_them(key: Any, name: str) -> None:
    assert json_key(key) == name


@pytest.mark.parametrize("text", ["~: a\n", "null: a\n", "? \n: a\n", "18446744073709551615: a\n"])
def test_keys_json_cannot_name_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="cannot name a field"):
        list(load_all_text(text, "m.yaml", kubernetes=True))


def _one(text: str) -> Any:
    (doc,) = load_all_text(text, "m.yaml", kubernetes=True)
    return doc


BASE = "base: &b {a: 1, b: 2}\nother: &o {b: 3, c: 4}\n"


def test_a_merge_key_adds_the_keys_of_its_mapping_at_their_own_places() -> None:
    doc = _one(BASE + "x:\n  <<: *b\n  c: 3\n")
    assert doc["x"] == {"a": 1, "b": 2, "c": 3}
    assert doc["x"].where("a").line == 1  # the value's place is the anchored mapping's
    assert doc["x"].where("c").line == 5
    assert _one("x: {<<: {a: 1}, b: 2}\n")["x"] == {"a": 1, "b": 2}


def test_a_key_after_the_merge_sets_its_own_value() -> None:
    doc = _one(BASE + "x:\n  <<: *b\n  a: 9\n")
    assert doc["x"] == {"a": 9, "b": 2}
    assert doc["x"].where("a").line == 5


def test_the_first_mapping_of_a_merged_list_gives_a_key_both_have() -> None:
    assert _one(BASE + "x:\n  <<: [*b, *o]\n")["x"] == {"a": 1, "b": 2, "c": 4}
    assert _one(BASE + "x:\n  <<: [*o, *b]\n")["x"] == {"a": 1, "b": 3, "c": 4}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        # go-yaml v2 lets the merge win here and go-yaml v3 the key: refused
        (BASE + "x:\n  a: 9\n  <<: *b\n", 5, "key 'a' is given at line 4 and by this merge"),
        (BASE + "x:\n  <<: *b\n  <<: *o\n", 5, "duplicate key '<<' (first given at line 4)"),
        (BASE + "x:\n  <<: *b\n  c: 1\n  c: 2\n", 6, "duplicate key 'c'"),
        ("x:\n  <<: 1\n", 2, "takes a mapping or a list of mappings"),
        ("x:\n  <<: [{a: 1}, 2]\n", 2, "takes a mapping or a list of mappings"),
        # an alias of a list, even of mappings, go-yaml refuses to merge
        ("l: &l [{a: 1}]\nx:\n  <<: *l\n", 3, "takes a mapping or a list of mappings"),
    ],
)
def test_merges_kubectl_could_read_two_ways_or_not_at_all_are_refused(
    text: str, line: int, message: str
) -> None:
    with pytest.raises(InputError, match=re.escape(message)) as err:
        _one(text)
    assert err.value.location.line == line  # type: ignore[union-attr]


def test_an_empty_merge_list_merges_nothing() -> None:
    assert _one("x:\n  <<: []\n  q: 2\n") == {"x": {"q": 2}}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (".inf: a\n-.Inf: b\n.NaN: c\n", {".inf": "a", "-.inf": "b", ".nan": "c"}),  # keys
        ("v: !foo bar\n", {"v": "bar"}),  # a local tag: the text
        ("!a b: v\n", {"b": "v"}),
        ("v: !!value =\n", {"v": "="}),
        ("v: !!python/object:os.system x\n", {"v": "x"}),  # nothing is ever constructed
        ("v: !!binary aGVsbG8=\n", {"v": "hello"}),  # go-yaml decodes it into a string
        ("v: !!binary |\n  aGVs\n  bG8=\n", {"v": "hello"}),
        ("v: !!binary /w==\n", {"v": "\ufffd"}),  # no UTF-8: JSON holds U+FFFD
    ],
)
def test_keys_and_tags_read_as_go_yaml_reads_them(text: str, value: object) -> None:
    assert _one(text) == value


def test_merges_are_charged_to_the_alias_budget() -> None:
    lines = ["a0: &a0 {k: v}"] + [
        f"a{i}: &a{i} {{<<: [*a{i - 1}], k{i}: [*a{i - 1}, *a{i - 1}]}}" for i in range(1, 30)
    ]
    with pytest.raises(InputError, match="aliases expand"):
        _one("\n".join(lines) + "\n")


def test_policies_take_no_merge_keys() -> None:
    with pytest.raises(InputError, match="merge keys"):
        list(load_all_text("a: &a {b: 1}\nc: {<<: *a}\n", "p.yaml"))


@pytest.mark.parametrize("text", ["1e3", "0o17", "08", "1:0", "2024-01-01", "n", "yes", "x"])
def test_the_kubernetes_dumper_writes_strings_that_read_back_as_strings(text: str) -> None:
    out = yaml.dump({"a": text}, Dumper=KubernetesDumper)
    assert _one(out) == {"a": text}
    assert yaml.safe_load(out) == {"a": text}  # YAML 1.1 readers too
