"""Text from a hostile input written into our outputs: it stays text, it never becomes policy.

A profile's syscall names, arch names and comments, its file name, and a recorded command
line are copied into comments and quoted scalars. YAML breaks lines at ``\\n``, ``\\r``,
U+0085, U+2028 and U+2029; written raw, a name like ``x\\nbad-arch: allow`` would add a key.
Each row imports (or records) with a hostile text in one place and checks the policy decides
exactly what the same input without it decides, and holds no character that does not print.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostilekit import Outcome

from seccompiler.arch.tables import table
from seccompiler.backends.policy_yaml import import_profile
from seccompiler.base.quote import one_line, quoted
from seccompiler.compile import load_program, render_outputs
from seccompiler.frontend import ocijson
from seccompiler.runner.recorder import aggregate
from seccompiler.runner.recpolicy import render_policy

# Every line break YAML knows, the controls around them, and characters that print but need
# care (quotes, a backslash, one beyond the BMP).
BREAKS = ["\n", "\r", "\r\n", "\x85", "\u2028", "\u2029"]
OTHERS = ["\x00", "\x1b", "\t", "\x0b", "\ufeff", "\u200e", '"', "\\", "\U0001f600", "é"]
PAYLOADS = [f"x{c}bad-arch: allow{c}default: allow{c}#" for c in BREAKS + OTHERS]


def _profile(names: list[str], arches: list[str], comment: str) -> str:
    rule = {"names": ["read", "write", *names], "action": "SCMP_ACT_ALLOW", "comment": comment}
    return json.dumps(
        {"defaultAction": "SCMP_ACT_ERRNO", "architectures": arches, "syscalls": [rule]}
    )


def _filters(policy: str, where: Path) -> dict[str, bytes]:
    """The BPF filters the policy text compiles to: what it decides, and nothing else."""
    where.write_text(policy, encoding="utf-8")
    return render_outputs(load_program(str(where)), ["bpf"])


def _printable(text: str) -> bool:
    return all(line.isprintable() for line in text.split("\n"))


CLEAN = _profile([], ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "")


@pytest.mark.parametrize("payload", PAYLOADS, ids=repr)
@pytest.mark.parametrize("place", ["name", "arch", "comment", "file"])
def test_import_keeps_hostile_text_out_of_the_policy(
    tmp_path: Path, payload: str, place: str
) -> None:
    arches = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    text = _profile(
        [payload] if place == "name" else [],
        arches + ([f"SCMP_ARCH_{payload}"] if place == "arch" else []),
        payload if place == "comment" else "",
    )
    file = f"{payload}.json" if place == "file" else "p.json"
    policy, _ = import_profile(ocijson.parse(text, str(tmp_path / file)))
    clean, _ = import_profile(ocijson.parse(CLEAN, str(tmp_path / "p.json")))
    assert _printable(policy), policy
    assert _filters(policy, tmp_path / "hostile.yaml") == _filters(clean, tmp_path / "clean.yaml")
    if place == "file":
        assert load_program(str(tmp_path / "hostile.yaml")).name == payload


def test_import_cli_leaves_the_injected_key_a_comment(
    tmp_path: Path, hostile: Callable[..., Outcome]
) -> None:
    (tmp_path / "inj.json").write_text(_profile(["x\nbad-arch: allow"], [], ""))
    out = hostile(["import", "inj.json", "-o", "inj.yaml"], cwd=tmp_path)
    assert out.code == 0, out
    lines = (tmp_path / "inj.yaml").read_text().splitlines()
    assert '# left out, no syscall table knows them: "x\\nbad-arch: allow"' in lines
    assert not any(ln.startswith("bad-arch") for ln in lines)


@dataclass
class _Call:
    pid: int
    abi: str
    nr: int
    name: str | None
    args: tuple[int, ...]


@pytest.mark.parametrize("payload", PAYLOADS, ids=repr)
def test_record_keeps_hostile_text_out_of_the_policy(tmp_path: Path, payload: str) -> None:
    nr = table("x86_64").by_name["read"]
    rec = aggregate([_Call(1, "x86_64", nr, "read", (0,) * 6)])
    policy = render_policy(rec, name=payload, command=["sh", "-c", payload, payload])
    clean = render_policy(rec, name="t", command=["sh"])
    assert _printable(policy), policy
    assert _filters(policy, tmp_path / "h.yaml") == _filters(clean, tmp_path / "c.yaml")
    assert load_program(str(tmp_path / "h.yaml")).name == payload


@pytest.mark.parametrize(
    ("text", "comment", "scalar"),
    [
        ("plain name", "plain name", '"plain name"'),
        ("a\nb", '"a\\nb"', '"a\\nb"'),
        ("a\u2028b", '"a\\u2028b"', '"a\\u2028b"'),
        ("a\x85b", '"a\\x85b"', '"a\\x85b"'),
        ("nul\x00", '"nul\\0"', '"nul\\0"'),
        ('say "hi"', 'say "hi"', '"say \\"hi\\""'),
        ("émoji \U0001f600", "émoji \U0001f600", '"émoji \U0001f600"'),
        ("tag \U000e0001", '"tag \\U000e0001"', '"tag \\U000e0001"'),
        ("bad \udcff byte", '"bad \\ufffd byte"', '"bad \\ufffd byte"'),
    ],
)
def test_quoting_table(text: str, comment: str, scalar: str) -> None:
    assert one_line(text) == comment
    assert quoted(text) == scalar


def test_pfc_comments_keep_a_reason_on_its_line(tmp_path: Path) -> None:
    from seccompiler.backends import pfc

    policy = tmp_path / "p.yaml"
    policy.write_text(
        "seccompiler: 1\nname: p\nabis: [x86_64]\ndefault: errno(EPERM)\nrules:\n"
        '  - action: allow\n    syscalls: [read]\n    reason: "a\\naction allow;\\u2028b"\n'
    )
    text = pfc.render(load_program(str(policy)))
    assert _printable(text)
    assert not any(ln.strip() == "action allow;" for ln in text.splitlines())
    assert '# p.yaml:6:13 "a\\naction allow;\\u2028b"' in text
