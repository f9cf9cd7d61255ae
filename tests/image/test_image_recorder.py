"""The recorder's policy writer, from synthetic events: its output compiles, allows exactly what
was seen (with the argument values seen), and with a base adds only what the base lacks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from seccompiler.arch import abi as abimod
from seccompiler.arch import tables
from seccompiler.compile import load_program
from seccompiler.program import ActionKind, Program
from seccompiler.runner.recorder import aggregate
from seccompiler.runner.recpolicy import category, default_name, render_policy


@dataclass
class Ev:
    pid: int
    abi: str
    nr: int
    name: str | None
    args: tuple[int, ...] = (0, 0, 0, 0, 0, 0)


def ev(name: str, *args: int, abi: str = "x86_64", pid: int = 100) -> Ev:
    nr = tables.table(abi).by_name[name]
    return Ev(pid, abi, nr, name, (*args, 0, 0, 0, 0, 0, 0)[:6])


WORKLOAD = [
    ev("execve"),
    ev("brk"),
    ev("mmap"),
    ev("mmap"),
    ev("read", 3),
    ev("read", 3),
    ev("write", 1),
    ev("openat"),
    ev("close", 3),
    ev("personality", 0xFFFFFFFF),
    ev("socket", 1, 1),
    ev("socket", 2, 2),
    ev("ioctl", 1, 0x5401),
    ev("exit_group"),
    ev("getpid", pid=101),
    ev("write", abi="x86"),
    ev("exit_group", abi="x86"),
]


def compile_text(tmp_path: Path, text: str, name: str = "rec.yaml") -> Program:
    path = tmp_path / name
    path.write_text(text)
    return load_program(str(path))


def decide(prog: Program, e: Ev) -> ActionKind:
    a = abimod.ABIS[e.abi]
    return prog.decide(a.audit_arch, e.nr, e.args).kind


def test_recorded_policy_allows_exactly_what_was_seen(tmp_path: Path) -> None:
    rec = aggregate(WORKLOAD)
    text = render_policy(rec, name="t", command=["prog", "arg"])
    prog = compile_text(tmp_path, text)
    assert {p.abi.name for p in prog.abis} == {"x86_64", "x86"}
    for e in WORKLOAD:
        assert decide(prog, e) is ActionKind.ALLOW, e
    refused = [
        ev("uname"),
        ev("socket", 10, 1),
        ev("ioctl", 1, 0x5402),
        ev("personality", 8),
        ev("getpid", abi="x86"),
        ev("read", abi="x86"),
    ]
    for e in refused:
        assert decide(prog, e) is ActionKind.ERRNO, e


def test_output_is_sorted_grouped_and_counted() -> None:
    text = render_policy(aggregate(WORKLOAD), name="t", command=["prog"])
    assert text.startswith("# Recorded by 'seccompiler record'.\n")
    assert "# 17 syscalls observed in 2 processes (x86_64, x86); 12 syscall names listed." in text
    assert "- read                  # 2 calls" in text
    assert "- mmap                  # 2 calls" in text
    assert "value: [0x1, 0x2]" in text  # socket families seen
    assert "# socket: 2 calls; argument 0 seen as 0x1: 1 call; 0x2: 1 call" in text
    groups: list[list[str]] = []
    for ln in text.splitlines():
        if ln.startswith("  - action"):
            groups.append([])
        elif ln.startswith("      - "):
            groups[-1].append(ln.split()[1])
    assert all(g == sorted(g) for g in groups)
    assert ["close", "openat", "read"] in groups  # x86_64-only files and descriptors
    assert "abis: [x86_64]" in text  # calls seen on x86_64 only are confined to it
    assert text == render_policy(aggregate(WORKLOAD), name="t", command=["prog"])


def test_base_policy_gets_only_the_additions(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(
        "seccompiler: 1\nname: base\nabis: [x86_64]\ndefault: errno(EPERM)\n"
        "unknown: errno(ENOSYS)\nrules:\n"
        "  - action: allow\n    syscalls: [read, write, close, brk, mmap, exit_group]\n"
        "  - action: allow\n    syscalls: [socket]\n    args: [{index: 0, value: 1}]\n"
    )
    bprog = load_program(str(base))
    rec = aggregate(WORKLOAD, base=bprog)
    text = render_policy(rec, name="add", command=["prog"], base_ref="base.yaml", base=bprog)
    assert 'extends: "base.yaml"' in text
    assert "default:" not in text
    assert "abis: [x86, x86_64]" in text  # the base lacks x86, which the workload used
    assert "- read " not in text and "- brk " not in text
    assert "value: [0x2]" in text  # socket(AF_UNIX) is in the base already
    prog = compile_text(tmp_path, text, "add.yaml")
    for e in WORKLOAD:
        assert decide(prog, e) is ActionKind.ALLOW, e
    assert decide(prog, ev("uname")) is ActionKind.ERRNO


def test_nothing_to_add_still_compiles(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(
        "seccompiler: 1\nname: base\nabis: [x86_64, x86]\ndefault: allow\n"
        "unknown: errno(ENOSYS)\nrules: []\n"
    )
    bprog = load_program(str(base))
    rec = aggregate(WORKLOAD, base=bprog)
    assert rec.covered == rec.total and not rec.uses
    text = render_policy(rec, name="add", base_ref="base.yaml", base=bprog)
    assert "rules: []" in text
    compile_text(tmp_path, text, "add.yaml")


def test_many_argument_values_fall_back_to_an_unconditional_allow(tmp_path: Path) -> None:
    events = [ev("ioctl", 1, 0x5400 + i) for i in range(40)]
    text = render_policy(aggregate(events), name="t")
    assert "40 different argument values" in text
    prog = compile_text(tmp_path, text)
    assert decide(prog, ev("ioctl", 1, 0x9999)) is ActionKind.ALLOW


def test_unknown_numbers_are_noted_not_allowed(tmp_path: Path) -> None:
    events = [ev("read"), Ev(1, "x86_64", 999, None)]
    text = render_policy(aggregate(events), name="t")
    assert "# number 999 on x86_64 is not in the syscall table (1 call)" in text
    prog = compile_text(tmp_path, text)
    assert decide(prog, Ev(1, "x86_64", 999, None)) is ActionKind.ERRNO
    # the comment's hint is a rule that compiles and allows exactly that number
    hint = text.split("add a rule with '", 1)[1].split("'", 1)[0]
    assert hint == "nr: {x86_64: 999}"
    allowed = text.replace("rules:", f"rules:\n  - action: allow\n    {hint}", 1)
    allowed = allowed.replace("rules: []", "rules:")
    prog = compile_text(tmp_path, allowed, "allowed.yaml")
    assert decide(prog, Ev(1, "x86_64", 999, None)) is ActionKind.ALLOW
    assert decide(prog, Ev(1, "x86_64", 998, None)) is ActionKind.ERRNO


def test_hostile_command_text_cannot_break_the_yaml(tmp_path: Path) -> None:
    cmd = ["sh", "-c", 'echo "x"\nrules: [evil]\x1b']
    text = render_policy(aggregate([ev("read")]), name='a"b\nc', command=cmd)
    prog = compile_text(tmp_path, text)
    assert prog.name == 'a"b\nc'


@pytest.mark.parametrize(
    ("name", "cat"),
    [
        ("read", "files and descriptors"),
        ("mmap", "memory"),
        ("rt_sigaction", "signals"),
        ("clone", "processes and threads"),
        ("connect", "network"),
        ("clock_gettime", "time"),
        ("shmget", "ipc"),
        ("bpf", "other"),
        ("newfstatat", "files and descriptors"),
    ],
)
def test_categories(name: str, cat: str) -> None:
    assert category(name) == cat


def test_default_name() -> None:
    assert default_name(["/usr/bin/python3", "-c", "x"]) == "recorded-python3"
    assert default_name([]) == "recorded-workload"
    assert default_name(["/weird name!"]) == "recorded-weird-name"
