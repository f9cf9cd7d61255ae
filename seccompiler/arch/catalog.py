"""Data that travels with the syscall tables: groups, symbolic constants, argument widths."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from seccompiler.arch.tables import DATA_DIR
from seccompiler.base.yamlsrc import load_file


@dataclass(frozen=True)
class Group:
    """A named set of syscalls; ``members`` maps a name or ``@group`` to its reason."""

    name: str
    description: str
    members: Mapping[str, str]


@cache
def groups() -> Mapping[str, Group]:
    raw = load_file(str(DATA_DIR / "groups.yaml"))
    return {
        name: Group(
            name, str(body["description"]), {str(k): str(v) for k, v in body["members"].items()}
        )
        for name, body in raw.items()
    }


def expand_group(name: str) -> dict[str, str]:
    """All syscall names in group ``name`` (nested groups flattened) with their reasons."""
    out: dict[str, str] = {}
    seen: set[str] = set()

    def walk(g: str) -> None:
        if g in seen:
            return
        seen.add(g)
        for member, reason in groups()[g].members.items():
            if member.startswith("@"):
                walk(member[1:])
            else:
                out.setdefault(member, reason)

    walk(name)
    return out


@cache
def constants() -> Mapping[str, int]:
    """Symbolic constant name → value (CLONE_*, AF_*, PER_*, SOCK_*, SYS_*)."""
    raw = load_file(str(DATA_DIR / "constants.yaml"))
    out: dict[str, int] = {}
    for _section, values in raw.items():
        for name, value in values.items():
            out[str(name)] = int(value)
    return out


ARG_WIDTHS = DATA_DIR / "arg-widths.tsv"


@cache
def _arg_widths() -> Mapping[str, Mapping[str, tuple[int, ...]]]:
    out: dict[str, dict[str, tuple[int, ...]]] = {}
    lines = ARG_WIDTHS.read_text().splitlines()
    for line in lines[3:]:  # the stamp, what the file holds, the header
        abi, syscall, widths = line.split("\t")
        out.setdefault(abi, {})[syscall] = tuple(int(w) for w in widths.split(","))
    return out


def arg_widths(abi: str) -> Mapping[str, tuple[int, ...]]:
    """Syscall name → the bits the kernel reads of each argument on ``abi`` (generated from
    the kernel's definitions, ``tools/gen_arg_widths.py``), for the syscalls with an argument
    narrower than the ABI's registers; any other argument is read whole."""
    return _arg_widths().get(abi, {})


# Linux capabilities (linux/capability.h), and the set container runtimes grant by default
# (the runtimes' documented default capability list).
CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
DEFAULT_CAPS: frozenset[str] = frozenset(
    {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    }
)
