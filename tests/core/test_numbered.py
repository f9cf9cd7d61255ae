"""Rules by syscall number (``nr:``): refused where wrong, exact everywhere they can be said.

A number the table names, or one outside its ABI's numbers, is a located error; a numbered
rule flows through the resolver, the BPF (proved), PFC, libseccomp (on the native arch),
stats, disasm and diff; OCI JSON, which names syscalls, refuses it at its rule wherever the
runtime would answer it otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seccompiler.arch import abi as abimod
from seccompiler.arch import tables
from seccompiler.backends import bpf, oci, pfc
from seccompiler.backends.dnf import NotExpressible
from seccompiler.base.errors import ErrorList, InputError
from seccompiler.bpf import emulate
from seccompiler.bpf.disasm import disassemble
from seccompiler.bpf.insn import decode
from seccompiler.bpf.stats import filter_stats
from seccompiler.compile import load_program
from seccompiler.frontend.policy import load_policy
from seccompiler.program import Action, Program
from seccompiler.prove import libseccomp_ref, lint
from seccompiler.prove.diff import Side, diff
from seccompiler.prove.verify import verify_bpf

TOP = {a: tables.table(a).max_nr for a in ("x86_64", "x86", "aarch64", "mips", "mips64n32")}
N = TOP["x86_64"] + 9  # beyond the table on x86_64, aarch64 (same numbers today)


def policy(
    rules: str, abis: str = "[x86_64, x86, x32, aarch64]", unknown: str = "errno(ENOSYS)"
) -> str:
    return (
        f"seccompiler: 1\nname: numbered\nabis: {abis}\ndefault: allow\nunknown: {unknown}\n"
        f"rules:\n{rules}"
    )


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


# (the rule's nr: value, policy ABIs, error code, column of the error on line 8, hint words)
REFUSED = [
    ("{x86_64: 257}", "[x86_64]", "nr-named", 18, "openat"),
    ("{x32: 0}", "[x32]", "nr-named", 15, "read"),
    ("{x86_64: -1}", "[x86_64]", "nr-range", 18, "non-negative"),
    ("{x86_64: 4294967296}", "[x86_64]", "nr-range", 18, "32-bit"),
    ("{x86_64: 0x400001e0}", "[x86_64]", "nr-range", 18, "x32"),
    ("{x86_64: 0xc0000000}", "[x86_64]", "nr-range", 18, "x32 bit"),
    ("{x86_64: 0xfffffffe}", "[x86_64]", "nr-range", 18, "x32 bit"),
    ("{x32: 0x80000000}", "[x32]", "nr-range", 15, "outside x32's numbers"),
    ("{mips: 480}", "[mips]", "nr-range", 16, "did you mean 4480"),
    ("{mips: 5480}", "[mips]", "nr-range", 16, "from 4000"),
    ("{mips64n32: 5480}", "[mips64n32]", "nr-range", 21, "from 6000"),
    ("{x86_64: '480'}", "[x86_64]", "bad-nr", 18, ""),
    ("{x86_64: [480, true]}", "[x86_64]", "bad-nr", 24, ""),
    ("[480]", "[x86_64]", "bad-nr", 9, "x86_64"),
    ("{x86_64: []}", "[x86_64]", "bad-nr", 18, ""),
    ("{x68_64: 480}", "[x86_64]", "unknown-abi", 10, "x86_64"),
    ("{aarch64: 480}", "[x86_64]", "absent-on-abis", 19, "abis"),
]


@pytest.mark.parametrize(("nr", "abis", "code", "column", "hint"), REFUSED)
def test_a_wrong_number_is_a_located_error(
    tmp_path: Path, nr: str, abis: str, code: str, column: int, hint: str
) -> None:
    text = policy(f"  - action: errno(EACCES)\n    nr: {nr}\n", abis)
    with pytest.raises(InputError) as info:
        load_policy(write(tmp_path, text))
    err = info.value.errors[0] if isinstance(info.value, ErrorList) else info.value
    assert (err.code, err.location.line, err.location.column) == (code, 8, column)
    assert hint in err.message + err.hint


def test_one_number_given_two_actions_in_one_file_is_a_conflict(tmp_path: Path) -> None:
    rules = (
        f"  - {{action: errno(EACCES), nr: {{x86_64: {N}}}}}\n"
        f"  - {{action: allow, nr: {{x86_64: {N}}}}}\n"
    )
    with pytest.raises(InputError) as info:
        load_policy(write(tmp_path, policy(rules)))
    assert (info.value.code, info.value.location.line) == ("conflict", 8)  # the later rule


# (ABI, a number its calls can carry though no table will name it): bit 31 does not make
# an x32 call, nor does -1 (a tracer's skip); elsewhere bit 30 means nothing
UNNAMED = [
    ("x86_64", 0x80000000),
    ("x86_64", 0xBFFFFFFF),
    ("x86_64", 0xFFFFFFFF),
    ("aarch64", 0x40000000),
    ("aarch64", 0xFFFFFFFF),
    ("x86", 0x40000000),
]


@pytest.mark.parametrize(("abi", "nr"), UNNAMED)
def test_a_number_beyond_any_table_is_ruled_exactly(tmp_path: Path, abi: str, nr: int) -> None:
    abis = "[x86_64, x86, x32]" if abi != "aarch64" else "[aarch64]"
    rule = f"  - {{action: errno(EACCES), nr: {{{abi}: {nr:#x}}}}}\n"
    program = load_program(str(write(tmp_path, policy(rule, abis))))
    fam = abimod.ABIS[abi].family
    filt = bpf.compile_family(program, fam)
    assert verify_bpf(program, filt, fam).ok
    f = emulate.Filter.from_bytes(filt)
    for n, want in ((nr, EACCES), (nr - 1, ENOSYS)):
        assert program.decide(_arch(abi), n) == want
        assert f.run(emulate.SeccompData(n, _arch(abi))).action == want


def test_x32_numbers_may_leave_out_the_x32_bit(tmp_path: Path) -> None:
    bit = abimod.X32_SYSCALL_BIT
    a = load_policy(write(tmp_path, policy(f"  - {{action: allow, nr: {{x32: {N}}}}}\n")))
    b = load_policy(write(tmp_path, policy(f"  - {{action: allow, nr: {{x32: {N | bit}}}}}\n")))
    assert [n for _, n, _ in a.rules[0].numbers] == [n for _, n, _ in b.rules[0].numbers]
    assert a.rules[0].numbers[0][1] == N | bit


RULES = f"""\
  - action: errno(EACCES)
    nr: {{x86_64: {N}, x86: [{TOP["x86"] + 3}, {TOP["x86"] + 4}], x32: {N}}}
  - action: kill-process
    nr: {{aarch64: {N}}}
    args: [{{index: 0, op: eq, value: 7}}]
  - action: errno(EPERM)
    nr: {{mips: {TOP["mips"] + 9}, mips64n32: {TOP["mips64n32"] + 9}}}
    abis: [mips]
"""
EACCES, ENOSYS, EPERM = (
    Action.parse("errno(EACCES)"),
    Action.parse("errno(ENOSYS)"),
    Action.parse("errno(EPERM)"),
)
ALLOW, KILL = Action.parse("allow"), Action.parse("kill-process")
X32 = abimod.X32_SYSCALL_BIT

# (ABI, number as the kernel sees it, argument 0, the policy's answer)
DECISIONS = [
    ("x86_64", N, 0, EACCES),
    ("x86_64", N + 1, 0, ENOSYS),  # a number no rule names: unknown
    ("x86_64", N | X32, 0, EACCES),  # the x32 rule
    ("x86", TOP["x86"] + 3, 0, EACCES),
    ("x86", TOP["x86"] + 4, 0, EACCES),
    ("x86", N, 0, ENOSYS),
    ("aarch64", N, 7, KILL),
    ("aarch64", N, 8, ALLOW),  # named by the policy: the default where no rule decides
    ("mips", TOP["mips"] + 9, 0, EPERM),
    ("mips64n32", TOP["mips64n32"] + 9, 0, ENOSYS),  # the rule's abis: leave n32 out
]


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Program:
    path = tmp_path_factory.mktemp("nr") / "p.yaml"
    path.write_text(policy(RULES, "[x86_64, x86, x32, aarch64, mips, mips64n32]"))
    return load_program(str(path))


def _arch(abi: str) -> int:
    return abimod.ABIS[abi].audit_arch


@pytest.mark.parametrize(("abi", "nr", "arg0", "want"), DECISIONS)
def test_the_program_and_the_bpf_answer_numbers_as_the_policy_says(
    program: Program, abi: str, nr: int, arg0: int, want: Action
) -> None:
    assert program.decide(_arch(abi), nr, (arg0, 0, 0, 0, 0, 0)) == want
    fam = abimod.ABIS[abi].family
    f = emulate.Filter.from_bytes(bpf.compile_family(program, fam), abimod.ABIS[fam].endian)
    data = emulate.SeccompData(nr, _arch(abi), 0, emulate.make_args((arg0, 0, 0, 0, 0, 0)))
    assert f.run(data).action == want


@pytest.mark.parametrize("family", ["x86_64", "aarch64", "mips64"])
def test_the_proof_holds_with_numbered_rules(program: Program, family: str) -> None:
    report = verify_bpf(program, bpf.compile_family(program, family), family)
    assert report.ok, report.lines()


def test_names_show_the_number(program: Program) -> None:
    assert f'"#{N}"' in pfc.render(program, "x86_64")
    endian = "little"
    listing = disassemble(decode(bpf.compile_family(program, "x86_64"), endian), endian)
    assert f"x86_64: #{N}" in listing
    f = emulate.Filter.from_bytes(bpf.compile_family(program, "aarch64"), endian)
    extra = {"aarch64": {N: f"#{N}"}}
    [stats] = filter_stats(f, [abimod.ABIS["aarch64"]], None, extra).abis
    assert f"#{N}" in stats.paths


def test_diff_names_the_numbered_change(tmp_path: Path, program: Program) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        policy(
            "  - {action: allow, syscalls: [read]}\n",
            "[x86_64, x86, x32, aarch64, mips, mips64n32]",
        )
    )
    other = load_program(str(plain))
    abis = tuple(abimod.ABIS[a] for a in ("x86_64",))
    result = diff(Side("a", abis, program), Side("b", abis, other), abis)
    assert [(c.syscall, c.a, c.b) for c in result.changes] == [
        (f"#{N}", "errno(EACCES)", "errno(ENOSYS)")
    ]


def test_lint_does_not_call_a_number_unknown_to_the_runtime(program: Program) -> None:
    codes = {
        f.code for f in lint.lint_program(program, runtime_libseccomp=libseccomp_ref.version())
    }
    assert "unknown-to-runtime" not in codes


def test_libseccomp_takes_the_number_on_the_native_arch(program: Program) -> None:
    ref = libseccomp_ref.build_program(program, "x86_64")
    f = emulate.Filter.from_bytes(ref.bpf, "little")
    assert f.run(emulate.SeccompData(N, _arch("x86_64"))).action == EACCES
    # elsewhere libseccomp translates numbers through names, and these have none: skipped
    assert ("x86", f"#{TOP['x86'] + 3}") in ref.skipped
    assert ("aarch64", f"#{N}") in libseccomp_ref.build_program(program, "aarch64").skipped


# (rule, whether OCI JSON can ship it: the runtime answers the number with defaultAction)
OCI = [
    (f"  - {{action: errno(EACCES), nr: {{x86_64: {N}}}}}\n", False),
    (f"  - {{action: errno(ENOSYS), nr: {{x86_64: {N}}}}}\n", True),  # what the default says
    (
        f"  - {{action: errno(ENOSYS), nr: {{x86_64: {N}}}, args: [{{index: 0, value: 1}}]}}\n",
        False,
    ),
    (f"  - {{action: kill-process, nr: {{x86_64: {N}}}, args: [{{index: 0, value: 1}}]}}\n", False),
]


@pytest.mark.parametrize(("rule", "ships"), OCI)
def test_oci_json_refuses_a_number_it_cannot_keep(tmp_path: Path, rule: str, ships: bool) -> None:
    program = load_program(str(write(tmp_path, policy(rule, "[x86_64]", "errno(ENOSYS)"))))
    if ships:
        doc = json.loads(oci.render(program))
        assert f"#{N}" not in json.dumps(doc) and doc["defaultAction"] == "SCMP_ACT_ERRNO"
        return
    with pytest.raises(NotExpressible) as info:
        oci.render(program)
    assert (info.value.location.line, info.value.location.column) == (7, 14)  # its action
    assert "--format bpf,pfc" in info.value.hint


def test_build_refuses_the_json_at_the_policy_line(tmp_path: Path) -> None:
    from seccompiler.platform.build import build_dist

    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "newer.yaml").write_text(policy(OCI[0][0], "[x86_64]"))
    with pytest.raises(NotExpressible) as info:
        build_dist(profiles)
    where = info.value.location
    assert (Path(where.path).name, where.line, where.column) == ("newer.yaml", 7, 14)
