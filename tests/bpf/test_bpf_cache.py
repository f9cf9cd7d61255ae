"""The kernel's action-cache check (seccomp_is_const_allow), as tables of small filters."""

from __future__ import annotations

from pathlib import Path

import pytest
from bpfkit import X86_64, libseccomp_filter

from seccompiler.arch.abi import ABIS
from seccompiler.arch.tables import table
from seccompiler.bpf import insn as b
from seccompiler.bpf.cache import cached_allow, exempt, is_const_allow
from seccompiler.bpf.emulate import Filter
from seccompiler.bpf.stats import abi_stats, load_mix

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
