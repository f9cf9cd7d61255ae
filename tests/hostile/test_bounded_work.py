"""Bounded work: alias bombs, huge lists and huge profiles are refused early, or handled in time.

- YAML alias expansion is charged before it happens, in every reader of YAML: a doubling
  chain or billion laughs is a located error (exit 1) naming the alias budget.
- Caps name the limit that was hit: conditional rules one seccomp filter can hold (value
  lists multiply out), syscall names in one JSON profile, bytes of a JSON profile.
- Large inputs under the caps finish within the case deadline: a 1,000-value list, a diff
  of 1,000 masked rules, a JSON profile of 20,000 entries or naming ``read`` 200,000 times;
  a policy ruling 20,000 syscall numbers by ``nr:`` compiles to BPF in 1 GiB of address space
  (the BPF planner's tables grow with the square of the ranges it plans at once, so it plans
  at most ``tree.PLAN_ITEMS`` ranges at once).
  Their growth with size is measured in bench/bench_scale.py, not here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hostilekit import PROFILE, Outcome, empty_layer, oci_layout

from seccompiler.base.yamlsrc import MAX_ALIAS_NODES
from seccompiler.frontend.ocijson_parse import MAX_NAMES, MAX_PROFILE_BYTES
from seccompiler.frontend.resolve import MAX_SYSCALL_RULES

HEAD = "seccompiler: 1\nname: big\nabis: [x86_64]\ndefault: allow\nrules:\n"


def chain(indent: str = "", links: int = 40) -> str:
    """A doubling chain: each anchor is a list of two aliases of the one before."""
    out = [f"{indent}x0: &a0 [x, x]"]
    out += [f"{indent}x{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, links)]
    return "\n".join(out) + "\n"


def laughs(indent: str = "") -> str:
    out = [f'{indent}a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    out += [
        f"{indent}{c}: &{c} [{', '.join(['*' + p] * 9)}]"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    return "\n".join(out) + "\n"


BOMBS = {"chain": chain, "laughs": laughs}
POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: x}]\n"


def _policy_bomb(tmp: Path, bomb: str) -> list[str | Path]:
    p = tmp / "bomb.yaml"
    p.write_text(BOMBS[bomb]() + HEAD + "  - {action: errno(EPERM), syscalls: [uselib]}\n")
    return [p]


def _pod_bomb(tmp: Path, bomb: str) -> list[str | Path]:
    p = tmp / "pod.yaml"
    p.write_text(POD + "  extra:\n" + BOMBS[bomb]("    "))
    return [p]


def _tests_bomb(tmp: Path, bomb: str) -> list[str | Path]:
    paths = oci_layout(tmp / "img", empty_layer())
    tests = tmp / "tests.yaml"
    tests.write_text(BOMBS[bomb]() + "tests:\n  - {run: [/bin/true]}\n")
    return [paths["index"].parent, "--profile", PROFILE, "--tests", tests]


# (command words, where the bomb goes) for each reader of YAML
READERS: dict[str, tuple[list[str], Callable[[Path, str], list[str | Path]]]] = {
    "compile": (["compile", "--format", "oci", "-o", "OUT"], _policy_bomb),
    "lint": (["lint"], _policy_bomb),
    "diff": (["diff", str(PROFILE)], _policy_bomb),
    "pss check": (["pss", "check"], _pod_bomb),
    "image test": (["image", "test"], _tests_bomb),
}


@pytest.mark.parametrize("bomb", sorted(BOMBS))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_alias_bombs_are_refused_in_every_yaml_reader(
    hostile: Callable[..., Outcome], tmp_path: Path, reader: str, bomb: str
) -> None:
    words, place = READERS[reader]
    argv = [str(tmp_path / "out") if w == "OUT" else w for w in words]
    outcome = hostile([*argv, *place(tmp_path, bomb)], timeout=15)
    # image test, like docker run, answers its own failures with 125
    assert outcome.clean and outcome.code == (125 if reader == "image test" else 1), outcome
    assert f"more than {MAX_ALIAS_NODES} repeated through aliases" in outcome.err, outcome
    assert re.search(r"\.yaml:\d+:\d+: error: aliases expand", outcome.err), outcome


def _values(n: int) -> str:
    return ", ".join(str(i) for i in range(n))


def _rule(action: str, name: str, args: str) -> str:
    return f"  - action: {action}\n    syscalls: [{name}]\n    args: [{args}]\n"


CAPS = {
    "one list": (
        HEAD + _rule("allow", "ioctl", f"{{index: 1, value: [{_values(5000)}]}}"),
        "'ioctl' needs 5000 conditional rules",
        6,
    ),
    "lists multiply": (
        HEAD
        + _rule(
            "errno(EPERM)",
            "ioctl",
            f"{{index: 1, value: [{_values(300)}]}}, {{index: 2, value: [{_values(300)}]}}",
        ),
        "'ioctl' needs 90000 conditional rules",
        6,
    ),
    "many syscalls": (
        HEAD
        + "".join(
            _rule("errno(EPERM)", name, f"{{index: 0, value: [{_values(1500)}]}}")
            for name in ("ioctl", "fcntl", "prctl")
        ),
        "the policy needs 4500 conditional rules",
        12,  # the third rule, which crosses the limit
    ),
}


@pytest.mark.parametrize("case", sorted(CAPS))
def test_policy_caps_say_which_limit_was_hit(
    hostile: Callable[..., Outcome], tmp_path: Path, case: str
) -> None:
    text, message, line = CAPS[case]
    p = tmp_path / "big.yaml"
    p.write_text(text)
    outcome = hostile(["compile", p, "-o", tmp_path / "out"])
    assert outcome.clean and outcome.code == 1, outcome
    assert (
        message in outcome.err
        and f"a seccomp filter holds {MAX_SYSCALL_RULES} instructions" in outcome.err
    )
    assert f"big.yaml:{line}:" in outcome.err, outcome
    assert not (tmp_path / "out").exists()


def _profile(entries: list[dict[str, object]]) -> str:
    return json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": entries})


@pytest.mark.parametrize("command", ["import", "stats"])
def test_json_caps_say_which_limit_was_hit(
    hostile: Callable[..., Outcome], tmp_path: Path, command: str
) -> None:
    names = tmp_path / "names.json"
    entry = {"names": ["read"] * 1000, "action": "SCMP_ACT_ALLOW"}
    names.write_text(_profile([entry] * (MAX_NAMES // 1000 + 1)))
    outcome = hostile([command, names])
    assert outcome.clean and outcome.code == 1, outcome
    assert f"names more than {MAX_NAMES} syscalls" in outcome.err
    assert re.search(r"names\.json:1:\d+: error", outcome.err), outcome

    huge = tmp_path / "huge.json"
    huge.write_text(_profile([{"names": ["read"], "action": "SCMP_ACT_ALLOW"}] * 400_000))
    assert huge.stat().st_size > MAX_PROFILE_BYTES
    outcome = hostile([command, huge])
    assert outcome.clean and outcome.code == 1, outcome
    assert f"larger than {MAX_PROFILE_BYTES} bytes" in outcome.err


def test_large_inputs_under_the_caps_finish(
    hostile: Callable[..., Outcome], tmp_path: Path
) -> None:
    listed = tmp_path / "list.yaml"
    listed.write_text(
        HEAD
        + "  - {action: errno(EPERM), syscalls: [ioctl]}\n"
        + _rule("allow", "ioctl", f"{{index: 1, value: [{_values(1000)}]}}")
    )
    masked = tmp_path / "masked.yaml"
    masked.write_text(
        HEAD
        + "".join(
            f"  - {{action: errno(EPERM), syscalls: [ioctl], args: [{{index: 1, op: masked_eq, "
            f"mask: 0xff00, value: {(i % 256) << 8}}}]}}\n"
            for i in range(1000)
        )
    )
    entries = tmp_path / "entries.json"
    entries.write_text(_profile([{"names": ["read"], "action": "SCMP_ACT_ALLOW"}] * 20_000))
    reads = tmp_path / "reads.json"
    reads.write_text(_profile([{"names": ["read"] * 200_000, "action": "SCMP_ACT_ALLOW"}]))
    cases = [
        (["compile", listed, "--format", "oci", "-o", tmp_path / "out"], 0),
        (["diff", masked, listed], 1),
        (["stats", entries], 0),
        (["import", reads, "-o", tmp_path / "reads.yaml"], 0),
    ]
    for argv, code in cases:
        outcome = hostile(argv, timeout=60)
        assert outcome.clean and outcome.code == code, outcome
    oci = json.loads((tmp_path / "out" / "oci" / "x86_64.json").read_text())
    allowed = {
        a["valueTwo"]
        for e in oci["syscalls"]
        if e["action"] == "SCMP_ACT_ALLOW" and "ioctl" in e["names"]
        for a in e.get("args", [])
    }
    assert allowed == set(range(1000))  # one rule per listed value, nothing approximated


def test_twenty_thousand_numbers_compile_to_bpf_in_bounded_memory(
    hostile: Callable[..., Outcome], tmp_path: Path
) -> None:
    numbers = ", ".join(str(n) for n in range(2000, 42000, 2))  # 20,000 ranges and the gaps
    policy = tmp_path / "numbers.yaml"
    policy.write_text(HEAD + f"  - action: errno(EACCES)\n    nr: {{x86_64: [{numbers}]}}\n")
    out = tmp_path / "out"
    outcome = hostile(["compile", policy, "--format", "bpf", "-o", out], timeout=60, memory=1 << 30)
    assert outcome.clean and outcome.code == 0, outcome
    assert (out / "bpf" / "x86_64.bpf").stat().st_size <= 4096 * 8
