"""Reading manifests: YAML streams, JSON, Lists, stdin, and located errors."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pss_helpers import base_pod, wrap

from seccompiler.base.errors import InputError
from seccompiler.platform.pss import manifests
from seccompiler.platform.pss.manifests import parse_text, read_manifests
from seccompiler.platform.pss.objects import Manifests


def parse(text: str, path: str = "m.yaml") -> Manifests:
    out = Manifests()
    parse_text(text, path, out)
    return out


MULTI = """\
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: ns1}
spec:
  containers: [{name: c, image: x}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    metadata: {annotations: {k: v}}
    spec:
      containers: [{name: c, image: x}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
---
apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: old}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: rc}
spec: {}
"""


def test_multi_document_yaml() -> None:
    m = parse(MULTI)
    assert not m.errors
    got = [(o.kind, o.name, o.namespace, o.resource, str(o.location)) for o in m.objects]
    assert got == [
        ("Pod", "a", "ns1", "pods", "m.yaml:1:1"),
        ("Deployment", "d", None, "deployments.apps", "m.yaml:7:1"),
        ("ReplicationController", "rc", None, "replicationcontrollers", "m.yaml:24:1"),
    ]
    assert m.objects[1].pod is not None and m.objects[1].pod.annotations == {"k": "v"}
    assert m.objects[2].pod is None  # no template: upstream skips it
    assert [(s.kind, s.api_version) for s in m.skipped] == [
        ("ConfigMap", "v1"),
        ("Deployment", "extensions/v1beta1"),
    ]


def test_kubectl_list_and_typed_list() -> None:
    pods = [wrap(base_pod(), "Pod") for _ in range(3)]
    for i, p in enumerate(pods):
        p["metadata"] = {"name": f"p{i}", "namespace": "n"}
    listed = {"apiVersion": "v1", "kind": "List", "items": pods}
    typed = {
        "apiVersion": "v1",
        "kind": "PodList",
        "items": [{"metadata": {"name": "t"}, "spec": pods[0]["spec"]}],
    }
    m = parse(json.dumps(listed), "l.json")
    assert [o.name for o in m.objects] == ["p0", "p1", "p2"]
    assert [o.pointer for o in m.objects] == ["items[0]", "items[1]", "items[2]"]
    m = parse(json.dumps(typed, indent=1), "t.json")
    assert [(o.kind, o.name) for o in m.objects] == [("Pod", "t")]


def test_json_errors_are_located_by_a_second_reading() -> None:
    doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "spec": {"hostPID": "yes"}}
    text = json.dumps(doc, indent=2)
    m = parse(text, "bad.json")
    (err,) = m.errors
    assert err.location is not None
    assert (err.location.path, err.location.line) == ("bad.json", 8)
    assert "spec.hostPID" in err.message and "boolean" in err.message


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ('"ship it \\ud83d\\ude80"', True),  # a surrogate pair: one character, YAML refuses it
        ("1e3", False),  # a number in JSON, a string in YAML 1.1
    ],
)
def test_json_errors_are_those_of_a_reading_as_json(value: str, ok: bool) -> None:
    """The second reading, for the places, reads JSON as JSON: it finds the errors the first
    found, where a reading as YAML found others (or refused the text)."""
    text = (
        '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "annotations":\n'
        f' {{"note": {value}}}}}, "spec": {{"hostPID": "yes"}}}}'
    )
    m = parse(text, "bad.json")
    line = text.split("\n")[1]
    words, at = (
        ("spec.hostPID: expected a boolean, got string", '"yes"')
        if ok  # a pod's first error is its only one: the API server stops decoding there
        else ("metadata.annotations[note]: expected a string, got number", value)
    )
    (error,) = m.errors
    assert (error.message, str(error.location)) == (words, f"bad.json:2:{line.index(at) + 1}")


def test_json_written_by_powershell_is_read_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """A byte order mark and CR LF line ends (`kubectl get -o json | Out-File` in Windows
    PowerShell): JSON still, never read as YAML, its errors placed as without the mark."""
    pods = [_pod(f"p{i}") for i in range(3)]
    pods[1]["spec"]["hostPID"] = "yes"
    pods[2]["metadata"]["annotations"] = {"note": "\U0001f680"}  # written "\ud83d\ude80"
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}, indent=2)

    def as_yaml(*_: object, **__: object) -> None:
        raise AssertionError("JSON read as YAML")

    monkeypatch.setattr(manifests, "load_all_text", as_yaml)
    plain = parse(text, "p.json")
    marked = parse("\ufeff" + text.replace("\n", "\r\n"), "p.json")
    assert [o.name for o in marked.objects] == [o.name for o in plain.objects] == ["p0", "p2"]
    assert [(e.message, str(e.location)) for e in marked.errors] == [
        (e.message, str(e.location)) for e in plain.errors
    ]
    assert str(plain.errors[0].location).startswith("p.json:")


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("kind: Pod\napiVersion: v1\nspec:\n  containers: {}\n", 4, 15, "a list"),
        ("kind: Pod\napiVersion: v1\nspec:\n  hostNetwork: 1\n", 4, 16, "a boolean"),
        (
            "kind: Pod\napiVersion: v1\nspec:\n  containers:\n  - name: c\n    ports:\n"
            "    - hostPort: '80'\n",
            7,
            17,
            "an int32",
        ),
        ("kind: Pod\napiVersion: v1\nmetadata:\n  annotations: {a: 1}\n", 4, 20, "a string"),
        ("kind: Pod\napiVersion: v1\nspec: {a: 1, a: 2}\n", 3, 14, "duplicate key"),
        ("kind: Pod\napiVersion: v1\nspec: [\n", 4, 1, "malformed YAML"),
        ("apiVersion: v1\nmetadata: {}\n", 1, 1, "no kind"),
        ("- 1\n- 2\n", 1, 3, "expected a Kubernetes object"),
    ],
)
def test_errors_name_file_line_column(text: str, line: int, column: int, words: str) -> None:
    m = parse(text, "e.yaml")
    assert m.errors, m.objects
    loc = m.errors[0].location
    assert loc is not None
    assert (loc.path, loc.line, loc.column) == ("e.yaml", line, column)
    assert words in m.errors[0].message


def test_one_bad_object_does_not_hide_the_others() -> None:
    text = MULTI + "---\nkind: Pod\napiVersion: v1\nspec: {hostIPC: maybe}\n"
    m = parse(text)
    assert len(m.objects) == 3 and len(m.errors) == 1


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(MULTI.encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    m = read_manifests(["-"])
    assert [o.location.path for o in m.objects] == ["<stdin>"] * 3


def test_files_and_namespaces(tmp_path: Path) -> None:
    f = tmp_path / "ns.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: {x: 'y'}\n"
        "---\napiVersion: v1\nkind: NamespaceList\nitems:\n- metadata: {name: b}\n"
    )
    m = read_manifests([str(f)])
    assert [(name, dict(labels)) for _, name, labels in m.namespaces] == [
        ("a", {"x": "y"}),
        ("b", {}),
    ]
    # unquoted, y is a boolean to the API server (YAML 1.1), which a label value cannot be
    f.write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: {x: y}\n")
    m = read_manifests([str(f)])
    assert not m.namespaces and len(m.errors) == 1


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_objects_or_located_errors(text: str) -> None:
    m = parse(text, "fuzz.yaml")
    for err in m.errors:
        assert isinstance(err, InputError)
        assert err.location is not None and err.location.path == "fuzz.yaml"


_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_keys = st.sampled_from(
    ["containers", "initContainers", "securityContext", "volumes", "hostPID", "os", "name"]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=4))
def test_any_spec_gives_a_verdict_or_a_located_error(spec: dict[str, object]) -> None:
    from seccompiler.platform.pss.registry import DEFAULT
    from seccompiler.platform.pss.versions import Level, LevelVersion

    doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "f"}, "spec": spec}
    for text in (json.dumps(doc), json.dumps(doc, indent=1)):
        m = parse(text, "f.json")
        for err in m.errors:
            assert err.location is not None and err.location.line > 0
        for obj in m.objects:
            assert obj.pod is not None
            DEFAULT.evaluate(LevelVersion(Level.RESTRICTED), obj.pod)


# Lists are streamed item by item; past the usual size limit only JSON is read, and each
# failing item is read again alone, at its place in the file.
def _pod(name: str, **spec: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _listed(*pods: dict[str, object], kind: str = "List") -> str:
    return json.dumps({"apiVersion": "v1", "items": list(pods), "kind": kind}, indent=4)


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    from seccompiler.platform.pss import manifests

    monkeypatch.setattr(manifests, "DEFAULT_MAX_BYTES", 200)
    return 200


def test_a_large_json_list_is_read_and_its_bad_items_located(small_limit: int) -> None:
    text = _listed(_pod("a", hostPID=True), _pod("b", hostIPC="yes"), _pod("c"))
    assert len(text) > small_limit
    m = parse(text, "big.json")
    assert [(o.name, o.pointer) for o in m.objects] == [("a", "items[0]"), ("c", "items[2]")]
    (err,) = m.errors
    line = text.splitlines().index('                "hostIPC": "yes"') + 1
    assert err.location is not None
    assert (err.location.line, err.location.column) == (line, 28)
    assert "spec.hostIPC" in err.message and "boolean" in err.message
    small = parse(_listed(_pod("b", hostIPC="yes")), "small.json")  # the same, read whole
    assert small.errors[0].message == err.message


def test_only_the_failing_items_of_a_json_list_are_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever its size: the other items stay as the first reading placed them."""
    text = _listed(_pod("a", hostPID=True), _pod("b", hostIPC="yes"), _pod("c"))
    pieces: list[str] = []
    real = manifests.load_located

    def reading(text: str, path: str, start: int = 0, end: int | None = None, **kw: int) -> object:
        pieces.append(text[start:end])
        return real(text, path, start, end, **kw)

    monkeypatch.setattr(manifests, "load_located", reading)
    m = parse(text, "l.json")
    assert len(pieces) == 1 and '"b"' in pieces[0] and '"a"' not in pieces[0]
    assert [(o.name, str(o.location), o.pointer) for o in m.objects] == [
        ("a", "l.json", "items[0]"),
        ("c", "l.json", "items[2]"),
    ]
    (err,) = m.errors
    line = text.splitlines().index('                "hostIPC": "yes"') + 1
    assert (str(err.location), "spec.hostIPC" in err.message) == (f"l.json:{line}:28", True)


def test_a_large_json_syntax_error_is_located(small_limit: int) -> None:
    text = _listed(_pod("a"), _pod("b"))
    cut = text[: len(text) // 2]
    (err,) = parse(cut, "cut.json").errors
    assert err.location is not None and err.location.line == cut.count("\n") + 1
    assert err.message.startswith("malformed JSON")
    (err,) = parse(text.replace('"b"', '"b",,'), "dup.json").errors
    assert err.location is not None and err.location.line > 1


def test_a_large_yaml_file_is_refused(tmp_path: Path, small_limit: int) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(MULTI * 3)
    with pytest.raises(InputError, match="larger than 200 bytes"):
        read_manifests([str(big)])
    (tmp_path / "big.json").write_text(_listed(*[_pod(f"p{i}") for i in range(5)]))
    assert len(read_manifests([str(tmp_path / "big.json")]).objects) == 5
    marked = tmp_path / "marked.json"  # JSON all the same, behind a byte order mark
    marked.write_text("\ufeff" + _listed(*[_pod(f"p{i}") for i in range(5)]))
    assert len(read_manifests([str(marked)]).objects) == 5


@pytest.mark.parametrize(
    ("doc", "names"),
    [
        # A typed List gives its items their kind; a list's kind comes after its items.
        ({"kind": "PodList", "apiVersion": "v1", "items": [{"metadata": {"name": "t"}}]}, ["t"]),
        (
            {"items": [_pod("x")], "kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p"}},
            ["p"],
        ),
        (
            {"apiVersion": "v1", "kind": "List", "items": [{"kind": "List", "items": [_pod("n")]}]},
            ["n"],
        ),
        ({"apiVersion": 3, "kind": "List", "items": [_pod("x")]}, []),
    ],
)
def test_streamed_lists_read_as_whole_ones(doc: dict[str, object], names: list[str]) -> None:
    text = json.dumps(doc)
    m = parse(text, "s.json")
    assert [o.name for o in m.objects] == names
    whole = Manifests()
    from seccompiler.platform.pss.objects import collect

    collect([json.loads(text)], "s.json", whole)
    assert [(o.name, o.pointer, o.kind) for o in m.objects] == [
        (o.name, o.pointer, o.kind) for o in whole.objects
    ]
    assert [e.message for e in m.errors] == [e.message for e in whole.errors]


def test_duplicate_json_keys_are_still_located() -> None:
    text = '{"apiVersion": "v1", "kind": "List", "items": [\n {"kind": "Pod", "kind": "Pod"}]}'
    (err,) = parse(text, "d.json").errors
    assert "duplicate key" in err.message
    assert err.location is not None and err.location.line == 2


KUBECTL_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  name: a
  annotations: {built: 2024-01-01, at: 2024-01-01 10:00:00}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 0o1750, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: a
    image: x
    securityContext:
      <<: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
"""


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ("", None),  # dates stay text, 0o1750 is 1000, the merge key gives both fields
        ("0o1750", None),
        ("1e3", None),  # a float with an integral value decodes as an int
        ("0", "runAsUser=0"),
        ("1:0", "spec.securityContext.runAsUser: expected an int64, got string"),  # no base 60
        (".inf", ".inf is not a number JSON can hold"),
    ],
)
def test_yaml_reads_as_kubectl_reads_it(change: str, error: str | None) -> None:
    from seccompiler.platform.pss.registry import DEFAULT
    from seccompiler.platform.pss.versions import Level, LevelVersion, parse_version

    text = KUBECTL_YAML.replace("0o1750", change) if change else KUBECTL_YAML
    m = parse(text)
    if error is not None and "=" not in error:
        assert any(error in e.message for e in m.errors), m.errors
        assert m.errors[0].location is not None and m.errors[0].location.line == 7
        return
    assert not m.errors
    (obj,) = m.objects
    assert obj.pod is not None and dict(obj.pod.annotations)["built"] == "2024-01-01"
    result = DEFAULT.evaluate(LevelVersion(Level.RESTRICTED, parse_version("latest")), obj.pod)
    details = ", ".join(f.detail for f in result.failures)
    assert (error in details) if error else not result.failures, details
