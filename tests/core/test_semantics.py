"""What compiled programs decide, as tables; and every backend checked against that.

- Program.decide rows: (policy, abi, syscall, args, caps → action).
- BPF: the verifier proves each family filter equal to Program.decide, on every ABI,
  including big-endian ones where argument words sit the other way round.
- OCI: the JSON read back with libseccomp's rules (seccompiler.frontend.ocijson, written
  independently of the backend) decides like the program on boundary arguments.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seccompiler.arch import abi as abimod
from seccompiler.arch import tables
from seccompiler.backends import bpf, dnf, oci
from seccompiler.compile import load_program
from seccompiler.frontend import ocijson
from seccompiler.program import Action, Program
from seccompiler.prove.verify import arg_vectors, verify_bpf

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "profiles" / "keisson-default.yaml"

CLONE_NEWUSER = 0x10000000
HI = 1 << 32

TEST_POLICY = """\
seccompiler: 1
name: sample
abis: [x86_64, x86, x32, aarch64, arm, riscv64, ppc64le, ppc64, s390x, s390]
default: allow
unknown: errno(ENOSYS)
rules:
  - action: errno(EPERM)
    syscalls: ["@legacy", "@mount"]
  - action: errno(EPERM)
    syscalls: [personality]
  - action: allow
    syscalls: [personality]
    args: [{index: 0, op: eq, value: [0, 8]}]
  - action: errno(EAFNOSUPPORT)
    syscalls: [socket]
    args: [{index: 0, value: AF_ALG}]
  - action: errno(EACCES)
    syscalls: [socket]
    args: [{index: 0, value: 0x100000026, width: 64}]
  - action: kill-process
    syscalls: [kill]
    args: [{index: 1, op: gt, value: 64}]
  - action: errno(EINVAL)
    syscalls: [mmap]
    args: [{index: 2, op: ge, value: 0x100000000}, {index: 3, op: lt, value: 7}]
    abis: [x86_64, x86, aarch64, arm, riscv64, ppc64le, ppc64, s390x, s390]  # not x32
  - action: log
    syscalls: [ioctl]
    args: [{index: 1, op: ne, value: 0x5401}]
  - action: trap
    syscalls: [setns]
  - action: allow
    syscalls: [mount]
    caps: [CAP_SYS_ADMIN]
  - action: errno(EPERM)
    syscalls: [getcwd]
    abis: [aarch64]
"""


# What flat OCI JSON can say exactly: no per-ABI rules, no 32-bit ordered comparisons.
OCI_POLICY = """\
seccompiler: 1
name: oci-sample
abis: [x86_64, x86, aarch64, arm]
default: errno(EPERM)
unknown: errno(ENOSYS)
rules:
  - action: allow
    syscalls: [read, write, exit_group, mseal]
  - action: allow
    syscalls: [personality]
    args: [{index: 0, op: eq, value: [0, 8, 0xffffffff], width: 64}]
  - action: errno(EAFNOSUPPORT)
    syscalls: [socket]
    args: [{index: 0, value: [AF_ALG, AF_VSOCK]}]
  # libseccomp copies socket's rules onto socketcall(SYS_SOCKET) on x86: say the same there
  - action: errno(EAFNOSUPPORT)
    syscalls: [socketcall]
    args: [{index: 0, value: SYS_SOCKET}]
  - action: kill-process
    syscalls: [kill]
    args: [{index: 1, op: gt, value: 64, width: 64}]
  - action: log
    syscalls: [ioctl]
    args: [{index: 1, op: ne, value: 0x5401}]
  - action: allow
    syscalls: [clone]
    args: [{index: 0, op: masked_eq, mask: 0x7e020000, value: 0}]
  - action: trap
    syscalls: [clone]
    args: [{index: 0, op: masked_eq, mask: CLONE_NEWUSER, value: CLONE_NEWUSER}]
"""


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("pol") / "sample.yaml"
    p.write_text(TEST_POLICY)
    return p


def decide(program: Program, abi: str, syscall: str | int, *args: int) -> str:
    a = abimod.ABIS[abi]
    nr = syscall if isinstance(syscall, int) else tables.table(a).by_name[syscall]
    full = (*args, *(0,) * (6 - len(args)))
    return str(program.decide(a.audit_arch, nr, full))


SAMPLE_ROWS = [
    ("x86_64", "read", (), "allow"),
    ("x86_64", "uselib", (), "errno(EPERM)"),
    ("x86", "vm86", (), "errno(EPERM)"),
    ("x86_64", "mount", (), "errno(EPERM)"),
    ("x86_64", "personality", (0,), "allow"),
    ("x86_64", "personality", (8,), "allow"),
    ("x86_64", "personality", (9,), "errno(EPERM)"),
    ("x86_64", "socket", (38,), "errno(EAFNOSUPPORT)"),
    ("x86_64", "socket", (HI | 38,), "errno(EACCES)"),  # the later width-64 rule wins
    ("x86_64", "socket", (2 * HI | 38,), "errno(EAFNOSUPPORT)"),  # int argument: low word
    # a 32-bit ABI's registers hold no 0x100000026: the width-64 rule never applies there
    ("x86", "socket", (HI | 38,), "errno(EAFNOSUPPORT)"),
    ("x86_64", "socket", (2,), "allow"),
    ("x86", "socket", (38,), "errno(EAFNOSUPPORT)"),
    ("x86_64", "kill", (1, 9), "allow"),
    ("x86_64", "kill", (1, 65), "kill-process"),
    ("x86_64", "kill", (1, HI | 9), "allow"),  # int argument: the upper half is ignored
    ("x86_64", "mmap", (0, 0, HI, 6), "errno(EINVAL)"),
    ("x86_64", "mmap", (0, 0, HI, 7), "allow"),
    ("x86_64", "mmap", (0, 0, HI - 1, 6), "allow"),
    ("x86", "mmap", (0, 0, HI, 6), "allow"),  # 32-bit ABI: no argument reaches 0x100000000
    ("x86_64", "ioctl", (0, 0x5401), "allow"),
    ("x86_64", "ioctl", (0, 0x5402), "log"),
    ("x86_64", "setns", (), "trap"),
    ("aarch64", "getcwd", (), "errno(EPERM)"),
    ("arm", "getcwd", (), "allow"),
    ("x86_64", "mseal", (), "allow"),
    ("arm", "mseal", (), "allow"),
    ("x86_64", 1000, (), "errno(ENOSYS)"),
    ("arm", 0x0F0010, (), "errno(ENOSYS)"),
    ("x32", "read", (), "allow"),
    ("x32", "uselib", (), "errno(EPERM)")
    if "uselib" in tables.table("x32").by_name
    else ("x32", "mount", (), "errno(EPERM)"),
    ("s390x", "personality", (8,), "allow"),
    ("ppc64", "socket", (38,), "errno(EAFNOSUPPORT)"),
]


@pytest.mark.parametrize(("abi", "syscall", "args", "expected"), SAMPLE_ROWS)
def test_sample_policy_decisions(
    sample: Path, abi: str, syscall: str | int, args: tuple[int, ...], expected: str
) -> None:
    assert decide(load_program(str(sample)), abi, syscall, *args) == expected


def test_capability_conditional_rule(sample: Path) -> None:
    granted = load_program(str(sample), caps=["CAP_SYS_ADMIN"])
    assert decide(granted, "x86_64", "mount") == "allow"
    assert decide(load_program(str(sample), caps=["none"]), "x86_64", "mount") == "errno(EPERM)"


def test_foreign_arch_and_missing_x32(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text("seccompiler: 1\nabis: [x86_64]\ndefault: allow\n")
    prog = load_program(str(p))
    assert str(prog.decide(abimod.ABIS["aarch64"].audit_arch, 0)) == "kill-process"
    assert str(prog.decide(abimod.ABIS["x86_64"].audit_arch, 0x40000000)) == "kill-process"


def test_extends_later_rules_win(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(
        "seccompiler: 1\nabis: [x86_64]\ndefault: allow\nrules:\n"
        "  - {action: errno(EPERM), syscalls: [getcwd, uname]}\n"
    )
    (tmp_path / "child.yaml").write_text(
        "seccompiler: 1\nextends: base.yaml\nname: child\nrules:\n"
        "  - {action: allow, syscalls: [uname], reason: needed}\n"
    )
    prog = load_program(str(tmp_path / "child.yaml"))
    assert prog.name == "child"
    assert decide(prog, "x86_64", "getcwd") == "errno(EPERM)"
    assert decide(prog, "x86_64", "uname") == "allow"
    uname = prog.abis[0].syscalls[tables.table("x86_64").by_name["uname"]]
    assert uname.fallback_origin is not None
    assert uname.fallback_origin.path.endswith("child.yaml")
    assert uname.fallback_origin.line == 5
    assert uname.fallback_origin.reason == "needed"


DEFAULT_ROWS = [
    ("x86_64", "read", (), "allow"),
    ("x86_64", "uselib", (), "errno(EPERM)"),
    ("x86_64", "io_uring_setup", (), "errno(EPERM)"),
    ("x86_64", "bpf", (), "errno(EPERM)"),
    ("x86_64", "kexec_load", (), "errno(EPERM)"),
    ("x86_64", "mount", (), "errno(EPERM)"),
    ("x86_64", "setns", (), "errno(EPERM)"),
    ("x86_64", "clone", (0x11,), "allow"),
    ("x86_64", "clone", (0x3D0F00,), "allow"),
    ("x86_64", "clone", (CLONE_NEWUSER | 0x11,), "errno(EPERM)"),
    ("x86", "clone", (0x20000,), "errno(EPERM)"),
    ("x86_64", "clone3", (), "errno(ENOSYS)"),
    ("x86_64", "unshare", (0x400,), "allow"),
    ("x86_64", "unshare", (0x40000000,), "errno(EPERM)"),
    ("x86_64", "unshare", (0x80,), "errno(EPERM)"),
    ("x86_64", "personality", (0,), "allow"),
    ("x86_64", "personality", (8,), "allow"),
    ("x86_64", "personality", (0x40000,), "allow"),
    ("x86_64", "personality", (0x400000,), "errno(EPERM)"),
    ("x86_64", "personality", (HI,), "allow"),
    ("x86_64", "socket", (38,), "errno(EPERM)"),
    ("x86_64", "socket", (40,), "errno(EPERM)"),
    ("x86_64", "socket", (HI | 40,), "errno(EPERM)"),
    ("x86_64", "socket", (2,), "allow"),
    ("x86", "socket", (38,), "errno(EPERM)"),
    ("x86", "socketcall", (1,), "allow"),  # the family sits behind a pointer: see the doc
    ("x86", "socketcall", (3,), "allow"),
    ("x86_64", "personality", (0xFFFFFFFF,), "allow"),  # the query gdb makes
    ("x86_64", "personality", (HI | 0xFFFFFFFF,), "allow"),
    ("x86_64", "personality", (0xFFFFFFFE,), "errno(EPERM)"),
    ("x86", "personality", (0xFFFFFFFF,), "allow"),
    ("x86_64", "ptrace", (), "allow"),
    ("x86_64", "process_vm_readv", (), "allow"),
    ("x86_64", "kcmp", (), "allow"),
    ("x86_64", "pidfd_getfd", (), "allow"),
    ("x86_64", "mseal", (), "allow"),
    ("x86", "mseal", (), "allow"),
    ("aarch64", "listmount", (), "allow"),
    ("x86_64", 1000, (), "errno(ENOSYS)"),
    ("aarch64", "uselib", (), "allow")
    if "uselib" in tables.table("aarch64").by_name
    else ("aarch64", "mount", (), "errno(EPERM)"),
]


@pytest.mark.parametrize(("abi", "syscall", "args", "expected"), DEFAULT_ROWS)
def test_default_profile_decisions(
    abi: str, syscall: str | int, args: tuple[int, ...], expected: str
) -> None:
    assert decide(load_program(str(DEFAULT)), abi, syscall, *args) == expected


def test_minus_one_is_a_native_number() -> None:
    """Tracers write -1 to skip a syscall; a filter must not kill the tracee for it."""
    prog = load_program(str(DEFAULT))
    assert str(prog.decide(abimod.ABIS["x86_64"].audit_arch, 0xFFFFFFFF)) == "errno(ENOSYS)"


def test_default_capability_keyword(sample: Path) -> None:
    plain = load_program(str(sample))
    spelled = load_program(str(sample), caps=["default"])
    assert plain == spelled
    admin = load_program(str(sample), caps=["default,CAP_SYS_ADMIN"])
    assert decide(admin, "x86_64", "mount") == "allow"


def test_default_profile_refuses_x32() -> None:
    prog = load_program(str(DEFAULT))
    x86_64 = abimod.ABIS["x86_64"].audit_arch
    assert str(prog.decide(x86_64, 0x40000000)) == "kill-process"
    assert str(prog.decide(x86_64, 0x40000000 | 257)) == "kill-process"


def test_every_default_block_has_a_reason() -> None:
    prog = load_program(str(DEFAULT))
    for p in prog.abis:
        for sp in p.syscalls.values():
            for rule in sp.rules:
                assert rule.origin is not None and rule.origin.reason, (p.abi.name, sp.name)
            if sp.fallback.blocks:
                assert sp.fallback_origin is not None and sp.fallback_origin.reason, sp.name


@pytest.mark.parametrize("policy", ["sample", "default"])
def test_bpf_is_proved_equal_to_the_program(sample: Path, policy: str) -> None:
    prog = load_program(str(sample if policy == "sample" else DEFAULT))
    for family in bpf.families(prog):
        report = verify_bpf(prog, bpf.compile_family(prog, family), family, cross_check=True)
        assert report.ok, report.lines()[:5]
        assert report.method == "symbolic", report.fallback


def test_bpf_prover_catches_a_wrong_filter(sample: Path) -> None:
    prog = load_program(str(sample))
    other = load_program(str(DEFAULT), abis=["x86_64", "x86"])
    report = verify_bpf(prog, bpf.compile_family(other, "x86_64"), "x86_64")
    assert not report.ok
    assert report.total_disagreements > 0


def _oci_program(prog: Program, family: str) -> Program:
    text = oci.render_family(prog, family).decode()
    abis = [p.abi.name for p in prog.families()[family]]
    return ocijson.resolve(ocijson.parse(text, f"{family}.json"), abis=abis).program


DOCKER_STYLE = """\
seccompiler: 1
abis: [x86_64, x86]
default: errno(EPERM)
rules:
  - {action: allow, syscalls: [read, write, socketcall]}
  - {action: allow, syscalls: [socket], args: [{index: 0, op: lt, value: 38, width: 64}]}
  - {action: allow, syscalls: [socket], args: [{index: 0, op: eq, value: 39, width: 64}]}
  - {action: allow, syscalls: [socket], args: [{index: 0, op: gt, value: 40, width: 64}]}
"""


# Value lists and layered masks: the regions skip earlier rules that cannot match there, and
# the "none of these values" region is multiplied out; both must stay exact.
LISTS = f"""\
seccompiler: 1
abis: [x86_64, x86]
default: allow
unknown: errno(ENOSYS)
rules:
  - {{action: errno(EPERM), syscalls: [ioctl]}}
  - action: allow
    syscalls: [ioctl]
    args: [{{index: 1, value: {[3 * i + i % 5 for i in range(40)]}}}]
  - {{action: errno(EACCES), syscalls: [fcntl], args: [{{index: 1, value: [1, 2, 3, 4, 1030]}}]}}
  - action: errno(EPERM)
    syscalls: [fcntl]
    args: [{{index: 1, op: masked_eq, mask: 0xf0, value: 0x10}}]
  - {{action: allow, syscalls: [fcntl], args: [{{index: 1, op: masked_eq, mask: 0x0f, value: 3}}]}}
  - action: errno(EPERM)
    syscalls: [prctl]
    args: [{{index: 0, value: [1, 2, 3, 40, 41]}}, {{index: 1, value: 7}}]
"""
POLICIES = {"oci-sample": OCI_POLICY, "docker-style": DOCKER_STYLE, "lists": LISTS}


@pytest.mark.parametrize("policy", list(POLICIES))
def test_symbolic_proof_and_emulator_agree_on_argument_policies(
    tmp_path: Path, policy: str
) -> None:
    p = tmp_path / f"{policy}.yaml"
    p.write_text(POLICIES[policy])
    prog = load_program(str(p))
    for family in bpf.families(prog):
        report = verify_bpf(prog, bpf.compile_family(prog, family), family, cross_check=True)
        assert report.ok and report.method == "symbolic", report.lines()[:5]


@pytest.mark.parametrize("policy", ["default", *POLICIES])
def test_oci_json_means_what_the_program_means(tmp_path: Path, policy: str) -> None:
    if policy == "default":
        prog = load_program(str(DEFAULT))
    else:
        p = tmp_path / "s.yaml"
        p.write_text(POLICIES[policy])
        prog = load_program(str(p))
    checked = 0
    for family, progs in prog.families().items():
        read_back = _oci_program(prog, family)
        for p in progs:
            q = read_back.abi(p.abi.name)
            assert q is not None
            for nr, sp in p.syscalls.items():
                for args in arg_vectors(p, nr):
                    got = q.decide(nr, args)
                    want = p.decide(nr, args)
                    assert got == want, (p.abi.name, sp.name, [hex(a) for a in args], got, want)
                    checked += 1
    assert checked > 500


@pytest.mark.parametrize(
    ("socketcall", "refused"),
    [
        ("  - {action: errno(EACCES), syscalls: [socketcall]}\n", True),
        ("  - {action: allow, syscalls: [socketcall]}\n", False),
    ],
    ids=["socketcall-refused", "socketcall-allowed"],
)
def test_oci_refuses_what_libseccomp_would_copy_onto_socketcall(
    tmp_path: Path, socketcall: str, refused: bool
) -> None:
    """socket's rules are copied onto socketcall(SYS_SOCKET): that copy must agree with it.

    With socketcall refused by its own action, every default fails: the copy of socket's
    allow or refusal disagrees with it, or two copies collide.
    """
    p = tmp_path / "p.yaml"
    p.write_text(
        "seccompiler: 1\nabis: [x86_64, x86]\ndefault: errno(EPERM)\nrules:\n"
        "  - {action: allow, syscalls: [read]}\n"
        "  - {action: allow, syscalls: [socket], args: [{index: 0, value: 2}]}\n" + socketcall
    )
    prog = load_program(str(p))
    if not refused:
        assert json.loads(oci.render_family(prog, "x86_64"))["defaultAction"] == "SCMP_ACT_ERRNO"
        return
    with pytest.raises(oci.NotExpressible, match="socketcall"):
        oci.render_family(prog, "x86_64")


@pytest.mark.parametrize("profile", ["keisson-default.yaml", "keisson-strict.yaml"])
def test_oci_memo_shared_by_families_changes_no_byte(profile: str) -> None:
    """Renderings sharing a memo (as compile's do) write what each writes alone.

    Under the bundled profiles' first defaults personality cannot be written; the memo keeps
    that failure, and the later families meet it again from the memo.
    """
    prog = load_program(str(REPO / "profiles" / profile))
    memo: oci.Memo = {}
    for family in prog.families():
        assert oci.render_family(prog, family, memo) == oci.render_family(prog, family)
    assert any(isinstance(v, oci.NotExpressible) for v in memo.values())


@pytest.mark.parametrize("family", ["x86_64", "aarch64"])
def test_oci_profile_shape(family: str) -> None:
    prog = load_program(str(DEFAULT))
    doc = json.loads(oci.render_family(prog, family))
    # personality's refusal and, on x86, socket's (libseccomp copies socket's rules onto
    # socketcall, so socket can carry one action besides the default) make EPERM the default
    default = ("SCMP_ACT_ERRNO", 1)
    assert (doc["defaultAction"], doc.get("defaultErrnoRet")) == default
    assert not oci.default_is_unknown(prog, doc)
    for entry in doc["syscalls"]:
        assert (entry["action"], entry.get("errnoRet")) != default
        indexes = [a["index"] for a in entry.get("args", [])]
        assert len(indexes) == len(set(indexes)), "libseccomp allows one comparison per argument"
    assert "SCMP_ARCH_X32" not in doc["architectures"]
    assert "archMap" not in doc and all("includes" not in e for e in doc["syscalls"])
    socket = {(e["action"], e.get("errnoRet")) for e in doc["syscalls"] if "socket" in e["names"]}
    assert socket == {("SCMP_ACT_ALLOW", None)}
    # the smallest exact form of personality: its two allowed regions, one rule each
    personality = [e["args"] for e in doc["syscalls"] if e["names"] == ["personality"]]
    assert personality == [
        [{"index": 0, "value": 0xFFF9FFF7, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
        [{"index": 0, "value": 0xFFFFFFFF, "valueTwo": 0xFFFFFFFF, "op": "SCMP_CMP_MASKED_EQ"}],
    ]


def test_oci_output_loads_into_libseccomp() -> None:
    """Every rule of every family profile is accepted by the system libseccomp."""
    from seccompiler.prove import libseccomp_ref

    prog = load_program(str(DEFAULT))
    for family in prog.families():
        doc = oci.render_family(prog, family).decode()
        ref = libseccomp_ref.build_profile(ocijson.parse(doc, f"{family}.json"), family)
        assert len(ref.bpf) > 8


def test_oci_refuses_what_it_cannot_express(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text(
        "seccompiler: 1\nabis: [x86_64]\ndefault: allow\nrules:\n"
        "  - {action: errno(EPERM), syscalls: [socket], args: [{index: 0, op: lt, value: 3}]}\n"
    )
    with pytest.raises(oci.NotExpressible):
        oci.to_oci(load_program(str(p)))


def test_action_round_trip() -> None:
    for text in [
        "allow",
        "log",
        "errno(EPERM)",
        "kill-process",
        "kill-thread",
        "trap",
        "notify",
        "trace(7)",
    ]:
        a = Action.parse(text)
        assert str(a) == text
        assert Action.from_ret(a.ret) == a


def _refused_list(tmp_path: Path, count: int, more_rules: str = "") -> Program:
    """An x86_64 policy refusing ``count`` values of ioctl's second argument, and more rules."""
    values = ", ".join(str(3 * i) for i in range(count))
    p = tmp_path / "list.yaml"
    p.write_text(
        "seccompiler: 1\nabis: [x86_64]\ndefault: allow\nunknown: errno(ENOSYS)\nrules:\n"
        "  - action: errno(EPERM)\n    syscalls: [ioctl]\n"
        f"    args: [{{index: 1, value: [{values}]}}]\n" + more_rules
    )
    return load_program(str(p))


def test_oci_work_spent_on_a_later_default_says_why_the_first_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 refused values cannot be written against errno(ENOSYS) (more than 256 rules), so
    allow is tried next, where personality's masked exception costs work; when the budget
    runs out there, the refusal says both."""
    prog = _refused_list(
        tmp_path,
        300,
        "  - action: errno(EPERM)\n    syscalls: [personality]\n"
        "  - action: allow\n    syscalls: [personality]\n"
        "    args: [{index: 0, op: masked_eq, mask: 0xfff9fff7, value: 0}]\n",
    )
    spent = dnf.Work()
    monkeypatch.setattr(oci, "Work", lambda: spent)
    assert oci.to_oci(prog)["defaultAction"] == "SCMP_ACT_ALLOW"
    used = spent.limit - spent.left
    monkeypatch.setattr(oci, "Work", lambda: dnf.Work(used - 1))
    with pytest.raises(dnf.TooMuchWork) as info:
        oci.render_family(prog, "x86_64")
    message = info.value.message
    assert "'personality'" in message and "trying defaultAction allow" in message
    assert "before it, errno(ENOSYS) could not write the profile exactly" in message
    assert "more than 256 libseccomp rules" in message


def test_oci_work_is_bounded_and_names_the_syscall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rendering spends a budget of term comparisons; past it, one located refusal."""
    prog = _refused_list(tmp_path, 200)
    spent = dnf.Work()
    monkeypatch.setattr(oci, "Work", lambda: spent)
    oci.render_family(prog, "x86_64")
    used = spent.limit - spent.left
    assert 0 < used < dnf.MAX_WORK
    monkeypatch.setattr(oci, "Work", lambda: dnf.Work(used // 2))
    with pytest.raises(dnf.TooMuchWork) as info:
        oci.render_family(prog, "x86_64")
    assert "'ioctl'" in info.value.message
