"""Read a BPF listing (the ``bpf disasm`` format, or one written by hand) into instructions.

Grammar, one instruction per line: ``[pc] [label:] insn [; comment]``. Jump operands are
labels or ``+N`` (a raw forward offset). ``.endian little|big`` sets the byte order that
names such as ``args[0].lo`` refer to; ``.insn code, jt, jf, k`` writes one raw instruction.

``assemble`` reads any listing ``bpf disasm`` writes, whatever the bytes were;
``assemble_checked`` also refuses, at its line, a program the kernel would refuse to load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from seccompiler.base.errors import InputError, Location
from seccompiler.bpf import insn as isa
from seccompiler.bpf.check import BpfRejected, check
from seccompiler.bpf.disasm import ALU_NAMES, JMP_NAMES, RET_NAMES, field_names
from seccompiler.bpf.insn import Endian, Insn
from seccompiler.program import MAX_ERRNO, ActionKind, errno_value

MAX_LINES = 100_000

_NUM = r"(0[xX][0-9a-fA-F]+|\d+)"
_LABEL = r"[A-Za-z_.$][\w.$]*"
_DEST = rf"(\+\d+|{_LABEL})"
_SIZES = {"": isa.W, "h": isa.H, "b": isa.B}
_ALU_CODES = {v: k for k, v in ALU_NAMES.items()}
_JMP_CODES = {v: k for k, v in JMP_NAMES.items()}
_RET_KINDS = {v.lower(): k for k, v in RET_NAMES.items()}


@dataclass(eq=False)
class AsmError(InputError):
    """A listing line that does not parse or does not resolve."""


@dataclass
class _Pending:
    code: int
    jt: int | str
    jf: int | str
    k: int | str  # str: a label (ja)
    line: int
    column: int


class _NotANumber(ValueError):
    pass


def _int(text: str) -> int:
    # 0x + 16 hex digits or 20 decimal ones hold any 64-bit value; longer is not a constant
    if not re.fullmatch(_NUM, text) or len(text) > 24:
        raise _NotANumber(text)
    return int(text, 0)


class _Assembler:
    def __init__(self, path: str, endian: Endian | None) -> None:
        self.path = path
        self.endian: Endian = endian or "little"
        self.endian_fixed = endian is not None
        self.out: list[_Pending] = []
        self.labels: dict[str, int] = {}
        self.lineno = 0
        self.col = 1

    def error(self, message: str, hint: str = "", column: int | None = None) -> AsmError:
        loc = Location(self.path, self.lineno, column or self.col)
        return AsmError(message, hint=hint, location=loc)

    def feed(self, raw: str) -> None:
        text = raw.split(";", 1)[0].rstrip()
        stripped = text.lstrip()
        if not stripped:
            return
        self.col = len(text) - len(stripped) + 1
        if stripped.startswith(".endian"):
            value = stripped.split(None, 1)[1].strip() if " " in stripped else ""
            if value not in ("little", "big"):
                raise self.error("'.endian' takes 'little' or 'big'")
            if self.out:
                raise self.error("'.endian' must come before the first instruction")
            if not self.endian_fixed:
                self.endian = "little" if value == "little" else "big"
            return
        m = re.match(r"(\d+)\s+", stripped)
        if m:  # the pc column of a disasm listing: informative only
            self.col += m.end()
            stripped = stripped[m.end() :]
        m = re.match(rf"({_LABEL}):\s*", stripped)
        if m:
            name = m.group(1)
            if name in self.labels:
                raise self.error(f"label '{name}' defined twice")
            self.labels[name] = len(self.out)
            self.col += m.end()
            stripped = stripped[m.end() :]
        if stripped:
            if len(self.out) == isa.BPF_MAXINSNS:
                raise self.error(
                    f"more than {isa.BPF_MAXINSNS} instructions: the kernel accepts at most "
                    f"{isa.BPF_MAXINSNS} (BPF_MAXINSNS)",
                    "shorten the program, or split it into filters loaded one after another",
                )
            try:
                self.out.append(self.parse(stripped))
            except _NotANumber as exc:
                raise self.error(
                    f"'{str(exc)[:40]}' is not a number",
                    "write a decimal or 0x… constant of at most 32 bits",
                ) from None

    def pending(
        self, code: int, k: int | str = 0, jt: int | str = 0, jf: int | str = 0
    ) -> _Pending:
        return _Pending(code, jt, jf, k, self.lineno, self.col)

    def parse(self, s: str) -> _Pending:
        s = re.sub(r"\s+", " ", s.strip())
        low = s.lower()
        if m := re.fullmatch(rf"\.insn {_NUM} ?, ?{_NUM} ?, ?{_NUM} ?, ?{_NUM}", low):
            code, jt, jf, k = (_int(g) for g in m.groups())
            if code > 0xFFFF or jt > 0xFF or jf > 0xFF or k > 0xFFFFFFFF:
                raise self.error("'.insn' field out of range (code 16, jt/jf 8, k 32 bits)")
            return self.pending(code, k, jt, jf)
        if m := re.fullmatch(rf"ld(h|b|) \[x ?\+ ?{_NUM}\]", low):
            return self.pending(isa.LD | _SIZES[m.group(1)] | isa.IND, self.k32(m.group(2)))
        if m := re.fullmatch(r"ld(h|b|) \[([^\]]*\]?[^\]]*)\]", low):
            size, what = m.group(1), m.group(2).replace(" ", "")
            if re.fullmatch(_NUM, what):
                return self.pending(isa.LD | _SIZES[size] | isa.ABS, self.k32(what))
            offsets = {v: k for k, v in field_names(self.endian).items()}
            if size == "" and what in offsets:
                return self.pending(isa.LD | isa.W | isa.ABS, offsets[what])
            raise self.error(
                f"unknown seccomp_data field '{what}'",
                "use nr, arch, ip.lo, ip.hi, args[N].lo, args[N].hi or an offset",
            )
        if m := re.fullmatch(r"(ldx?) #len", low):
            return self.pending((isa.LD if m.group(1) == "ld" else isa.LDX) | isa.W | isa.LEN)
        if m := re.fullmatch(rf"(ldx?) #{_NUM}", low):
            return self.pending(
                (isa.LD if m.group(1) == "ld" else isa.LDX) | isa.IMM, self.k32(m.group(2))
            )
        if m := re.fullmatch(rf"(ldx?|stx?) m\[{_NUM}\]", low):
            code = {"ld": isa.LD | isa.MEM, "ldx": isa.LDX | isa.MEM, "st": isa.ST, "stx": isa.STX}[
                m.group(1)
            ]
            return self.pending(code, self.k32(m.group(2)))
        if m := re.fullmatch(rf"ldxb 4 ?\* ?\(\[{_NUM}\] ?& ?0xf\)", low):
            return self.pending(isa.LDX | isa.B | isa.MSH, self.k32(m.group(1)))
        if low in ("neg", "tax", "txa"):
            return self.pending(
                {"neg": isa.ALU | isa.NEG, "tax": isa.MISC | isa.TAX, "txa": isa.MISC | isa.TXA}[
                    low
                ]
            )
        if m := re.fullmatch(r"([a-z]+) (x|#\S+)", low):
            op = m.group(1)
            if op in _ALU_CODES:
                if m.group(2) == "x":
                    return self.pending(isa.ALU | _ALU_CODES[op] | isa.X)
                return self.pending(isa.ALU | _ALU_CODES[op] | isa.K, self.k32(m.group(2)[1:]))
        if m := re.fullmatch(rf"ja {_DEST}", s, re.IGNORECASE):
            return self.pending(isa.JMP | isa.JA, m.group(1))
        if m := re.fullmatch(rf"([a-z]+) (x|#{_NUM}) ?, ?{_DEST} ?, ?{_DEST}", s, re.IGNORECASE):
            op = m.group(1).lower()
            if op not in _JMP_CODES:
                raise self.error(f"unknown jump '{op}'", "jumps are ja, jeq, jgt, jge, jset")
            src = m.group(2).lower()
            k = 0 if src == "x" else self.k32(m.group(3))
            code = isa.JMP | _JMP_CODES[op] | (isa.X if src == "x" else isa.K)
            return self.pending(code, k, m.group(4), m.group(5))
        if low.startswith("ret "):
            return self.parse_ret(s[4:].strip())
        raise self.error(f"cannot parse '{s}'", "see docs/toolchain.md for the listing syntax")

    def parse_ret(self, arg: str) -> _Pending:
        low = arg.lower()
        if low == "a":
            return self.pending(isa.RET | isa.A)
        if low.startswith("#"):
            return self.pending(isa.RET | isa.K, self.k32(low[1:]))
        m = re.fullmatch(r"([a-z_]+)(?: ?\( ?([A-Za-z0-9_]+) ?\))?", arg.lower())
        if not m or m.group(1) not in _RET_KINDS:
            raise self.error(
                f"unknown return value '{arg}'",
                "use ALLOW, ERRNO(EPERM), KILL_PROCESS, TRACE(n), #0x… or a",
            )
        kind = _RET_KINDS[m.group(1)]
        datum = m.group(2)
        if datum is None:
            if kind is ActionKind.ERRNO:
                raise self.error("ERRNO needs a value, e.g. ERRNO(EPERM)")
            return self.pending(isa.RET | isa.K, kind.value)
        if kind not in (ActionKind.ERRNO, ActionKind.TRACE, ActionKind.TRAP):
            raise self.error(f"{m.group(1).upper()} takes no value")
        if re.fullmatch(_NUM, datum):
            value = _int(datum)
        elif kind is ActionKind.ERRNO and (v := errno_value(datum)) is not None:
            value = v
        else:
            raise self.error(f"unknown errno '{datum}'")
        if value > 0xFFFF:
            raise self.error(
                f"return datum {value} does not fit in 16 bits", f"errno values are 0-{MAX_ERRNO}"
            )
        return self.pending(isa.RET | isa.K, kind.value | value)

    def k32(self, text: str) -> int:
        value = _int(text)
        if value > 0xFFFFFFFF:
            raise self.error(f"constant {text} does not fit in 32 bits")
        return value

    def resolve(self) -> tuple[Insn, ...]:
        out = []
        for pc, p in enumerate(self.out):
            self.lineno, self.col = p.line, p.column
            if p.code == isa.JMP | isa.JA and isinstance(p.k, str):
                k = self.offset(pc, p.k, 0xFFFFFFFF)
                out.append(Insn(p.code, 0, 0, k))
                continue
            jt = self.offset(pc, p.jt, 0xFF) if isinstance(p.jt, str) else p.jt
            jf = self.offset(pc, p.jf, 0xFF) if isinstance(p.jf, str) else p.jf
            assert isinstance(p.k, int)
            out.append(Insn(p.code, jt, jf, p.k))
        return tuple(out)

    def offset(self, pc: int, dest: str, limit: int) -> int:
        if dest.startswith("+"):
            off = int(dest[1:]) if len(dest) <= 12 else limit + 1  # longer is out of range anyway
        elif dest in self.labels:
            off = self.labels[dest] - pc - 1
            if off < 0:
                raise self.error(f"label '{dest}' is behind this jump", "BPF jumps only go forward")
        else:
            raise self.error(f"undefined label '{dest}'")
        if off > limit:
            raise self.error(
                f"jump to '{dest}' is {off} instructions away; at most {limit}",
                "insert a 'ja' trampoline",
            )
        return off


def _read(text: str, path: str, endian: Endian | None) -> _Assembler:
    asm = _Assembler(path, endian)
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise AsmError(
            f"listing has {len(lines)} lines; at most {MAX_LINES} are read", location=Location(path)
        )
    for asm.lineno, line in enumerate(lines, 1):
        asm.feed(line)
    if not asm.out:
        raise AsmError("the listing holds no instructions", location=Location(path))
    return asm


def assemble_listing(
    text: str, path: str = "<asm>", endian: Endian | None = None
) -> tuple[tuple[Insn, ...], Endian]:
    """Parse a listing; return the instructions and the byte order it asked for."""
    asm = _read(text, path, endian)
    return asm.resolve(), asm.endian


def assemble_checked(
    text: str, path: str = "<asm>", endian: Endian | None = None
) -> tuple[tuple[Insn, ...], Endian]:
    """Parse a listing the kernel would load; ``BpfRejected`` at the line of what it refuses."""
    asm = _read(text, path, endian)
    insns = asm.resolve()
    try:
        check(insns, path)
    except BpfRejected as e:
        if 0 <= e.pc < len(asm.out):
            at = asm.out[e.pc]
            raise replace(
                e,
                hint=e.hint or "the kernel would refuse to load it (bpf asm --no-check writes it)",
                location=Location(path, at.line, at.column),
            ) from None
        raise
    return insns, asm.endian


def assemble(text: str, path: str = "<asm>", endian: Endian | None = None) -> tuple[Insn, ...]:
    """Parse a listing into instructions."""
    return assemble_listing(text, path, endian)[0]
