"""Every policy mistake is a located PolicyError with a code; tests read the fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from seccompiler.base.errors import ErrorList, InputError, PolicyError, SyscallNotFound
from seccompiler.frontend.policy import load_policy

HEAD = "seccompiler: 1\nname: t\nabis: [x86_64]\ndefault: allow\n"


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def first_error(tmp_path: Path, text: str) -> InputError:
    with pytest.raises(InputError) as info:
        load_policy(write(tmp_path, text))
    err = info.value
    return err.errors[0] if isinstance(err, ErrorList) else err


# (policy text, error code, line, column)
CASES = [
    (HEAD + "rules:\n  - action: allow\n    syscals: [read]\n", "unknown-key", 7, 5),
    ("seccompiler: 1\nname: t\nabis: [x86_64]\ndefault: allow\ncolour: red\n", "unknown-key", 5, 1),
    (HEAD + "rules:\n  - action: errno(EPERM)\n    syscalls: [opnat]\n", "unknown-syscall", 7, 16),
    (
        HEAD + "rules:\n  - action: errno(EPERM)\n    syscalls: ['@legasy']\n",
        "unknown-syscall",
        7,
        16,
    ),
    (HEAD + "rules:\n  - action: errno(5000)\n    syscalls: [read]\n", "errno-range", 6, 13),
    (HEAD + "rules:\n  - action: errno(ENOTANERRNO)\n    syscalls: [read]\n", "bad-action", 6, 13),
    (HEAD + "rules:\n  - action: explode\n    syscalls: [read]\n", "bad-action", 6, 13),
    (
        HEAD
        + "rules:\n  - action: allow\n    syscalls: [read]\n    args: [{index: 6, value: 1}]\n",
        "arg-index",
        8,
        20,
    ),
    (
        HEAD + "rules:\n  - action: allow\n    syscalls: [clone]\n"
        "    args: [{index: 0, op: masked_eq, mask: CLONE_NEWBOGUS, value: 0}]\n",
        "unknown-constant",
        8,
        44,
    ),
    (
        HEAD
        + "rules:\n  - action: allow\n    syscalls: [read]\n"
        + "    args: [{index: 0, op: like, value: 1}]\n",
        "bad-op",
        8,
        27,
    ),
    ("seccompiler: 1\nname: t\nabis: [x86_65]\ndefault: allow\n", "unknown-abi", 3, 8),
    (
        HEAD + "rules:\n  - action: errno(EPERM)\n    syscalls: [read]\n"
        "  - action: errno(EACCES)\n    syscalls: [read]\n",
        "conflict",
        8,
        13,
    ),
    (
        HEAD + "rules:\n  - action: errno(EPERM)\n    syscalls: ['@mount']\n"
        "  - action: allow\n    syscalls: [mount]\n",
        "conflict",
        8,
        13,
    ),
    ("seccompiler: 2\nname: t\nabis: [x86_64]\ndefault: allow\n", "version", 1, 14),
    ("seccompiler: 1\nname: t\ndefault: allow\n", "no-abis", 1, 1),
    ("seccompiler: 1\nname: t\nabis: [x86_64]\n", "no-default", 1, 1),
    (
        HEAD + "rules:\n  - action: allow\n    syscalls: [read]\n"
        "    args: [{index: 0, value: 1}, {index: 0, value: 2}]\n",
        "duplicate-arg",
        8,
        34,
    ),
    (
        HEAD + "rules:\n  - action: allow\n    syscalls: [read]\n    caps: [CAP_SYS_WIZARD]\n",
        "unknown-cap",
        8,
        12,
    ),
    (HEAD + "rules:\n  - action: allow\n    syscalls: [socketcall]\n", "absent-on-abis", 7, 16),
]


@pytest.mark.parametrize(("text", "code", "line", "column"), CASES)
def test_policy_error_fields(tmp_path: Path, text: str, code: str, line: int, column: int) -> None:
    err = first_error(tmp_path, text)
    assert isinstance(err, PolicyError), err
    assert err.code == code, (err.code, err.message)
    assert err.location is not None
    assert (err.location.path, err.location.line, err.location.column) == (
        str(tmp_path / "p.yaml"),
        line,
        column,
    ), err.message
    assert err.message


def test_unknown_syscall_offers_closest_names(tmp_path: Path) -> None:
    err = first_error(tmp_path, HEAD + "rules:\n  - action: allow\n    syscalls: [opnat]\n")
    assert isinstance(err, SyscallNotFound)
    assert err.name == "opnat"
    assert "openat" in err.suggestions


def test_all_errors_of_a_file_are_reported_together(tmp_path: Path) -> None:
    text = HEAD + "rules:\n  - action: allow\n    syscalls: [opnat, raed]\n"
    with pytest.raises(ErrorList) as info:
        load_policy(write(tmp_path, text))
    assert [e.name for e in info.value.errors if isinstance(e, SyscallNotFound)] == [
        "opnat",
        "raed",
    ]


def test_extends_cycle(tmp_path: Path) -> None:
    write(tmp_path, HEAD + "extends: b.yaml\n", "a.yaml")
    write(tmp_path, HEAD + "extends: a.yaml\n", "b.yaml")
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path / "a.yaml")
    assert info.value.code == "extends-cycle"
    assert info.value.location is not None
    assert info.value.location.path.endswith("b.yaml")


def test_extends_self(tmp_path: Path) -> None:
    write(tmp_path, HEAD + "extends: a.yaml\n", "a.yaml")
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path / "a.yaml")
    assert info.value.code == "extends-cycle"
    assert info.value.location is not None and info.value.location.line == 5


def test_extends_missing(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(write(tmp_path, HEAD + "extends: nowhere.yaml\n"))
    assert info.value.code == "extends-missing"


def test_errors_in_the_extended_file_name_that_file(tmp_path: Path) -> None:
    write(tmp_path, HEAD + "rules:\n  - action: allow\n    syscalls: [nosuch]\n", "base.yaml")
    with pytest.raises(InputError) as info:
        load_policy(write(tmp_path, "seccompiler: 1\nextends: base.yaml\n"))
    assert info.value.location is not None
    assert info.value.location.path.endswith("base.yaml")
    assert info.value.location.line == 7


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(write(tmp_path, "- just\n- a list\n"))
    assert info.value.code == "not-a-mapping"


# Shape mistakes, each with a hint that says what to write instead: (text, code, hint part).
HINTED = [
    (HEAD + "rules: 5\n", "bad-rule", "'rules: []'"),
    (HEAD + "rules: [5]\n", "bad-rule", "syscalls: [read, write]"),
    (
        HEAD + "rules: [{action: allow, syscalls: [read], args: [{index: 0, value: ''}]}]\n",
        "bad-value",
        "CLONE_NEWNS|8",
    ),
    ("seccompiler: 1\nname: t\nabis: [x86_64]\n", "no-default", "default: errno(EPERM)"),
]


@pytest.mark.parametrize(("text", "code", "hint"), HINTED)
def test_shape_mistakes_say_what_to_write(tmp_path: Path, text: str, code: str, hint: str) -> None:
    err = first_error(tmp_path, text)
    assert isinstance(err, PolicyError) and err.code == code
    assert err.location is not None and err.location.line
    assert hint in err.hint


def test_a_key_that_is_a_list_is_located_with_a_hint(tmp_path: Path) -> None:
    err = first_error(tmp_path, "seccompiler: 1\n[a]: x\n")
    assert err.location is not None and (err.location.line, err.location.column) == (2, 1)
    assert "quoted string" in err.hint
