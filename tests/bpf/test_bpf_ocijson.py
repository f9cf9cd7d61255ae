"""Reading JSON profiles: located errors, includes/excludes, and runc's reading of rules."""

from __future__ import annotations

import json

import pytest

from seccompiler.base.errors import InputError, UsageError
from seccompiler.frontend.ocijson import parse, resolve
from seccompiler.program import Action, ActionKind

EPERM = Action(ActionKind.ERRNO, 1)
ALLOW = Action(ActionKind.ALLOW)


def profile(*rules: dict[str, object], **top: object) -> str:
    doc: dict[str, object] = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": []},
        ],
        "syscalls": list(rules),
    }
    doc.update(top)
    return json.dumps(doc, indent=2)


def decide(text: str, abi: str, name: str, args: tuple[int, ...] = (), **kw: object) -> Action:
    from seccompiler.arch.abi import ABIS
    from seccompiler.arch.tables import table

    prog = resolve(parse(text, "p.json"), **kw).program  # type: ignore[arg-type]
    a = ABIS[abi]
    return prog.decide(a.audit_arch, table(a).by_name[name], (*args, 0, 0, 0, 0, 0, 0)[:6])


ERRORS = [
    ('{"defaultAction": "SCMP_ACT_ERRNO",\n "syscalls": [}', 2, 15),
    ("[]", 1, 1),
    ('{"syscalls": []}', 1, 1),
    ('{"defaultAction": "SCMP_ACT_NOPE"}', 1, 1),
    (
        '{"defaultAction": "SCMP_ACT_ERRNO",\n  "syscalls": [\n    {"names": ["read"], '
        '"action": "SCMP_ACT_ALLOW", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}',
        3,
        62,
    ),
    (
        '{"defaultAction": "SCMP_ACT_ERRNO",\n "syscalls": [\n  {"names": "read", '
        '"action": "SCMP_ACT_ALLOW"}]}',
        3,
        3,
    ),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "ARM64"}]}', 1, 49),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}', 1, 1),
    ("[" * 100_000, 1, 101),  # too deep: at the first bracket past 100 levels
    ('{"a": "[[[[",\n "b": ' + "[" * 5_000, 2, 106),  # brackets in strings do not count
]


@pytest.mark.parametrize(("text", "line", "col"), ERRORS)
def test_errors_are_located(text: str, line: int, col: int) -> None:
    with pytest.raises(InputError) as exc:
        parse(text, "p.json")
    loc = exc.value.location
    assert loc is not None and (loc.path, loc.line, loc.column) == ("p.json", line, col)


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ('{"defaultAction": "SCMP_ACT_ERRNO",\n  "architectures": ["SCMP_ARCH_BOGUS"]}', 2, 20),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [\n'
            '  {"architecture": "SCMP_ARCH_SH"}]}',
            2,
            3,
        ),
    ],
)
def test_a_profile_of_unknown_arches_is_refused_where_it_lists_them(
    text: str, line: int, col: int
) -> None:
    with pytest.raises(InputError) as exc:
        resolve(parse(text, "p.json"))
    loc = exc.value.location
    assert loc is not None and (loc.line, loc.column) == (line, col)
    assert "SCMP_ARCH_X86_64" in exc.value.hint


CAPS_RULES = profile(
    {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
    {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
    {"names": ["kcmp"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["arm64"]}},
    {
        "names": ["setns"],
        "action": "SCMP_ACT_ALLOW",
        "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"]},
    },
)

RESOLVE = [
    ("cap included", "x86_64", "mount", {"caps": ["CAP_SYS_ADMIN"]}, ALLOW),
    ("cap missing", "x86_64", "mount", {}, EPERM),
    ("cap excludes", "x86_64", "chroot", {"caps": ["CAP_SYS_ADMIN"]}, EPERM),
    ("cap not excluded", "x86_64", "chroot", {}, ALLOW),
    ("arch included", "x86_64", "arch_prctl", {}, ALLOW),
    ("all included caps needed", "x86_64", "setns", {"caps": ["CAP_SYS_ADMIN"]}, EPERM),
    ("all included caps held", "x86_64", "setns", {"caps": ["SYS_ADMIN", "sys_ptrace"]}, ALLOW),
    ("old kernel", "x86_64", "ptrace", {"kernel": "4.4"}, EPERM),
    ("new kernel", "x86_64", "ptrace", {"kernel": "5.15.0-91-generic"}, ALLOW),
    ("no kernel given: any", "x86_64", "ptrace", {}, ALLOW),
    ("arch excluded on aarch64", "aarch64", "kcmp", {}, EPERM),
    ("arch not excluded on x86 (family amd64)", "x86", "kcmp", {}, ALLOW),
]


@pytest.mark.parametrize(
    ("abi", "name", "kw", "want"), [c[1:] for c in RESOLVE], ids=[c[0] for c in RESOLVE]
)
def test_includes_and_excludes(abi: str, name: str, kw: dict[str, object], want: Action) -> None:
    assert decide(CAPS_RULES, abi, name, **kw) == want


RUNC = profile(
    {
        "names": ["personality"],
        "action": "SCMP_ACT_ALLOW",
        "args": [
            {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
            {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
        ],
    },
    {
        "names": ["socket"],
        "action": "SCMP_ACT_ALLOW",
        "args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"},
        ],
    },
    {
        "names": ["clone"],
        "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": 0x10000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
    },
    {"names": ["clone"], "action": "SCMP_ACT_LOG"},
    {"names": ["kill"], "action": "SCMP_ACT_ERRNO"},
    {"names": ["tkill"], "action": "SCMP_ACT_TRACE"},
    {
        "names": ["tgkill"],
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": 1,
        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}],
    },
)

SEMANTICS = [
    ("same argument twice: either may match", "personality", (8,), ALLOW),
    ("same argument twice: first", "personality", (0,), ALLOW),
    ("same argument twice: neither", "personality", (9,), EPERM),
    ("two arguments: both", "socket", (1, 2), ALLOW),
    ("two arguments: one", "socket", (1, 3), EPERM),
    ("unconditional overrides conditional", "clone", (0,), Action(ActionKind.LOG)),
    ("errno without errnoRet is EPERM", "kill", (), EPERM),
    ("trace without errnoRet is EPERM", "tkill", (), Action(ActionKind.TRACE, 1)),
    ("rule with the default action is dropped", "tgkill", (1,), EPERM),
]


@pytest.mark.parametrize(
    ("name", "args", "want"), [c[1:] for c in SEMANTICS], ids=[c[0] for c in SEMANTICS]
)
def test_runc_reading_of_rules(name: str, args: tuple[int, ...], want: Action) -> None:
    assert decide(RUNC, "x86_64", name, args) == want


def test_oci_format_and_config_json() -> None:
    oci = json.dumps(
        {
            "linux": {},
            "seccomp": {
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_AARCH64"],
                "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
            },
        }
    )
    p = parse(oci, "config.json")
    assert p.arches == ("aarch64",) and not p.docker_format
    assert decide(oci, "aarch64", "mount") == Action(ActionKind.ERRNO, 13)


def test_abi_selection() -> None:
    p = parse(CAPS_RULES, "p.json")
    assert [a.abi.name for a in resolve(p, abis=["arm64"]).program.abis] == ["aarch64"]
    with pytest.raises(UsageError):
        resolve(p, abis=["s390x"])
    with pytest.raises(UsageError):
        resolve(p, kernel="four")


def test_a_profile_for_unknown_arches_only_is_refused() -> None:
    p = parse('{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_SH"]}')
    assert p.unknown_arches == ("SCMP_ARCH_SH",)
    with pytest.raises(InputError):
        resolve(p)
    bare = parse('{"defaultAction": "SCMP_ACT_ALLOW"}')
    assert [a.abi.name for a in resolve(bare).program.abis] == ["x86_64"]


def test_a_byte_order_mark_before_the_json_is_read_past() -> None:
    text = '{"defaultAction": "SCMP_ACT_ERRNO",\n "syscalls": [{"names": ["read"], "action": 1}]}'
    assert decide("\ufeff" + profile(), "x86_64", "read") == EPERM
    with pytest.raises(InputError) as exc:
        parse("\ufeff" + text, "p.json")
    loc = exc.value.location
    assert loc is not None and loc.line == 2  # the mark takes no column of its own


@pytest.mark.parametrize("text", ['{"defaultAction": "SCMP_ACT_ERRNO",}', "{'a': 1}", "// c\n{}"])
def test_malformed_json_says_what_json_does_not_allow(text: str) -> None:
    with pytest.raises(InputError) as exc:
        parse(text, "p.json")
    assert exc.value.message.startswith("not valid JSON")
    assert "trailing commas" in exc.value.hint
