"""Memory and time: YAML alias bombs are refused while composing, in every YAML reader.

A billion-laughs document and an alias-doubling chain are a few hundred bytes; expanded they
would be gigabytes. Each reader must refuse them quickly (the harness's deadline bounds the
time; the address-space limit of the child bounds the memory).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hostilekit import PROFILE, Outcome


def laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        refs = ",".join(f"*a{i - 1}" for _ in range(9))
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def doubling(levels: int = 40) -> str:
    lines = ["d0: &d0 [x, x]"]
    for i in range(1, levels):
        lines.append(f"d{i}: &d{i} [*d{i - 1}, *d{i - 1}]")
    return "\n".join(lines) + "\n"


def _policy(bomb: str) -> str:
    return "seccompiler: 1\nname: x\nabis: [x86_64]\ndefault: allow\n" + bomb


def _pod(bomb: str) -> str:
    return "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n" + bomb


# (name, file name, text builder, argv)
READERS: list[tuple[str, str, Callable[[str], str], list[str]]] = [
    ("policy", "p.yaml", _policy, ["compile", "p.yaml", "-o", "o"]),
    ("pss manifest", "pod.yaml", _pod, ["pss", "check", "pod.yaml"]),
    (
        "image --tests",
        "t.yaml",
        lambda b: "tests: []\n" + b,
        ["image", "test", ".", "--profile", str(PROFILE), "--tests", "t.yaml"],
    ),
    ("platform.yaml", "profiles/platform.yaml", lambda b: b, ["build", "profiles", "-o", "d"]),
]
BOMBS = {"billion laughs": laughs, "doubling chain": doubling}
MEMORY_LIMIT = 1 << 30  # 1 GiB of address space: the unrefused bombs need many times that


@pytest.mark.parametrize("bomb", sorted(BOMBS))
@pytest.mark.parametrize(("name", "rel", "wrap", "argv"), READERS, ids=[r[0] for r in READERS])
def test_alias_bomb_is_refused_quickly(
    tmp_path: Path,
    hostile: Callable[..., Outcome],
    bomb: str,
    name: str,
    rel: str,
    wrap: Callable[[str], str],
    argv: list[str],
) -> None:
    target = tmp_path / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(wrap(BOMBS[bomb]()))
    if rel.startswith("profiles/"):
        (tmp_path / "profiles" / PROFILE.name).write_text(PROFILE.read_text())
    outcome = hostile(argv, cwd=tmp_path, timeout=20, memory=MEMORY_LIMIT)
    assert outcome.clean, outcome
    assert outcome.code not in (0, None), outcome
    assert outcome.seconds < 10, outcome
    assert "alias" in outcome.err.lower(), outcome
