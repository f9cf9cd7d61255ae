"""The fast YAML reading of manifests against the located one: same values, same places.

``pss check`` reads YAML through ``base.yamlfast`` when the text stays in its subset, and
through ``base.yamlsrc`` otherwise. A generated corpus (YAML 1.1 scalars plain and quoted,
both sequence styles, literal block scalars, comments on their own lines and after values,
one-line flow sequences, anchors, flow mappings, multi-document streams,
Lists, duplicate keys,
malformed text, fields of the wrong type) must give identical objects, positions, verdicts
and errors both ways; errors found on the fast path are located by reading their document,
or their List item, again.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from seccompiler.base import yamlfast
from seccompiler.base.errors import InputError
from seccompiler.base.yamlsrc import LList, LMap, load_all_text
from seccompiler.platform.pss import manifests
from seccompiler.platform.pss.evaluate import Judge, fixed_policy
from seccompiler.platform.pss.manifests import parse_text
from seccompiler.platform.pss.objects import Manifests, collect
from seccompiler.platform.pss.versions import Level

# Plain scalars that YAML 1.1 (as the API server reads it) does not take as strings, those
# that look alike but are strings, and (rarer) those that leave the fast reader's subset.
BOOLS = ["y", "Y", "n", "N", "yes", "No", "ON", "off", "true", "False", "TRUE", "~", "null"]
INTS = [
    "0",
    "-0",
    "+1",
    "-1",
    "80",
    "8080",
    "80.0",
    "0x1F",
    "0o17",
    "017",
    "09",
    "0b101",
    "1_000",
    "1:20",
    "190:20:30",
    "9223372036854775808",
    "2147483648",
    "NULL",
    "1e3",
]
STRINGS = [
    "tRue", "1.0e+3", "6.8523015e+5", "2001-12-14",
    "2001-12-14t21:59:43.10-05:00", "RuntimeDefault", "Localhost", "Unconfined", "ALL",
    "NET_RAW", "SYS_ADMIN", "/", "/etc", "a:b", "http://x:80/", "-x", "x-", "a b", "it's",
    "Default", "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "runtime/default",
    "localhost/p", "'q'", '"dq"', "",
]  # fmt: skip
OUTSIDE = ["<<", "*a", "&a x", "!!str 5", "[1, 2]", "{a: 1}", "|", ">",
           "'it''s'", '"e\\n"', "- x", "#c", "x #c", "a #b", "{}", "[]"]  # fmt: skip
NAMES = ["web", "pod-1", "kube-proxy", "it's", "a b", "x-", "-x", "a:b", "'q'", '"dq"', "''"]
# floats JSON cannot hold: the API server cannot read a manifest with one anywhere
NOT_JSON = [".inf", "-.Inf", ".NaN"]
ANY = BOOLS + INTS + STRINGS + NOT_JSON
# Fields the checks read, where the scalars go.
BOOL_FIELDS = ["privileged", "allowPrivilegeEscalation", "runAsNonRoot", "hostProcess"]
POD_BOOLS = ["hostNetwork", "hostPID", "hostIPC", "hostUsers"]
KEYS = ["name", "y", "on", "null", "1", "0x10", "1.5", "'q'", '"dq"', "a.b/c", "2001-01-01",
        # managedFields' field paths, and keys with ':' or indicators inside
        "f:metadata", ".", 'k:{"name":"app"}', "v:80", "1:30", "a:b:c", "x#y", "a,b", "a[0]",
        "f:a.b/c", "http://h", "~", "a:", "-x", "?x", "a b"]  # fmt: skip


BLOCK_LINES = ["echo hi", "a: b", "x #y", "  more", '{"json": [1, 2]}', "- item", "'q'", "# no",
               "tail ", "a  b"]  # fmt: skip


@dataclass(frozen=True)
class Wrapped:
    """A plain or single-quoted scalar wrapped over lines as kubectl's emitter wraps long
    text: its first line, the lines after it, and their extra indent."""

    first: str
    rest: list[str]
    extra: int


# words a wrapped line may start with: indicators too, since only the first line's first
# word opens the scalar (kubectl wraps "--flag=1 --other=2" before "--other=2")
WORDS = ["the", "server", "--flag=1", "a:b", "x#y", "true", "80", "-", "~", "é", "{x}",
         "&a", "*b", "!t", "|", ">", "'q", '"d', "%p", "@at", "?x", ":c", "[1]", "a,b"]  # fmt: skip


def _wrapped(rng: random.Random) -> Wrapped:
    first = rng.choice(["run", "--flag=0", "a:b", "é"])  # a plain scalar's first word
    words = [first, *(rng.choice(WORDS) for _ in range(rng.randint(1, 7)))]
    cut = sorted(rng.sample(range(1, len(words)), rng.randint(1, len(words) - 1)))
    lines = [" ".join(words[a:b]) for a, b in zip([0, *cut], [*cut, len(words)], strict=True)]
    if rng.random() < 0.3:  # single-quoted, as emitters quote text with ': ' or ' #' in it
        lines = [line.replace("'", "''") for line in lines]
        lines[0], lines[-1] = "'" + lines[0], lines[-1] + rng.choice(["'", "'", "' ", "  '"])
        if rng.random() < 0.08:  # an empty line inside: a newline (right after the first
            # line, left to yamlsrc)
            lines.insert(rng.randrange(1, len(lines)), "")
        if rng.random() < 0.04:
            lines[-1] += rng.choice([" x", "'"])  # text after the closing quote: malformed
    elif rng.random() < 0.1:  # now and then what the subset leaves to yamlsrc
        odd = ["", "#c", "p  q", "k: v", "e:", "x #c"]
        lines.insert(rng.randrange(1, len(lines) + 1), rng.choice(odd))
    return Wrapped(lines[0], lines[1:], rng.choice([0, 0, 2]))


@dataclass(frozen=True)
class Block:
    """A block scalar: its header (literal '|', '|-' or folded '>', '>-'), its lines, their
    extra indent."""

    header: str
    lines: list[str]
    extra: int


def _block(rng: random.Random) -> Block:
    lines = [rng.choice(BLOCK_LINES) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.2:  # empty lines inside (read fast), or spaces kept (left to yamlsrc)
        lines.insert(rng.randrange(1, len(lines) + 1), rng.choice(["", "", "", "   "]))
    if rng.random() < 0.15:  # tabs, as in a script or a config file: read fast, except at
        # a line's start in a folded scalar (a more-indented line, which folding keeps apart)
        lines.append(rng.choice(["a\tb", "\tindented", "x\t", "\t", "k:\tv"]))
    if rng.random() < 0.2:
        lines.append("")  # a trailing empty line, which chomping drops
    return Block(rng.choice(["|", "|-", ">", ">-"]), lines, rng.choice([0, 0, 2]))


@dataclass(frozen=True)
class Flow:
    """A flow sequence on one line, as people write ``args: ["sh", "-c"]``."""

    text: str


# odd flow items: most of them left to yamlsrc by the subset, or not valid YAML
FLOW_ODD = ["[1]", "{a: 1}", "a: b", "a:", "?x", "x #y", "", '"e\\n"', "a,", "*x", "&y z"]


def _flow(rng: random.Random, depth: int = 0) -> Flow:
    items = [_flow_text(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    sep = rng.choice([", ", ",", " , ", ",  "])
    inner = sep.join(items) + (rng.choice(["", ",", ", "]) if items else rng.choice(["", " "]))
    pad = rng.choice(["", "", " "])
    return Flow("[" + pad + inner + pad + "]")


def _flow_text(rng: random.Random, depth: int = 0) -> str:
    """A flow item: a scalar, now and then a nested collection, rarely something odd."""
    roll = rng.random()
    if roll < 0.04:
        return rng.choice(FLOW_ODD)
    if roll < 0.12 and depth < 3:
        return _flow_map(rng, depth + 1).text
    if roll < 0.2 and depth < 3:
        return _flow(rng).text
    text = rng.choice(ANY + NAMES + ["sh", "-c", "--x=1", "a b", "a:b", "x#y", "-"])
    return _styled(rng, text, 0.3, 0.6)


def _flow_map(rng: random.Random, depth: int = 0, keys: list[str] | None = None) -> Flow:
    """A flow mapping on one line: ``{drop: [ALL]}``, ``{runAsNonRoot: true}``."""
    names = rng.sample(keys or KEYS, rng.randint(0, min(3, len(keys or KEYS))))
    if rng.random() < 0.03 and names:
        names.append(names[0])  # a key twice
    pairs = [f"{k}: {_flow_text(rng, depth)}" for k in names]
    if rng.random() < 0.03:
        pairs.append(rng.choice(["a", "b:", "? c"]))  # a pair without a value: left to yamlsrc
    sep = rng.choice([", ", ",", " , "])
    inner = sep.join(pairs) + (rng.choice(["", ","]) if pairs else "")
    pad = rng.choice(["", "", " "])
    return Flow("{" + pad + inner + pad + "}")


def _comment(rng: random.Random) -> str:
    """What may follow a value on its line: nothing, blanks, or a comment."""
    if rng.random() < 0.75:
        return rng.choice(["", " "])
    return rng.choice([" # c", "  #c: d", " #", " # 'q' [x]", " # c", "#x"])


def _scalar(rng: random.Random, pool: list[str] = STRINGS) -> str:
    roll = rng.random()
    text = rng.choice(OUTSIDE if roll < 0.01 else ANY if roll < 0.04 else pool)
    return _styled(rng, text, 0.15, 0.25)


def _styled(rng: random.Random, text: str, single: float, double: float) -> str:
    """``text`` single-quoted (a ``single`` share of the time), double-quoted (up to
    ``double``, when it can be without escapes) or plain."""
    style = rng.random()
    if style < single:
        return "'" + text.replace("'", "''") + "'"
    if style < double and '"' not in text and "\\" not in text:
        escape = rng.choice(ESCAPES) if rng.random() < 0.3 else ""
        return f'"{text}{escape}"'
    return text


# escapes in double-quoted scalars: as PyYAML reads them, and some it or libyaml refuses
ESCAPES = ["\\n", "\\t", '\\"', "\\\\", "\\x41", "\\u00e9", "\\U0001F600", "\\/", "\\N", "\\_",
           "\\e", "\\0", "\\ ", "\\L", "\\uD800", "\\u00", "\\q", "\\x4g", "\\u00e9f"]  # fmt: skip


def _pod(rng: random.Random) -> dict[str, Any]:
    sc = {f: _scalar(rng, BOOLS) for f in rng.sample(BOOL_FIELDS, rng.randint(0, 3))}
    if rng.random() < 0.4:
        sc["capabilities"] = {"add": [_scalar(rng)], "drop": [_scalar(rng), "ALL"]}
    elif rng.random() < 0.3:
        sc["capabilities"] = {"add": _flow(rng), "drop": _flow(rng)}
    elif rng.random() < 0.2:
        caps = ["add", "drop"]
        sc["capabilities"] = _flow_map(rng, keys=caps)
    if rng.random() < 0.3:
        sc["seccompProfile"] = {"type": _scalar(rng)}
    if rng.random() < 0.2:
        sc["runAsUser"] = _scalar(rng, INTS)
    container: dict[str, Any] = {"name": _scalar(rng, NAMES), "image": "x"}
    if rng.random() < 0.2:
        container["args"] = [_block(rng), _scalar(rng)]
    elif rng.random() < 0.2:
        container["args"] = _flow(rng)
    if rng.random() < 0.3:
        container["command"] = [_wrapped(rng), _scalar(rng)]
    if rng.random() < 0.2:
        container["workingDir"] = _wrapped(rng)
    if rng.random() < 0.1:  # as people write it on one line
        pairs = [f"{f}: {_scalar(rng, BOOLS)}" for f in rng.sample(BOOL_FIELDS, 2)]
        pairs.append(f"capabilities: {_flow_map(rng, keys=['drop']).text}")
        container["securityContext"] = Flow("{" + ", ".join(pairs) + "}")
    elif sc or rng.random() < 0.1:
        container["securityContext"] = sc or None
    if rng.random() < 0.3:
        container["ports"] = [{"containerPort": "80", "hostPort": _scalar(rng, INTS)}]
    spec: dict[str, Any] = {"containers": [container]}
    for f in rng.sample(POD_BOOLS, rng.randint(0, 2)):
        spec[f] = _scalar(rng, BOOLS)
    if rng.random() < 0.3:
        spec["volumes"] = [{"name": "v", rng.choice(["hostPath", "emptyDir", "nfs"]): None}]
    if rng.random() < 0.2:
        spec["securityContext"] = {"sysctls": [{"name": _scalar(rng), "value": _scalar(rng)}]}
    meta: dict[str, Any] = {"name": _scalar(rng, NAMES)}
    if rng.random() < 0.3:
        meta["annotations"] = {
            rng.choice(KEYS): _scalar(rng) if rng.random() < 0.8 else _block(rng)
        }
    if rng.random() < 0.2:
        meta["namespace"] = _scalar(rng, NAMES)
    kind = rng.choice(["Pod", "Pod", "Pod", "Deployment", "Namespace", "ConfigMap"])
    obj: dict[str, Any] = {"apiVersion": "apps/v1" if kind == "Deployment" else "v1"}
    obj["kind"] = kind
    obj["metadata"] = meta
    if kind == "Deployment":
        obj["spec"] = {"template": {"metadata": {"labels": {"app": "a"}}, "spec": spec}}
    else:
        obj["spec"] = spec
    if rng.random() < 0.05:
        obj[rng.choice(["kind", "spec"])] = "again"  # a duplicate key
    return obj


def _flat(value: Any) -> bool:
    """A mapping of scalars only (and ``None``): one that fits on a line in flow style."""
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(v, str) or v is None for v in value.values())
    )


def _emit(value: Any, indent: int, rng: random.Random, out: list[str], lead: str) -> None:
    """Write ``value`` in block style, with the style choices kubectl and people make."""
    pad = " " * indent
    if isinstance(value, dict):
        first = True
        for k, v in value.items():
            head = lead if first else pad
            first = False
            if rng.random() < 0.03:
                out.append(pad + "# a comment")
            _field(head + k, v, indent, rng, out)
        if not value:
            out.append(lead + "{}")
    elif isinstance(value, list):
        for item in value:
            dash = "-" + " " * rng.choice([1, 1, 1, 3])
            if _flat(item) and rng.random() < 0.2:  # "- {name: a, value: b}", as people write
                item = Flow("{" + ", ".join(f"{k}: {v}" for k, v in item.items()) + "}")
            if isinstance(item, dict | list) and item:
                _emit(item, indent + len(dash), rng, out, pad + dash)
            elif isinstance(item, Block):
                out.append(pad + dash + item.header + _comment(rng))
                out += [_indented(line, indent + 2 + item.extra) for line in item.lines]
            elif isinstance(item, Wrapped):
                out.append(pad + dash + item.first)
                out += [_indented(line, indent + 2 + item.extra) for line in item.rest]
            elif isinstance(item, Flow):
                out.append(pad + dash + item.text + _comment(rng))
            else:
                out.append(pad + dash + ("" if item is None else item + _comment(rng)))
            lead = pad
    else:
        out.append(lead + value)


def _field(head: str, v: Any, indent: int, rng: random.Random, out: list[str]) -> None:
    if isinstance(v, dict) and v:
        out.append(head + ":")
        _emit(v, indent + 2, rng, out, " " * (indent + 2))
    elif isinstance(v, list) and v:
        out.append(head + ":")
        step = rng.choice([0, 2])  # kubectl indents sequences; PyYAML does not
        _emit(v, indent + step, rng, out, " " * (indent + step))
    elif v is None:
        out.append(head + ":" + rng.choice(["", " ", "  # none"]))
    elif isinstance(v, dict | list):
        empty = "{}" if isinstance(v, dict) else "[]"
        if rng.random() < 0.3:  # as helm's toYaml | nindent writes an empty value
            out += [head + ":", " " * (indent + rng.choice([2, 4])) + empty]
        else:
            out.append(head + ": " + empty)
    elif isinstance(v, Block):
        out.append(head + ": " + v.header + _comment(rng))
        out += [_indented(line, indent + 2 + v.extra) for line in v.lines]
    elif isinstance(v, Wrapped):
        out.append(head + ": " + v.first)
        out += [_indented(line, indent + 2 + v.extra) for line in v.rest]
    elif rng.random() < 0.05:  # a value alone on the line after its key
        text = v.text if isinstance(v, Flow) else v
        out += [head + ":" + _comment(rng), " " * (indent + 2) + text + _comment(rng)]
    elif isinstance(v, Flow):
        out.append(head + ": " + v.text + _comment(rng))
    else:
        out.append(head + ": " + v + _comment(rng))


def _indented(line: str, indent: int) -> str:
    return " " * indent + line if line.strip() else line


def _stream(rng: random.Random) -> str:
    docs = []
    for _ in range(rng.randint(1, 3)):
        shape = rng.random()
        if shape < 0.4:
            doc: Any = {"apiVersion": "v1", "kind": "List", "items": []}
            doc["items"] = [_pod(rng) for _ in range(rng.randint(0, 3))]
            if rng.random() < 0.2:
                doc["items"].append({"apiVersion": "v1", "kind": "List", "items": [_pod(rng)]})
        else:
            doc = _pod(rng)
        lines: list[str] = []
        _emit(doc, 0, rng, lines, "")
        if rng.random() < 0.1:
            lines.insert(rng.randrange(len(lines) + 1), "")
        docs.append("\n".join(lines) + "\n")
    lead = rng.choice(["", "", "---\n", "# head\n---\n", "---\n---\n"])
    return lead + rng.choice(["---\n", "---\n\n"]).join(docs) + rng.choice(["", "", "---\n"])


def _located(text: str, path: str) -> Manifests:
    out = Manifests()
    reading = manifests.read_fast
    manifests.read_fast = lambda *_: None  # type: ignore[assignment]
    try:
        parse_text(text, path, out)
    finally:
        manifests.read_fast = reading
    return out


def _fast(text: str, path: str) -> Manifests:
    out = Manifests()
    parse_text(text, path, out)
    return out


def _summary(m: Manifests) -> Any:
    judges = [Judge(fixed_policy(level)) for level in (Level.BASELINE, Level.RESTRICTED)]
    verdicts = [[j.judge(o).violates for j in judges] for o in m.objects if o.pod is not None]
    errors = [(e.message, e.hint, str(e.location)) for e in m.errors]
    objects = [
        (str(o.location), o.pointer, o.kind, o.name, o.namespace, o.resource, o.pod, o.owner_uid)
        for o in m.objects
    ]
    skipped = [(str(s.location), s.pointer, s.api_version, s.kind, s.name) for s in m.skipped]
    namespaces = [(str(loc), name, dict(labels)) for loc, name, labels in m.namespaces]
    return objects, skipped, namespaces, errors, verdicts


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _corpus(count: int, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(count):
        yield _stream(rng)


@pytest.mark.parametrize("seed", range(4))
def test_fast_reading_gives_what_the_located_reading_gives(seed: int) -> None:
    fast_used = 0
    for text in _corpus(150, seed):
        fast = _fast(text, "m.yaml")
        assert _summary(fast) == _summary(_located(text, "m.yaml")), text
        fast_used += yamlfast.read_fast(text, 10**6) is not None and not fast.errors
    # the corpus exercises the fast reader, not only its fallback (a stream with any one
    # construct outside the subset, or an error, counts as not read fast)
    assert fast_used > 20


@pytest.mark.parametrize("seed", range(2))
def test_lines_ending_in_crlf_read_as_the_located_reading_reads_them(seed: int) -> None:
    """A file written on Windows: every line ends in "\r\n", the file may open with a byte
    order mark, one item or value may hold a lone "\r" or another mark; the fast reading
    gives what the located one gives, errors included."""
    rng = random.Random(seed)
    fast_used = 0
    for text in _corpus(150, 40 + seed):
        crlf = text.replace("\n", "\r\n")
        if rng.random() < 0.3:
            crlf = "\ufeff" + crlf
        if rng.random() < 0.1:
            at = rng.randrange(len(crlf) + 1)
            crlf = crlf[:at] + rng.choice(["\r", "\ufeff"]) + crlf[at:]
        _, read = _both_ways(crlf)
        fast_used += not read
    assert fast_used > 12


def _anchored(text: str, rng: random.Random) -> str:
    """``text`` with anchors put on some values and others replaced by aliases of anchors
    before them: within one item, across items and documents, now and then an anchor named
    twice or an alias of a name not yet anchored."""
    lines = text.split("\n")
    places = [n for n, line in enumerate(lines) if ": " in line or line.endswith(":")]
    named: list[str] = []
    for n in sorted(rng.sample(places, min(len(places), rng.randint(1, 4)))):
        line = lines[n]
        cut = line.index(": ") + 2 if ": " in line else len(line)
        head, value = (line[:cut], line[cut:]) if ": " in line else (line + " ", "")
        nxt = lines[n + 1] if n + 1 < len(lines) else ""
        deeper = len(nxt) - len(nxt.lstrip(" ")) > len(line) - len(line.lstrip(" "))
        if named and value and not deeper and rng.random() < 0.5:
            name = rng.choice(named) if rng.random() < 0.9 else "nowhere"
            lines[n] = f"{head}*{name}"
        else:
            name = rng.choice(named) if named and rng.random() < 0.1 else f"a{len(named)}"
            named.append(name)
            lines[n] = f"{head}&{name} {value}".rstrip(" ")
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(2))
def test_anchors_and_aliases_read_as_the_located_reading_reads_them(seed: int) -> None:
    rng = random.Random(seed)
    alone = 0
    for text in _corpus(150, 60 + seed):
        text = _anchored(text, rng)
        fast, read = _both_ways(text)
        alone += not fast.errors and bool(read) and max(read) < len(text.strip("\n"))
    assert alone > 8  # items and documents with anchors read alone, not the whole file


def _edit_lines(text: str, rng: random.Random) -> str:
    """``text`` with a few lines edited as hands and tools break YAML: a line written twice or
    dropped, indented or dedented, joined to the next, its value moved to a line of its own,
    or an indicator put into it."""
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        line, how = lines[i], rng.randrange(7)
        pad = len(line) - len(line.lstrip(" "))
        if how == 0:
            lines.insert(i, line)
        elif how == 1 and len(lines) > 1:
            del lines[i]
        elif how == 2:
            lines[i] = " " * rng.choice([1, 2, 4]) + line
        elif how == 3 and pad:
            lines[i] = line[min(pad, rng.choice([1, 2])) :]
        elif how == 4 and i + 1 < len(lines):
            lines[i] = line + " " + lines.pop(i + 1).lstrip(" ")
        elif how == 5 and ": " in line:
            lines[i] = line.replace(": ", ":\n" + " " * (pad + rng.choice([2, 4])), 1)
        else:
            at = rng.randrange(len(line) + 1)
            bit = rng.choice([" ", ":", "- ", "#", "'", '"', "{}", "[]", "a b:"])
            lines[i] = line[:at] + bit + line[at:]
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(2))
def test_edited_lines_read_as_the_located_reading_reads_them(seed: int) -> None:
    rng = random.Random(seed)
    fast_used = 0
    for text in _corpus(100, 80 + seed):
        edited = _edit_lines(text, rng)
        _both_ways(edited)
        fast_used += yamlfast.read_fast(edited, 10**6) is not None
    assert fast_used > 10  # edits the fast reader takes, not only those libyaml refuses


def _no_places(m: Manifests) -> Any:
    """A summary without the places of objects (a JSON List's are its pointers)."""
    objects, skipped, namespaces, errors, verdicts = _summary(m)
    return (
        [o[1:] for o in objects],
        [o[1:] for o in skipped],
        namespaces and [n[1:] for n in namespaces],
        errors,
        verdicts,
    )


def test_json_errors_are_placed_as_the_located_yaml_reader_places_them() -> None:
    """JSON with errors is read a second time, as JSON, for their places: where YAML reads
    the same values (no surrogate pairs, numbers with exponents or YAML's other line breaks),
    the errors, places and all, are those a located YAML reading gives."""
    rng = random.Random(7)
    with_errors = 0
    for text in _corpus(120, 70):
        try:
            docs = list(load_all_text(text, "m.yaml", kubernetes=True))
        except InputError:
            continue
        for doc in docs:
            try:
                js = json.dumps(
                    _plain(doc),
                    indent=rng.choice([None, 1, 2, 4]),
                    ensure_ascii=rng.random() < 0.5,
                    allow_nan=False,
                )
            except (TypeError, ValueError):
                continue  # keys YAML allows and JSON not
            if re.search(r"\\ud[89ab]|[0-9][eE]|[\x85\u2028\u2029]", js, re.IGNORECASE):
                continue
            if rng.random() < 0.3 and '"name": ' in js:  # a key twice
                js = js.replace('"name": ', '"name": 1, "name": ', 1)
            got = Manifests()
            parse_text(js, "m.json", got)
            as_yaml = Manifests()
            try:
                collect(load_all_text(js, "m.json", kubernetes=True), "m.json", as_yaml)
            except InputError as exc:
                as_yaml.errors.append(exc)
            assert _no_places(got) == _no_places(as_yaml), js
            with_errors += bool(got.errors)
    assert with_errors > 20


def test_fast_values_and_places_match_the_located_loader() -> None:
    checked = deferred = 0
    for text in _corpus(300, 99):
        fast = yamlfast.read_fast(text, 10**6)
        if fast is None:
            continue
        if fast.deferred:  # List items left to the located reader, read in their place
            if not manifests._read_deferred(text.split("\n"), "m.yaml", fast):
                continue
            deferred += 1
        checked += 1
        located = list(load_all_text(text, "m.yaml", kubernetes=True))
        assert fast.docs == _plain(located), text
        for loc_doc, fast_doc in zip(located, fast.docs, strict=True):
            _same_places(loc_doc, fast_doc, fast.marks, True, text)
    assert checked > 50 and deferred > 3


def _where(fast: Any, marks: Any) -> tuple[int, int]:
    """Where a fast reading places a mapping: its record, or its own mark when the item was
    left to the located reader."""
    if isinstance(fast, LMap):
        return fast.mark.line, fast.mark.column
    return tuple(marks[id(fast)])


def _same_places(loc: Any, fast: Any, marks: Any, placed: bool, text: str) -> None:
    """Every document root and block sequence item that is a mapping has the located
    position (an item of a flow sequence, ``[{…}]``, has none: only objects need one, and a
    reader that finds an object without one reads the text located)."""
    if isinstance(loc, LMap):
        if placed and loc:
            assert _where(fast, marks) == (loc.mark.line, loc.mark.column), text
        for key in loc:
            _same_places(loc[key], fast[key], marks, False, text)
    elif isinstance(loc, LList):
        line = text.split("\n")[loc.mark.line - 1]
        flow = line[loc.mark.column - 1 : loc.mark.column] == "["
        for i, item in enumerate(loc):
            if isinstance(item, LMap) and item and not flow:
                where = loc.where(i)
                assert _where(fast[i], marks) == (where.line, where.column), text
            _same_places(item, fast[i], marks, not flow, text)


MANAGED = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata:
    managedFields:
    - apiVersion: v1
      fieldsType: FieldsV1
      fieldsV1:
        f:metadata:
          f:labels:
            .: {}
            f:app: {}
        f:spec:
          f:containers:
            k:{"name":"app"}:
              .: {}
              f:image: {}
              f:ports:
                k:{"containerPort":80,"protocol":"TCP"}:
                  .: {}
      manager: kubectl-client-side-apply
      operation: Update
      time: "2024-05-01T10:00:00Z"
    name: web
  spec:
    containers:
    - image: nginx
      name: app
"""


def test_managed_fields_are_read_fast() -> None:
    """``kubectl get -o yaml --show-managed-fields`` (and older kubectl) writes field paths
    as keys: the fast reader takes them, with the located values and places."""
    text = MANAGED + MANAGED.split("items:\n", 1)[1]  # two items
    fast = yamlfast.read_fast(text, 10**6)
    assert fast is not None
    located = list(load_all_text(text, "m.yaml", kubernetes=True))
    assert fast.docs == _plain(located)
    _same_places(located[0], fast.docs[0], fast.marks, True, text)
    assert _summary(_fast(text, "m.yaml")) == _summary(_located(text, "m.yaml"))


@pytest.mark.parametrize(
    "text",
    [
        "a: &x {b: 1}\nc: *x\n",  # anchors and aliases
        "a: !!str 5\n",  # tags
        "a: {b}\n",  # a key without a value
        "a: [b: 1]\n",  # a pair in a flow sequence
        "a: [1,\n  2]\n",  # a flow sequence over lines
        "a: >\n  text\n    more\n",  # a more-indented line in a folded scalar
        "a: |\n\n  x\n",  # an empty line before a literal one's first
        "a: |\n  x\n     \n  y\n",  # a line of spaces beyond a literal one's indentation
        "a: |+\n  x\n",  # a literal scalar that keeps its final empty lines
        "a: |2\n   x\n",  # an indentation indicator
        "a: one\n\n  two\n",  # a plain scalar over lines with an empty one between
        "a: one\n  #c\n",  # a comment inside
        "a: one\n  two  three\n",  # spaces kept inside
        "a: 'one'\n  two\n",  # a quoted scalar over two lines
        'a: "\\ud800"\n',  # an escape for half a surrogate pair
        'a: "x\\\n  y"\n',  # a double-quoted scalar over lines
        "a: b # c\n  d\n",  # a plain scalar going on after a comment
        "a:\tb\n",  # a tab
        "a: b\r\nc: d\r\n",  # other line breaks
        "a: b\na: c\n",  # a duplicate key
        "? a\n: b\n",  # a complex key
        "%YAML 1.1\n---\na: b\n",  # a directive
        "a: b\n...\n",  # a document end
        "- - a\n",  # a sequence in a sequence on one line
        "- a  b:\n",  # a key with spaces inside and no value, after a dash
        "a:\n  b c:\n",  # the same on the line after a key
        "a: .inf\n",  # a float JSON cannot hold: yamlsrc says where
        "<<: {a: 1}\n",  # a merge key
        "a: [\n",  # malformed
        "a: b\n c: d\n",  # malformed
        "a:\n" + "".join(f"{' ' * (2 * i)}- b:\n" for i in range(1, 80)),  # deep
    ],
)
def test_outside_the_subset_is_left_to_the_located_reader(text: str) -> None:
    assert yamlfast.read_fast(text, 10**6) is None


def _fast_counting_located(text: str) -> tuple[Manifests, list[int]]:
    """The fast reading of ``text``, and the length of each piece the located reader read."""
    read: list[int] = []
    real = manifests.load_all_text

    def located_reading(piece: str, *args: Any, **kwargs: Any) -> Any:
        read.append(len(piece.strip("\n")))
        return real(piece, *args, **kwargs)

    manifests.load_all_text = located_reading  # type: ignore[assignment]
    try:
        return _fast(text, "m.yaml"), read
    finally:
        manifests.load_all_text = real


def _both_ways(text: str) -> tuple[Manifests, list[int]]:
    """``_fast_counting_located``, having checked that it gives what a located reading of the
    whole text gives: objects, places, errors and verdicts."""
    fast, read = _fast_counting_located(text)
    assert _summary(fast) == _summary(_located(text, "m.yaml")), text
    return fast, read


def _pod_list(count: int, spec: Callable[[int], str]) -> str:
    """A List of ``count`` pods; ``spec(i)``: the lines of pod i's spec, indented by 4."""
    return "apiVersion: v1\nkind: List\nitems:\n" + "".join(
        f"- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p{i}\n  spec:\n{spec(i)}"
        for i in range(count)
    )


def test_an_error_in_one_item_of_a_list_is_located_by_reading_that_item_again() -> None:
    text = _pod_list(50, lambda i: f"    hostNetwork: {'80' if i == 30 else 'true'}\n")
    fast, read = _both_ways(text)
    assert read and max(read) < len(text) / 20  # the one item, not the List
    assert len(fast.objects) == 49
    (error,) = fast.errors
    assert str(error.location) == f"m.yaml:{4 + 6 * 30 + 5}:18"


@pytest.mark.parametrize("error", [False, True])
def test_a_list_written_on_windows_is_read_fast(error: bool) -> None:
    text = _pod_list(
        50, lambda i: f"    hostNetwork: {'80' if error and i == 30 else 'true'}\n"
    ).replace("\n", "\r\n")
    text = "\ufeff" + text  # as Notepad writes UTF-8
    fast, read = _both_ways(text)
    # without an error nothing is read located; an error is located in the text as written
    if error:
        assert len(read) == 1 and read[0] > len(text) - 2  # the whole file, once
    else:
        assert read == []
    assert len(fast.objects) == 50 - error
    if error:
        assert str(fast.errors[0].location) == f"m.yaml:{4 + 6 * 30 + 5}:18"


def test_aliases_in_many_items_share_the_whole_files_budget() -> None:
    """Each item repeats its own anchored list well within the alias budget, all of them
    together not: the pieces read alone share the file's budget, so the file is refused as
    a reading of it whole refuses it."""
    values = "[" + ", ".join(["1"] * 200) + "]"
    text = _pod_list(40, lambda i: f"    x: &a{i} {values}\n    y: [*a{i}, *a{i}, *a{i}, *a{i}]\n")
    fast, _ = _both_ways(text)
    (error,) = fast.errors
    assert "aliases expand the document" in error.message
    assert not fast.objects


def test_one_anchor_name_in_two_items_is_the_whole_readings_error() -> None:
    """Items read alone are documents of their own; in the List they are one document, in
    which an anchor may be named once."""
    text = _pod_list(
        40, lambda i: ("    x: &a [1]\n" if i in (10, 20) else "") + "    hostNetwork: true\n"
    )
    fast, _ = _both_ways(text)
    (error,) = fast.errors
    assert "duplicate anchor" in error.message


POD_FIELDS = "apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {hostNetwork: true}"


@pytest.mark.parametrize(
    ("text", "located"),
    [
        # a pod's own lists with mappings in flow style: nothing read located
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n"
            "  - {name: c, image: x, ports: [{containerPort: 80, hostPort: 80}]}\n"
            "  volumes: [{name: v, hostPath: {path: /}}]\n",
            False,
        ),
        # a pod written as a flow mapping item of a List: placed at its brace
        ("apiVersion: v1\nkind: List\nitems:\n-   {" + POD_FIELDS + "}\n", False),
        # pods in a flow sequence: objects without a place, so the text is read located
        ("apiVersion: v1\nkind: List\nitems: [{" + POD_FIELDS + "}]\n", True),
    ],
)
def test_mappings_in_sequences_written_in_flow_style(text: str, located: bool) -> None:
    fast, read = _both_ways(text)
    assert yamlfast.read_fast(text, 10**6) is not None
    assert bool(read) is located
    (pod,) = fast.objects  # the checks above compared all of it with the located reading
    assert pod.pod is not None and not fast.errors


def test_without_libyaml_everything_is_read_located(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  hostNetwork: true\n"
    assert yamlfast.read_fast(text, 10**6) is not None
    monkeypatch.delattr(yaml, "CSafeLoader")  # PyYAML built without libyaml
    assert yamlfast.read_fast(text, 10**6) is None
    (pod,) = _fast(text, "m.yaml").objects
    assert str(pod.location) == "m.yaml:1:1"
    assert pod.pod is not None and pod.pod.host_network


@pytest.mark.parametrize(
    ("odd", "other", "alone"),
    [
        ('host: "*.example.com"', "", True),
        ("x: &a [1]\n    y: *a", "", True),  # an anchor and its alias in one item
        ("x: *a", "    x: &a 1\n", False),  # an alias of another item's anchor
    ],
)
def test_an_item_outside_the_subset_is_read_located_alone(
    odd: str, other: str, alone: bool
) -> None:
    """A flow sequence over lines sends its List item, and only it, to the located reader,
    even with a '*' in a string; so do anchors and aliases within one item. An alias of an
    anchor in another item sends the whole file."""
    items = "".join(
        f"- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p{i}\n  spec:\n"
        + ("    args: [a,\n      b]\n    " + odd + "\n" if i == 20 else "")
        + (other if i == 10 else "")
        + "    hostNetwork: true\n"
        for i in range(40)
    )
    text = "apiVersion: v1\nitems:\n" + items + "kind: List\n"
    fast, read = _both_ways(text)
    assert (max(read) < len(text) / 20) is alone
    assert len(fast.objects) == 40


POD_DROPPING = """\
apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: a
    image: x
    securityContext:
      allowPrivilegeEscalation: false
      capabilities:
        drop:
        - |
          ALL"""


@pytest.mark.parametrize(
    "text",
    [
        POD_DROPPING,  # the file ends inside a block scalar, with no line break after it
        POD_DROPPING + "\n",
        POD_DROPPING.replace("metadata: {name: a}", "metadata: &m {name: a}"),  # read located
        POD_DROPPING.replace("metadata: {name: a}", "metadata: &m {name: a}")
        + "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",  # a deferred doc
        "apiVersion: v1\nkind: List\nitems:\n- "  # a List item read alone, located
        + POD_DROPPING.replace("metadata: {name: a}", "metadata: &m {name: a}").replace(
            "\n", "\n  "
        ),
    ],
)
def test_a_block_scalar_closing_a_document_keeps_its_line_break(text: str) -> None:
    """kubectl reads a stream line by line, each ending in a line break, the last one too:
    `drop: [|\\n  ALL]` is "ALL\\n", which drops nothing, read fast, located or in pieces."""
    fast, _ = _both_ways(text)
    (pod,) = [o for o in fast.objects if o.pod is not None]
    assert pod.pod is not None
    assert [c.caps_drop for c in pod.pod.containers] == [("ALL\n",)]
    judge = Judge(fixed_policy(Level.RESTRICTED))
    assert judge.judge(pod).violates
