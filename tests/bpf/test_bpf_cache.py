"""The kernel's action-cache check (seccomp_is_const_allow), as tables of small filters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bpfkit import X86_64, libseccomp_filter

from seccompiler.arch.abi import ABIS, FAMILIES, family_members
from seccompiler.arch.tables import table
from seccompiler.bpf import insn as b
from seccompiler.bpf.cache import cached_allow, exempt, is_const_allow
from seccompiler.bpf.emulate import Filter
from seccompiler.bpf.stats import abi_stats, load_mix
from seccompiler.commands.cli import main

S, J = b.stmt, b.jump
ALLOW = S(b.RET | b.K, 0x7FFF0000)
EPERM = S(b.RET | b.K, 0x00050001)
LD_NR, LD_ARCH = S(b.LD | b.W | b.ABS, 0), S(b.LD | b.W | b.ABS, 4)

CASES = [
    ("allow everything", [ALLOW], 7, True),
    ("eperm everything", [EPERM], 7, False),
    ("nr match", [LD_NR, J(b.JMP | b.JEQ | b.K, 7, 0, 1), ALLOW, EPERM], 7, True),
    ("nr miss", [LD_NR, J(b.JMP | b.JEQ | b.K, 7, 0, 1), ALLOW, EPERM], 8, False),
    (
        "arch then nr",
        [
            LD_ARCH,
            J(b.JMP | b.JEQ | b.K, X86_64, 0, 3),
            LD_NR,
            J(b.JMP | b.JGE | b.K, 100, 1, 0),
            ALLOW,
            EPERM,
        ],
        7,
        True,
    ),
    (
        "and with a constant",
        [LD_NR, S(b.ALU | b.AND | b.K, 0xF), J(b.JMP | b.JEQ | b.K, 2, 0, 1), ALLOW, EPERM],
        0x12,
        True,
    ),
    ("jset", [LD_NR, J(b.JMP | b.JSET | b.K, 1, 1, 0), ALLOW, EPERM], 2, True),
    ("ja", [b.Insn(b.JMP | b.JA, 0, 0, 1), EPERM, ALLOW], 0, True),
    ("argument load gives up", [S(b.LD | b.W | b.ABS, 16), ALLOW], 7, False),
    ("X register gives up", [LD_NR, S(b.MISC | b.TAX), ALLOW], 7, False),
    ("ret a gives up", [S(b.LD | b.IMM, 0x7FFF0000), S(b.RET | b.A)], 7, False),
    ("jeq x gives up", [LD_NR, J(b.JMP | b.JEQ | b.X, 0, 0, 0), ALLOW], 7, False),
    ("allow with data is not allow", [S(b.RET | b.K, 0x7FFF0001)], 7, False),
]


@pytest.mark.parametrize(("insns", "nr", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_const_allow(insns: list[b.Insn], nr: int, want: bool) -> None:
    assert is_const_allow(insns, nr, X86_64) is want


def test_x32_is_never_cached_and_uretprobe_is_exempt() -> None:
    assert cached_allow([ALLOW], ABIS["x32"]) == frozenset()
    free = exempt(ABIS["x86_64"])
    assert table("x86_64").by_name["uretprobe"] in free
    assert exempt(ABIS["x86"]) == frozenset()
    assert free <= cached_allow([EPERM], ABIS["x86_64"])


def test_libseccomp_filter_cache_and_paths() -> None:
    f = Filter.from_bytes(libseccomp_filter())
    s = abi_stats(f, ABIS["x86_64"], {"read": 3, "personality": 1, "nosuch": 5})
    t = table("x86_64")
    cached = cached_allow(f.insns, ABIS["x86_64"])
    assert t.by_name["read"] in cached and t.by_name["personality"] not in cached
    assert s.allowed == 3  # with zero arguments: read, write, and mmap without PROT_EXEC
    assert s.weighted_cached_share == pytest.approx(0.75)
    assert s.min_path <= s.mean_path <= s.max_path


def test_mix_file_errors_are_located(tmp_path: Path) -> None:
    p = tmp_path / "mix.tsv"
    p.write_text("# header\nread\t10\nbad line here\n")
    from seccompiler.base.errors import InputError

    with pytest.raises(InputError) as exc:
        load_mix(p)
    assert exc.value.location is not None and exc.value.location.line == 3


# Which ABIs of each family the kernel caches: its native arch and its SECCOMP_ARCH_COMPAT
# (arch/*/include/asm/seccomp.h); x32 numbers lie beyond the bitmap and MIPS n32 has a token
# that is neither.
UNCACHED = {"x32", "mips64n32", "mipsel64n32"}


@pytest.mark.parametrize("abi", sorted(ABIS), ids=str)
def test_cache_covers_every_number_of_a_cached_abi(abi: str) -> None:
    a = ABIS[abi]
    numbers = {nr for nr in table(a).by_nr if nr < a.nr_range[0] + 4096}  # not ARM's private
    cached = cached_allow([ALLOW], a)
    assert (cached == frozenset()) if abi in UNCACHED else (numbers <= cached)
    assert cached_allow([EPERM], a) == exempt(a)


@pytest.mark.parametrize("family", FAMILIES, ids=str)
def test_stats_of_every_family(
    family: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    members = [a.name for a in family_members(family)]
    p = tmp_path / f"{family}.yaml"
    p.write_text(
        f"seccompiler: 1\nname: m\nabis: [{', '.join(members)}]\ndefault: allow\n"
        "rules: [{action: errno(EPERM), syscalls: [kcmp]}]\n"
    )
    assert main(["stats", str(p), "--format", "json"]) == 0
    [doc] = json.loads(capsys.readouterr().out)
    rows = {row["abi"]: row for row in doc["abis"]}
    assert sorted(rows) == sorted(members)
    for name, row in rows.items():
        assert row["allowed"] == row["syscalls"] - ("kcmp" in table(name).by_name)
        assert (row["cached"] == 0) is (name in UNCACHED), name
