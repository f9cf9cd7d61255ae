"""Argument widths: the generated table, and conditions that mean what they say on every
ABI, with no bits the kernel ignores to slip through and no value cut into another."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from seccompiler.arch import abi as abimod
from seccompiler.arch import catalog, tables
from seccompiler.backends import bpf
from seccompiler.base.errors import InputError
from seccompiler.bpf.emulate import Filter, SeccompData, make_args
from seccompiler.compile import load_program
from seccompiler.program import Program

HI = 1 << 32


def test_the_table_is_stamped_with_its_source_and_digest() -> None:
    head, _what, *rest = catalog.ARG_WIDTHS.read_text().splitlines(keepends=True)
    assert "tools/gen_arg_widths.py" in head and "Linux " in head
    body = "".join(rest)
    assert head.split("sha256 ")[1].strip() == hashlib.sha256(body.encode()).hexdigest()
    assert rest[0] == "abi\tsyscall\twidths\n"


def test_every_row_names_a_syscall_of_its_abi_and_a_narrower_argument() -> None:
    rows = 0
    for name, abi in abimod.ABIS.items():
        known = tables.table(abi).by_name
        for syscall, widths in catalog.arg_widths(name).items():
            rows += 1
            assert syscall in known, (name, syscall)
            assert 1 <= len(widths) <= 6 and set(widths) <= {16, 32, 64}, (name, syscall)
            assert min(widths) < abi.register_bits, (name, syscall)
    assert rows > 2000


# (abi, syscall, argument, bits the kernel reads): from the kernel's definitions
FACTS = [
    ("x86_64", "setuid", 0, 32), ("x86_64", "getpgid", 0, 32), ("x86_64", "bpf", 0, 32),
    ("x86_64", "keyctl", 0, 32), ("x86_64", "close", 0, 32), ("x86_64", "umask", 0, 32),
    ("x86_64", "socket", 0, 32), ("x86_64", "lseek", 1, 64), ("x86_64", "lseek", 2, 32),
    ("x86_64", "chmod", 1, 16), ("x86_64", "openat", 3, 16),
    ("x86_64", "mmap", 2, 64), ("x86_64", "ioctl", 1, 32), ("x86_64", "ioctl", 2, 64),
    ("x86_64", "setxattrat", 2, 32), ("aarch64", "openat", 3, 16), ("aarch64", "setuid", 0, 32),
    ("x86", "setuid", 0, 16), ("x86", "setuid32", 0, 32), ("x86", "chmod", 1, 16),
    ("arm", "setuid", 0, 16), ("ppc", "setuid", 0, 32), ("s390", "setuid", 0, 16),
    # bodies that read less than the declared type: an unsigned long fd goes to fdget(), an
    # unsigned int; clone keeps lower_32_bits(clone_flags), which s390 passes second
    ("x86_64", "readv", 0, 32), ("x86_64", "pwritev2", 0, 32), ("x86_64", "mmap", 4, 32),
    ("x86_64", "clone", 0, 32), ("s390x", "clone", 0, 64), ("s390x", "clone", 1, 32),
    # parisc's table names plain wrappers for these
    ("parisc64", "madvise", 2, 32), ("parisc64", "timerfd_create", 1, 32),
    ("parisc64", "personality", 0, 32),
]  # fmt: skip


@pytest.mark.parametrize(("abi", "syscall", "index", "read"), FACTS)
def test_widths_are_the_kernels(abi: str, syscall: str, index: int, read: int) -> None:
    widths = catalog.arg_widths(abi).get(syscall, ())
    bits = abimod.ABIS[abi].bits
    assert (widths[index] if index < len(widths) else bits) == min(read, bits)


POLICY = """\
seccompiler: 1
name: widths
abis: [x86_64, x86, aarch64, arm]
default: allow
rules:
  - {action: errno(EPERM), syscalls: [setuid], args: [{index: 0, value: 0}]}
  - {action: kill-process, syscalls: [getpgid], args: [{index: 0, value: 99999}]}
  - {action: errno(EACCES), syscalls: [socket], args: [{index: 0, op: lt, value: 0x100000000}]}
  - {action: errno(EINVAL), syscalls: [kill], args: [{index: 1, value: 0x100000009}]}
  - {action: errno(ENOENT), syscalls: [lseek], args: [{index: 1, op: ge, value: 0x100000000}]}
  - {action: errno(EPERM), syscalls: [chmod], args: [{index: 1, value: [0o4755, 0o6755]}]}
  - {action: errno(EROFS), syscalls: [fchmod], args: [{index: 1, op: masked_eq, mask: 0o4000, value: 0o4000}]}
"""  # noqa: E501

# (abi, syscall, arguments, answer): the kernel's reading of each argument decides
ROWS = [
    ("x86_64", "setuid", (0,), "errno(EPERM)"),
    ("x86_64", "setuid", (HI,), "errno(EPERM)"),  # uid_t: the kernel reads 0
    ("x86_64", "setuid", (1,), "allow"),
    ("x86", "setuid", (0x10000,), "errno(EPERM)"),  # setuid16: the kernel reads 0
    ("x86", "setuid32", (0x10000,), "allow"),  # not ruled
    ("arm", "setuid", (0x10000,), "errno(EPERM)"),
    ("x86_64", "getpgid", (HI | 99999,), "kill-process"),
    ("aarch64", "getpgid", (HI | 99999,), "kill-process"),
    ("x86_64", "socket", (2,), "errno(EACCES)"),  # every int is below 2^32
    ("x86_64", "socket", (HI | 2,), "errno(EACCES)"),
    ("x86", "socket", (2,), "errno(EACCES)"),
    ("x86_64", "kill", (1, 9), "allow"),  # no int is 0x100000009: the rule never applies
    ("x86_64", "kill", (1, HI | 9), "allow"),
    ("x86_64", "lseek", (3, HI), "errno(ENOENT)"),  # off_t: read whole
    ("x86_64", "lseek", (3, HI - 1), "allow"),
    ("x86", "lseek", (3, HI - 1), "allow"),  # a 32-bit register holds no 2^32
    ("x86_64", "chmod", (0, 0o4755), "errno(EPERM)"),
    ("x86_64", "chmod", (0, 0x10000 | 0o4755), "errno(EPERM)"),  # umode_t: the low 16 bits
    ("x86_64", "chmod", (0, HI | 0o6755), "errno(EPERM)"),
    ("x86_64", "chmod", (0, 0o755), "allow"),
    ("x86", "chmod", (0, 0x10000 | 0o4755), "errno(EPERM)"),
    ("x86_64", "fchmod", (3, 0o4755), "errno(EROFS)"),
    ("x86_64", "fchmod", (3, 0x10000 | 0o755), "allow"),
]


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Program:
    path = tmp_path_factory.mktemp("widths") / "p.yaml"
    path.write_text(POLICY)
    return load_program(str(path))


@pytest.mark.parametrize(("abi", "syscall", "args", "answer"), ROWS)
def test_conditions_decide_by_what_the_kernel_reads(
    program: Program, abi: str, syscall: str, args: tuple[int, ...], answer: str
) -> None:
    a = abimod.ABIS[abi]
    nr = tables.table(a).by_name[syscall]
    full = (*args, *(0,) * (6 - len(args)))
    assert str(program.decide(a.audit_arch, nr, full)) == answer
    # and the filter answers the same (the program's word is not the filter's)
    f = Filter.from_bytes(bpf.compile_family(program, a.family), a.endian)
    assert str(f.run(SeccompData(nr, a.audit_arch, 0, make_args(full))).action) == answer


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ("{index: 1, op: ne, value: 0o755}", "'ne' cannot compare only its low 16 bits"),
        ("{index: 1, op: gt, value: 0o755}", "'gt' cannot compare only its low 16 bits"),
    ],
)
def test_a_16_bit_argument_takes_only_what_can_compare_16_bits(
    tmp_path: Path, args: str, words: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY.split("rules:")[0] + f"rules:\n  - {{action: errno(EPERM), "
                    f"syscalls: [chmod], args: [{args}]}}\n")  # fmt: skip
    with pytest.raises(InputError, match=words) as err:
        load_program(str(path))
    assert err.value.location is not None and err.value.location.line == 6


def _x32_policy(tmp_path: Path, more: str = "") -> Path:
    """A policy for x86_64 and x32 with a rule on lseek's offset (read whole on x32)."""
    head = POLICY.split("rules:")[0].replace(
        "abis: [x86_64, x86, aarch64, arm]", "abis: [x86_64, x32]"
    )
    path = tmp_path / "p.yaml"
    path.write_text(
        head + "rules:\n"
        "  - {action: errno(EPERM), syscalls: [lseek], args: [{index: 1, op: ge, value: 4096}]}\n"
        + more
    )
    return path


def test_x32_arguments_are_compared_as_its_kernel_reads_them(tmp_path: Path) -> None:
    """x32 keeps 32-bit data in 64-bit registers: its lseek reads a 64-bit offset whole
    (compared whole, where libseccomp compares the low word), its ioctl (a compat entry) a
    32-bit argument 2 (compared on the low word)."""
    program = load_program(
        str(
            _x32_policy(
                tmp_path,
                "  - {action: errno(EPERM), syscalls: [lseek], args: [{index: 2, value: 4}]}\n"
                "  - {action: errno(EPERM), syscalls: [ioctl], args: [{index: 2, value: 7}]}\n",
            )
        )
    )
    a = abimod.ABIS["x32"]
    f = Filter.from_bytes(bpf.compile_family(program, "x86_64"), "little")
    t = tables.table(a).by_name
    for nr, args, answer in [
        (t["lseek"], (3, HI, 0), "errno(EPERM)"),  # 4 GiB: past 4096 though the low word is 0
        (t["lseek"], (3, 100, 0), "allow"),
        (t["lseek"], (3, 0, HI | 4), "errno(EPERM)"),  # whence: an int, the low word
        (t["ioctl"], (3, 0, HI | 7), "errno(EPERM)"),  # compat_ulong_t: the low word
    ]:
        full = (*args, 0, 0, 0)
        assert str(program.decide(a.audit_arch, nr, full)) == answer, (nr, args)
        assert str(f.run(SeccompData(nr, a.audit_arch, 0, make_args(full))).action) == answer


def test_oci_json_refuses_what_libseccomp_would_compare_on_x32s_low_word(
    tmp_path: Path,
) -> None:
    """The runtime's libseccomp compares x32's low word: OCI JSON cannot say a whole-register
    comparison there, and says so at the rule; a mask within the low word it can say."""
    from seccompiler.backends.dnf import NotExpressible
    from seccompiler.backends.oci import to_oci

    path = _x32_policy(tmp_path)
    head = POLICY.split("rules:")[0].replace(
        "abis: [x86_64, x86, aarch64, arm]", "abis: [x86_64, x32]"
    )
    with pytest.raises(NotExpressible, match="libseccomp compares x32's low word") as err:
        to_oci(load_program(str(path)))
    assert err.value.location is not None and err.value.location.line == 6
    path.write_text(
        head + "rules:\n  - {action: errno(EPERM), syscalls: [clone], "
        "args: [{index: 0, op: masked_eq, mask: 0x10000000, value: 0x10000000}]}\n"
    )
    assert to_oci(load_program(str(path)))
    # a value past the mask's low word never matches; libseccomp would cut it to match
    path.write_text(
        head + "rules:\n  - {action: errno(EPERM), syscalls: [lseek], "
        "args: [{index: 1, op: masked_eq, mask: 0xff, value: 0x100000000}]}\n"
    )
    with pytest.raises(NotExpressible, match="low word"):
        to_oci(load_program(str(path)))
