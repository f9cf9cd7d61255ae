"""The policy language's parsed form (``Policy``, ``RuleSpec``, ``ArgSpec``) and its error list."""

from __future__ import annotations

from dataclasses import dataclass

from seccompiler.arch import tables
from seccompiler.base.errors import ErrorList, InputError, Note, PolicyError
from seccompiler.base.yamlsrc import LMap, Mark
from seccompiler.program import Action, Op

MAX_EXTENDS_DEPTH = 16
LANGUAGE_VERSION = 1

TOP_KEYS = (
    "seccompiler",
    "name",
    "description",
    "extends",
    "abis",
    "default",
    "unknown",
    "bad-arch",
    "rules",
)
RULE_KEYS = ("action", "syscalls", "nr", "except", "args", "abis", "caps", "reason")
ARG_KEYS = ("index", "op", "value", "mask", "width")


@dataclass(frozen=True)
class ArgSpec:
    """One argument condition as written; ``values`` holds alternatives (any may match)."""

    index: int
    op: Op
    values: tuple[int, ...]
    mask: int
    width: int | None  # None: decided per syscall from the int-argument table
    mark: Mark


@dataclass(frozen=True)
class RuleSpec:
    """One entry of ``rules:``."""

    action: Action
    syscalls: tuple[tuple[str, Mark], ...]  # names and @groups as written
    excluded: frozenset[str]
    args: tuple[ArgSpec, ...]
    abis: frozenset[str] | None
    caps: frozenset[str]
    reason: str
    mark: Mark
    action_mark: Mark
    # ``nr:``, numbers the table has no name for: (ABI, number as the kernel sees it, where)
    numbers: tuple[tuple[str, int, Mark], ...] = ()


@dataclass(frozen=True)
class Policy:
    """A policy with its ``extends`` chain flattened: base rules first, later rules win."""

    path: str
    name: str
    description: str
    abis: tuple[str, ...]
    default: Action
    unknown: Action
    rules: tuple[RuleSpec, ...]
    sources: tuple[str, ...]  # every file read, base first
    notes: tuple[Note, ...] = ()  # what the author should know; no error
    bad_arch: Action | None = None  # ABIs the policy does not cover; None: kill-process


class Errors:
    """Collects errors so a user sees all of them in one run."""

    def __init__(self) -> None:
        self.items: list[InputError] = []

    def add(self, mark: Mark, message: str, hint: str = "", code: str = "policy") -> None:
        self.items.append(PolicyError(message, hint=hint, location=mark.location(), code=code))

    def raise_if_any(self) -> None:
        if len(self.items) == 1:
            raise self.items[0]
        if self.items:
            first = self.items[0]
            raise ErrorList(
                f"{len(self.items)} errors", location=first.location, errors=list(self.items)
            )


def check_keys(m: LMap, allowed: tuple[str, ...], what: str, errs: Errors) -> None:
    for key in m:
        if key not in allowed:
            close = tables.suggest(key, frozenset(allowed), 1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
            errs.add(m.where_key(key), f"unknown key '{key}' in {what}", hint, "unknown-key")
