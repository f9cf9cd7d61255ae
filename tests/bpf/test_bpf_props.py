"""Property tests: any bytes, any valid program, any text give a result or a clean error."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccompiler.base.errors import InputError
from seccompiler.bpf import insn as b
from seccompiler.bpf.asm import assemble
from seccompiler.bpf.cache import is_const_allow
from seccompiler.bpf.check import SECCOMP_CODES, BpfRejected, check
from seccompiler.bpf.disasm import disassemble
from seccompiler.bpf.emulate import Filter, SeccompData
from seccompiler.bpf.ident import identify, load_filter
from seccompiler.frontend.ocijson import parse
from seccompiler.program import ActionKind

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

raw_insn = st.builds(
    b.Insn,
    st.integers(0, 0xFFFF) | st.sampled_from(sorted(SECCOMP_CODES)),
    st.integers(0, 255) | st.integers(0, 3),
    st.integers(0, 255) | st.integers(0, 3),
    st.integers(0, 0xFFFFFFFF) | st.integers(0, 64),
)
seccomp_data = st.builds(
    SeccompData,
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, (1 << 64) - 1),
    st.tuples(*[st.integers(0, (1 << 64) - 1)] * 6),
)


@FAST
@given(st.binary(max_size=400), st.sampled_from(["little", "big"]))
def test_any_bytes_disassemble_and_round_trip(data: bytes, endian: str) -> None:
    order = "big" if endian == "big" else "little"
    try:
        insns = b.decode(data, order)
    except InputError:
        assert len(data) % 8 or not data
        return
    text = disassemble(insns, order)
    assert b.encode(assemble(text), order) == data


@FAST
@given(st.lists(raw_insn, min_size=1, max_size=40), seccomp_data)
def test_any_program_runs_or_is_refused(insns: list[b.Insn], data: SeccompData) -> None:
    try:
        f = Filter(insns)
    except BpfRejected as exc:
        assert exc.reason and exc.location is not None
        return
    r = f.run(data)
    assert 1 <= r.steps <= len(insns)
    assert b.encode(assemble(disassemble(insns))) == b.encode(insns)


def _valid_program(draw: st.DrawFn) -> list[b.Insn]:
    """A random program the kernel accepts: slots written first, forward jumps, a return."""
    n = draw(st.integers(1, 30))
    out: list[b.Insn] = [b.stmt(b.ST, i) for i in range(16)]
    body_start = len(out)
    total = body_start + n + 1
    for pc in range(body_start, body_start + n):
        left = total - pc - 1
        kind = draw(st.sampled_from(["ld", "alu", "jmp", "ja", "mem", "ret", "misc"]))
        if kind == "ld":
            out.append(b.stmt(b.LD | b.W | b.ABS, 4 * draw(st.integers(0, 15))))
        elif kind == "alu":
            op = draw(
                st.sampled_from([b.ADD, b.SUB, b.MUL, b.DIV, b.OR, b.AND, b.LSH, b.RSH, b.XOR])
            )
            if draw(st.booleans()):
                out.append(b.stmt(b.ALU | op | b.X))
            else:
                k = draw(
                    st.integers(1, 31)
                    if op in (b.LSH, b.RSH, b.DIV)
                    else st.integers(0, 0xFFFFFFFF)
                )
                out.append(b.stmt(b.ALU | op | b.K, k))
        elif kind == "jmp":
            op = draw(st.sampled_from([b.JEQ, b.JGT, b.JGE, b.JSET]))
            src = draw(st.sampled_from([b.K, b.X]))
            k = 0 if src == b.X else draw(st.integers(0, 0xFFFFFFFF))
            out.append(
                b.Insn(
                    b.JMP | op | src,
                    draw(st.integers(0, min(left - 1, 255))),
                    draw(st.integers(0, min(left - 1, 255))),
                    k,
                )
            )
        elif kind == "ja":
            out.append(b.Insn(b.JMP | b.JA, 0, 0, draw(st.integers(0, left - 1))))
        elif kind == "mem":
            code = draw(st.sampled_from([b.LD | b.MEM, b.LDX | b.MEM, b.ST, b.STX]))
            out.append(b.stmt(code, draw(st.integers(0, 15))))
        elif kind == "ret":
            out.append(
                b.stmt(b.RET | draw(st.sampled_from([b.K, b.A])), draw(st.integers(0, 0xFFFFFFFF)))
            )
        else:
            out.append(
                b.stmt(
                    draw(
                        st.sampled_from(
                            [b.MISC | b.TAX, b.MISC | b.TXA, b.LD | b.W | b.LEN, b.LDX | b.IMM]
                        )
                    )
                )
            )
    out.append(b.stmt(b.RET | b.K, draw(st.sampled_from([0x7FFF0000, 0x00050001, 0]))))
    return out


valid_programs = st.composite(lambda draw: _valid_program(draw))()


@FAST
@given(valid_programs, seccomp_data, st.sampled_from(["little", "big"]))
def test_valid_programs_always_return(insns: list[b.Insn], data: SeccompData, e: str) -> None:
    check(insns)
    order = "big" if e == "big" else "little"
    f = Filter(insns, order)
    r = f.run(data)
    assert r.steps <= len(insns)
    assert b.encode(assemble(disassemble(insns, order)), order) == b.encode(insns, order)


@FAST
@given(valid_programs, seccomp_data)
def test_cache_is_sound(insns: list[b.Insn], data: SeccompData) -> None:
    """When the kernel's constant check says ALLOW, every argument vector is allowed."""
    if is_const_allow(insns, data.nr, data.arch):
        assert Filter(insns).run(data).action.kind is ActionKind.ALLOW


@FAST
@given(st.text(max_size=300))
def test_any_text_assembles_or_errs(text: str) -> None:
    try:
        assemble(text)
    except InputError as exc:
        assert exc.location is not None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2**65) | st.text(max_size=12),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4)
    ),
    max_leaves=20,
)
profile_like = st.fixed_dictionaries(
    {"defaultAction": st.sampled_from(["SCMP_ACT_ERRNO", "SCMP_ACT_ALLOW", "bogus"])},
    optional={
        "syscalls": st.lists(
            st.fixed_dictionaries(
                {"names": st.lists(st.sampled_from(["read", "open", "x"]), max_size=3)},
                optional={
                    "action": st.sampled_from(["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", 3]),
                    "args": json_values,
                    "includes": json_values,
                    "errnoRet": json_values,
                },
            ),
            max_size=4,
        ),
        "archMap": json_values
        | st.lists(
            st.fixed_dictionaries(
                {"architecture": st.just("SCMP_ARCH_X86_64")},
                optional={"subArchitectures": json_values},
            )
        ),
        "architectures": json_values,
    },
)


@FAST
@given(st.text(max_size=200) | profile_like.map(json.dumps))
def test_any_json_parses_or_errs(text: str) -> None:
    try:
        parse(text, "p.json")
    except InputError as exc:
        assert exc.location is not None and exc.location.path == "p.json"


@FAST
@given(valid_programs, st.sampled_from(["little", "big"]))
def test_a_valid_program_tells_its_byte_order(insns: list[b.Insn], e: str) -> None:
    """The kernel accepts a program in one byte order only, so its bytes tell which."""
    order = "big" if e == "big" else "little"
    found = identify(b.encode(insns, order))
    assert found is not None and found.endian == order and found.insns == tuple(insns)


@FAST
@given(st.binary(max_size=400))
def test_any_bytes_load_or_give_a_clean_error(data: bytes) -> None:
    try:
        f, _ = load_filter(data, "x.bpf")
    except InputError as exc:
        assert exc.location is not None and exc.location.path == "x.bpf"
        return
    assert f.endian in ("little", "big")
