"""What the commands accept, recognised and loaded: a policy, a JSON profile, or raw BPF.

A policy and a JSON profile become a ``Program`` (its meaning); each can also be compiled
to BPF: a policy by our compiler, a JSON profile by libseccomp the way runc does it. Raw BPF
has no program, only bytes for the ABIs given with ``--abi`` (or found in its arch checks,
in the byte order its bytes tell).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from seccompiler.arch.abi import ABIS, Abi, lookup
from seccompiler.base.errors import UsageError
from seccompiler.base.fsio import read_bytes
from seccompiler.bpf.emulate import Filter
from seccompiler.bpf.ident import load_filter
from seccompiler.bpf.insn import Endian
from seccompiler.frontend import bundled
from seccompiler.program import Action, Program

Kind = Literal["policy", "json", "bpf"]


def split_list(values: Iterable[str]) -> list[str]:
    """``--abi x86_64,x86 --abi arm`` → ['x86_64', 'x86', 'arm']."""
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def parse_abis(values: Iterable[str]) -> list[Abi]:
    out = []
    for name in split_list(values):
        abi = lookup(name)
        if abi is None:
            raise UsageError(f"unknown ABI '{name}'", hint=f"known: {', '.join(ABIS)}")
        if abi not in out:
            out.append(abi)
    return out


def detect(path: str, data: bytes) -> Kind:
    """Recognise a file by its name, then by its first bytes."""
    suffix = Path(path).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "policy"
    if suffix == ".json":
        return "json"
    if suffix in (".bpf", ".bin"):
        return "bpf"
    head = data[:4096].lstrip()
    if head.startswith(b"{"):
        return "json"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "bpf"
    return "policy" if text and all(c.isprintable() or c.isspace() for c in text) else "bpf"


def _order(name: str) -> Endian:
    return "big" if name == "big" else "little"


@dataclass
class Source:
    """One loaded input."""

    path: str
    kind: Kind
    program: Program | None = None
    abis: tuple[Abi, ...] = ()
    filters: dict[str, Filter] = field(default_factory=dict)  # family → filter (raw BPF)
    notes: list[str] = field(default_factory=list)
    profile: object | None = None  # the parsed JSON profile, for lint and import

    @property
    def bad_arch(self) -> Action | None:
        """What foreign arches get, where the input says (JSON leaves it to the runtime)."""
        if self.kind == "json" or self.program is None:
            return None
        return self.program.bad_arch


def load(
    path: str,
    *,
    abis: Sequence[str] = (),
    caps: Sequence[str] = (),
    kernel: str | None = None,
    endian: str | None = None,
) -> Source:
    """Load ``path`` as whatever it is; raw BPF needs ``abis`` unless its arch checks tell.

    A bare name that is no file here names a bundled profile (``keisson-default``).
    """
    path = bundled.resolve(path)
    if bundled.is_name(path) and not Path(path).exists():
        raise UsageError(
            f"{path}: no such file, and no bundled profile of that name",
            hint=f"bundled profiles: {', '.join(bundled.names()) or 'none'}",
        )
    data = read_bytes(path)
    kind = detect(path, data)
    wanted = [a.name for a in parse_abis(abis)]
    if kind == "policy":
        from seccompiler.compile import load_program

        program = load_program(path, caps=list(caps) or None, abis=wanted or None)
        return Source(path, kind, program, tuple(p.abi for p in program.abis))
    if kind == "json":
        from seccompiler.frontend import ocijson
        from seccompiler.frontend.resolve import normalise_caps

        profile = ocijson.load(path)
        res = ocijson.resolve(
            profile, caps=normalise_caps(list(caps) or None), abis=wanted or None, kernel=kernel
        )
        src = Source(path, kind, res.program, tuple(p.abi for p in res.program.abis))
        src.profile = profile
        if res.unknown_names:
            src.notes.append(f"names no table here knows: {', '.join(res.unknown_names)}")
        return src
    chosen = parse_abis(abis)
    order = endian or (chosen[0].endian if chosen else None)
    if order not in (None, "little", "big"):
        raise UsageError(f"--endian must be little or big, not '{order}'")
    f, named = load_filter(data, path, None if order is None else _order(order))
    if not chosen:
        chosen = list(named)
        if not chosen:
            raise UsageError(
                f"{path}: raw BPF without arch checks: say which ABI it is for",
                hint="add --abi x86_64 (or the ABI the filter was built for)",
            )
    families = {a.family for a in chosen}
    return Source(path, "bpf", None, tuple(chosen), {fam: f for fam in families})
