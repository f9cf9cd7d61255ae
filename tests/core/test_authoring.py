"""The authoring surprises of a policy writer, each answered where it happens, with a hint.

A child replacing its base's default, an ABI whose argument order the rules do not fit, a
comparison OCI JSON cannot say, ptrace refused without its siblings, stats' cache column,
verify on a raw filter of one family.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seccompiler.backends import oci
from seccompiler.base.errors import InputError, PolicyError
from seccompiler.commands.cli import main
from seccompiler.compile import load_program

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "profiles" / "keisson-default.yaml"


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_a_child_default_says_how_many_base_answers_it_flips(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        f"seccompiler: 1\nname: c\nextends: {DEFAULT}\ndefault: errno(EPERM)\n"
        "rules:\n  - {action: allow, syscalls: [read]}\n",
    )
    (note,) = load_program(str(p)).notes
    assert note.code == "default-replaced"
    assert note.location is not None and (note.location.line, note.location.column) == (4, 10)
    assert "syscalls the base leaves to its default" in note.message and note.hint
    flipped = int(note.message.split("allow: ")[1].split()[0])
    assert flipped > 300


def test_a_child_keeping_the_default_gets_no_note(tmp_path: Path) -> None:
    p = write(tmp_path, f"seccompiler: 1\nname: c\nextends: {DEFAULT}\ndefault: allow\n")
    assert load_program(str(p)).notes == ()


def test_compile_and_lint_show_the_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(
        tmp_path,
        f"seccompiler: 1\nname: c\nextends: {DEFAULT}\ndefault: errno(EPERM)\n"
        "rules:\n  - {action: allow, syscalls: [read]}\n",
    )
    assert main(["compile", str(p), "-o", str(tmp_path / "out"), "--format", "bpf"]) == 0
    assert f"{p}:4:10: note: default: errno(EPERM) replaces" in capsys.readouterr().err
    assert main(["lint", str(p), "--format", "json"]) == 0  # a note does not fail lint
    codes = {f["code"] for f in json.loads(capsys.readouterr().out)}
    assert "default-replaced" in codes


@pytest.mark.parametrize(
    ("abis", "fails"), [("[x86_64, s390x]", True), ("[x86_64, aarch64]", False)]
)
def test_an_abi_whose_clone_flags_sit_elsewhere(tmp_path: Path, abis: str, fails: bool) -> None:
    p = write(tmp_path, f"seccompiler: 1\nname: c\nextends: {DEFAULT}\nabis: {abis}\n")
    if not fails:
        load_program(str(p))
        return
    with pytest.raises(PolicyError) as info:
        load_program(str(p))
    err = info.value
    assert err.code == "arg-order" and "s390x" in err.message and "index: 1" in err.hint
    assert err.location is not None and err.location.path == str(DEFAULT)
    assert "clone" in DEFAULT.read_text().splitlines()[err.location.line - 3]


def test_an_s390x_rule_on_clone_flags_with_index_1_is_fine(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "seccompiler: 1\nname: s\nabis: [s390x]\ndefault: allow\nrules:\n"
        "  - action: errno(EPERM)\n    syscalls: [clone]\n"
        "    args: [{index: 1, op: masked_eq, mask: CLONE_NEWUSER, value: CLONE_NEWUSER}]\n",
    )
    load_program(str(p))


def test_a_32_bit_ordered_comparison_is_refused_at_the_rule(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "seccompiler: 1\nname: lt\nabis: [x86_64]\ndefault: allow\nrules:\n"
        "  - action: errno(EPERM)\n    syscalls: [socket]\n"
        "    args: [{index: 0, op: lt, value: 10}]\n",
    )
    with pytest.raises(InputError) as info:
        oci.render_family(load_program(str(p)), "x86_64")
    err = info.value
    assert err.location is not None and (err.location.line, err.location.column) == (6, 13)
    assert "--format bpf,pfc" in err.hint and "width: 64 would let" in err.hint
    out = tmp_path / "out"  # the formats that can say it still compile
    assert main(["compile", str(p), "-o", str(out), "--format", "bpf,pfc"]) == 0


def test_stats_never_counts_more_cached_than_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = write(
        tmp_path,
        "seccompiler: 1\nname: s\nabis: [x86_64]\ndefault: errno(EPERM)\n"
        "rules:\n  - {action: allow, syscalls: [read, write, exit_group]}\n",
    )
    assert main(["stats", str(p)]) == 0
    row = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("  x86_64"))
    cols = row.split()
    allowed, cached = int(cols[2]), int(cols[5])
    assert (allowed, cached) == (3, 3)  # uprobe/uretprobe are exempt, not cached


def test_verify_a_raw_filter_finds_its_family_and_abi_narrows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["compile", str(DEFAULT), "-o", str(out), "--format", "bpf"]) == 0
    capsys.readouterr()
    # no --abi: the filter's arch checks say its family
    assert main(["verify", str(DEFAULT), "--bpf", str(out / "bpf" / "aarch64.bpf")]) == 0
    text = capsys.readouterr().out
    assert "aarch64:" in text and "arm:" in text
    # --abi x86_64 narrows the report; x86 is still the policy's, not a foreign arch
    assert (
        main(["verify", str(DEFAULT), "--bpf", str(out / "bpf" / "x86_64.bpf"), "--abi", "x86_64"])
        == 0
    )
    text = capsys.readouterr().out
    assert "x86_64:" in text and "  x86:" not in text and "disagreement" not in text


def test_errno_0_and_the_bad_arch_action_are_said_in_the_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What libseccomp's regression suite can say: SCMP_ACT_ERRNO(0), SCMP_FLTATR_ACT_BADARCH."""
    from seccompiler.arch.abi import ABIS
    from seccompiler.program import Action, ActionKind

    p = write(
        tmp_path,
        "seccompiler: 1\nname: b\nabis: [x86_64]\ndefault: allow\nbad-arch: errno(ENOSYS)\n"
        "rules:\n  - {action: errno(0), syscalls: [sync]}\n",
    )
    prog = load_program(str(p))
    x86_64, x86 = ABIS["x86_64"], ABIS["x86"]
    assert prog.decide(x86_64.audit_arch, 162) == Action(ActionKind.ERRNO, 0)  # sync
    assert prog.decide(x86.audit_arch, 3) == Action(ActionKind.ERRNO, 38)  # another arch
    assert prog.decide(x86_64.audit_arch, 0x40000000) == Action(ActionKind.ERRNO, 38)  # x32
    out = tmp_path / "out"  # the BPF says both; compile proves it against the program
    assert main(["compile", str(p), "-o", str(out)]) == 0
    assert "bad-arch is errno(ENOSYS) in the BPF" in capsys.readouterr().err
    child = write(tmp_path, f"seccompiler: 1\nname: c\nextends: {p}\n", "c.yaml")
    assert load_program(str(child)).bad_arch == Action(ActionKind.ERRNO, 38)  # inherited
