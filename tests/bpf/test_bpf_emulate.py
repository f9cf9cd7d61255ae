"""The emulator against the kernel's rules: filters from libseccomp, every opcode, refusals."""

from __future__ import annotations

import pytest
from bpfkit import AARCH64, X86, X86_64, libseccomp_filter, prog, ret_a_after, run

from seccompiler.bpf import insn as b
from seccompiler.bpf.check import BpfRejected, check
from seccompiler.bpf.emulate import Filter, SeccompData, make_args
from seccompiler.program import Action, ActionKind

LIBSECCOMP = Filter.from_bytes(libseccomp_filter())
ALLOW = Action(ActionKind.ALLOW)
EPERM = Action(ActionKind.ERRNO, 1)

# (arch, syscall number, args) → the action libseccomp's filter must give
CASES = [
    ("x86_64 read", X86_64, 0, (), ALLOW),
    ("x86_64 write", X86_64, 1, (), ALLOW),
    ("x86_64 open: default", X86_64, 2, (), EPERM),
    ("personality(8)", X86_64, 135, (8,), ALLOW),
    ("personality(9)", X86_64, 135, (9,), EPERM),
    ("personality upper half set", X86_64, 135, ((1 << 32) | 8,), EPERM),
    ("socket(41)", X86_64, 41, (41,), ALLOW),
    ("socket(40)", X86_64, 41, (40,), EPERM),
    ("socket(1<<32): 64-bit greater", X86_64, 41, (1 << 32,), ALLOW),
    ("mmap without PROT_EXEC", X86_64, 9, (0, 0, 3), ALLOW),
    ("mmap with PROT_EXEC", X86_64, 9, (0, 0, 7), EPERM),
    ("clone3 ENOSYS", X86_64, 435, (), Action(ActionKind.ERRNO, 38)),
    ("ptrace kill-process", X86_64, 101, (), Action(ActionKind.KILL_PROCESS)),
    ("kill traced", X86_64, 62, (), Action(ActionKind.TRACE, 7)),
    ("x86 read", X86, 3, (), ALLOW),
    ("x86 personality low word only", X86, 136, ((1 << 32) | 8,), ALLOW),
    ("x86 open: default", X86, 5, (), EPERM),
    ("x32 number on x86_64: bad arch", X86_64, 0x40000000, (), Action(ActionKind.KILL_THREAD)),
    ("nr -1 passes the x32 check", X86_64, 0xFFFFFFFF, (), EPERM),
    ("foreign arch", AARCH64, 63, (), Action(ActionKind.KILL_THREAD)),
]


@pytest.mark.parametrize(
    ("arch", "nr", "args", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_libseccomp_filter_table(arch: int, nr: int, args: tuple[int, ...], want: Action) -> None:
    assert LIBSECCOMP.run(SeccompData(nr, arch, 0, make_args(args))).action == want


S, J = b.stmt, b.jump
ALU_K = b.ALU | b.K
ALU_X = b.ALU | b.X

# programs that return A: (body, expected A)
ARITH = [
    ("add wraps", [S(b.LD | b.IMM, 0xFFFFFFFF), S(ALU_K | b.ADD, 2)], 1),
    ("sub wraps", [S(b.LD | b.IMM, 1), S(ALU_K | b.SUB, 2)], 0xFFFFFFFF),
    ("mul truncates", [S(b.LD | b.IMM, 0x10000), S(ALU_K | b.MUL, 0x10000)], 0),
    ("div", [S(b.LD | b.IMM, 100), S(ALU_K | b.DIV, 7)], 14),
    (
        "and/or/xor",
        [
            S(b.LD | b.IMM, 0xF0),
            S(ALU_K | b.OR, 0x0F),
            S(ALU_K | b.AND, 0x3C),
            S(ALU_K | b.XOR, 0xFF),
        ],
        0xC3,
    ),
    ("lsh", [S(b.LD | b.IMM, 1), S(ALU_K | b.LSH, 31)], 0x80000000),
    ("rsh", [S(b.LD | b.IMM, 0x80000000), S(ALU_K | b.RSH, 31)], 1),
    (
        "lsh by X uses its low 5 bits",
        [S(b.LDX | b.IMM, 33), S(b.LD | b.IMM, 1), S(ALU_X | b.LSH)],
        2,
    ),
    ("neg", [S(b.LD | b.IMM, 1), S(b.ALU | b.NEG)], 0xFFFFFFFF),
    ("tax/txa", [S(b.LD | b.IMM, 5), S(b.MISC | b.TAX), S(b.LD | b.IMM, 0), S(b.MISC | b.TXA)], 5),
    (
        "scratch memory",
        [
            S(b.LD | b.IMM, 9),
            S(b.ST, 15),
            S(b.LD | b.IMM, 0),
            S(b.LDX | b.MEM, 15),
            S(b.MISC | b.TXA),
        ],
        9,
    ),
    ("stx", [S(b.LDX | b.IMM, 4), S(b.STX, 0), S(b.LD | b.MEM, 0)], 4),
    ("len is sizeof(seccomp_data)", [S(b.LD | b.W | b.LEN)], 64),
    ("ldx len", [S(b.LDX | b.W | b.LEN), S(b.MISC | b.TXA)], 64),
    ("A and X start at zero", [S(ALU_X | b.ADD)], 0),
    ("ld [nr]", [S(b.LD | b.W | b.ABS, 0)], 59),
    ("ld [arch]", [S(b.LD | b.W | b.ABS, 4)], X86_64),
    ("ld args[0].lo (little-endian)", [S(b.LD | b.W | b.ABS, 16)], 0x89ABCDEF),
    ("ld args[0].hi (little-endian)", [S(b.LD | b.W | b.ABS, 20)], 0x01234567),
    (
        "jeq x taken",
        [
            S(b.LDX | b.IMM, 59),
            S(b.LD | b.W | b.ABS, 0),
            J(b.JMP | b.JEQ | b.X, 0, 0, 1),
            S(b.RET | b.K, 1),
            S(b.RET | b.K, 2),
        ],
        1,
    ),
    (
        "jset",
        [
            S(b.LD | b.IMM, 6),
            J(b.JMP | b.JSET | b.K, 1, 0, 1),
            S(b.RET | b.K, 1),
            S(b.RET | b.K, 2),
        ],
        2,
    ),
    (
        "jgt/jge boundary",
        [
            S(b.LD | b.IMM, 5),
            J(b.JMP | b.JGT | b.K, 5, 2, 0),
            J(b.JMP | b.JGE | b.K, 5, 0, 1),
            S(b.RET | b.K, 3),
            S(b.RET | b.K, 4),
        ],
        3,
    ),
    ("ja", [b.Insn(b.JMP | b.JA, 0, 0, 1), S(b.RET | b.K, 1), S(b.RET | b.K, 2)], 2),
]


@pytest.mark.parametrize(("body", "want"), [c[1:] for c in ARITH], ids=[c[0] for c in ARITH])
def test_every_opcode(body: list[b.Insn], want: int) -> None:
    f = Filter(ret_a_after(*body))
    assert run(f, 59, X86_64, (0x0123456789ABCDEF,)) == want


def test_big_endian_loads_swap_halves() -> None:
    f = Filter(ret_a_after(S(b.LD | b.W | b.ABS, 16)), "big")
    assert run(f, 0, args=(0x0123456789ABCDEF,)) == 0x01234567
    f = Filter(ret_a_after(S(b.LD | b.W | b.ABS, 20)), "big")
    assert run(f, 0, args=(0x0123456789ABCDEF,)) == 0x89ABCDEF


def test_division_by_zero_in_x_returns_zero() -> None:
    f = Filter(ret_a_after(S(b.LD | b.IMM, 5), S(ALU_X | b.DIV)))
    r = f.run(SeccompData(0, X86_64))
    assert (r.ret, r.div_by_zero, r.action.kind) == (0, True, ActionKind.KILL_THREAD)


def test_steps_count_every_instruction_executed() -> None:
    f = prog(
        S(b.LD | b.W | b.ABS, 0),
        J(b.JMP | b.JEQ | b.K, 0, 0, 1),
        S(b.RET | b.K, 1),
        S(b.RET | b.K, 2),
    )
    assert f.run(SeccompData(0, 0)).steps == 3
    assert f.run(SeccompData(1, 0)).steps == 3


RET = S(b.RET | b.K, 0x7FFF0000)
REFUSED = [
    ("empty", [], "empty", -1),
    ("unknown opcode", [b.Insn(0xFF), RET], "bad-opcode", 0),
    ("mod is not for seccomp", [S(ALU_K | b.MOD, 3), RET], "bad-opcode", 0),
    ("half-word load", [S(b.LD | b.H | b.ABS, 0), RET], "bad-opcode", 0),
    ("indirect load", [S(b.LD | b.W | b.IND, 0), RET], "bad-opcode", 0),
    ("ret x", [S(b.RET | b.X)], "bad-opcode", 0),
    ("unaligned load", [S(b.LD | b.W | b.ABS, 2), RET], "bad-load", 0),
    ("load past seccomp_data", [S(b.LD | b.W | b.ABS, 64), RET], "bad-load", 0),
    ("jump past the end", [J(b.JMP | b.JEQ | b.K, 0, 1, 0), RET], "jump-range", 0),
    ("ja past the end", [b.Insn(b.JMP | b.JA, 0, 0, 1), RET], "jump-range", 0),
    ("division by constant zero", [S(ALU_K | b.DIV, 0), RET], "div-zero", 0),
    ("shift by 32", [S(ALU_K | b.LSH, 32), RET], "shift", 0),
    ("scratch slot 16", [S(b.ST, 16), RET], "mem-slot", 0),
    ("read before write", [S(b.LD | b.MEM, 3), RET], "mem-uninit", 0),
    (
        "written on one path only",
        [J(b.JMP | b.JEQ | b.K, 0, 0, 1), S(b.ST, 1), S(b.LD | b.MEM, 1), RET],
        "mem-uninit",
        2,
    ),
    ("no return at the end", [S(b.LD | b.IMM, 0)], "no-ret", 0),
]


@pytest.mark.parametrize(
    ("insns", "reason", "pc"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_kernel_checker_refusals(insns: list[b.Insn], reason: str, pc: int) -> None:
    with pytest.raises(BpfRejected) as exc:
        check(insns, "f.bpf")
    assert (exc.value.reason, exc.value.pc) == (reason, pc)
    assert exc.value.location is not None and exc.value.location.path == "f.bpf"


def test_too_long_is_refused_on_decode() -> None:
    from seccompiler.base.errors import InputError

    with pytest.raises(InputError):
        Filter.from_bytes(b.encode([RET] * (b.BPF_MAXINSNS + 1)))


def test_len_and_store_are_accepted() -> None:
    check([S(b.LD | b.W | b.LEN), S(b.ST, 0), S(b.LDX | b.MEM, 0), S(b.RET | b.A)])
