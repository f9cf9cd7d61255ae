"""Errors as values: each carries the fields a caller or test needs; only the CLI renders them.

Two families, matching the CLI's exit codes:
- ``InputError`` (exit 1): the input was read and found wanting (bad policy, malformed YAML,
  malformed BPF, a manifest that cannot be parsed).
- ``UsageError`` (exit 2): the invocation itself is wrong (bad flag value, missing file).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(eq=False)
class SeccompilerError(Exception):
    """Base of every error the library raises for a user to read."""

    message: str
    hint: str = ""

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


@dataclass(eq=False)
class Location:
    """Where in a file: 1-based line and column, 0 when unknown."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.column or 1}"
        return self.path


@dataclass(eq=False)
class InputError(SeccompilerError):
    """The input was read and is wrong: rendered ``file:line:col: error: message``."""

    location: Location | None = None


@dataclass(eq=False)
class UsageError(SeccompilerError):
    """The command line is wrong, or a named file is missing: exit status 2."""


@dataclass(eq=False)
class PolicyError(InputError):
    """A policy file is wrong; ``code`` names the kind of mistake for tests and tools."""

    code: str = "policy"


@dataclass(eq=False)
class SyscallNotFound(PolicyError):
    """A syscall or group name the tables do not know."""

    name: str = ""
    abi: str = ""
    suggestions: tuple[str, ...] = ()
    code: str = "unknown-syscall"


@dataclass(eq=False)
class ErrorList(InputError):
    """Several input errors found in one pass, reported together."""

    errors: list[InputError] = field(default_factory=list)


@dataclass(frozen=True)
class Note:
    """Something an author should know that is no error: rendered ``file:line:col: note:``."""

    code: str
    message: str
    hint: str = ""
    location: Location | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        text = f"{where}note: {self.message}"
        return text + (f"\n  hint: {self.hint}" if self.hint else "")
