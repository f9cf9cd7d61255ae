"""Turn an image config and a command into what to execute: argv, env, cwd, uid/gid.

Paths are resolved inside the image root the way the kernel will once chrooted: absolute
symlinks restart at the image root, ``..`` stops at it. The program is looked up on the
image's PATH here, so that "not found" (127) and "not executable" (126) are told apart
before anything runs, as ``docker run`` does.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from seccompiler.base.errors import InputError, Location
from seccompiler.image.config import ImageConfig

MAX_SYMLINKS = 40  # the kernel's limit (MAXSYMLINKS)


@dataclass(eq=False)
class CommandError(InputError):
    """The command cannot be started: ``status`` is 127 (not found) or 126 (not executable)."""

    status: int = 125
    program: str = ""


@dataclass(frozen=True)
class ExecPlan:
    """What to execute inside the root."""

    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        refuse_nul(self.argv, self.env, self.cwd)


def refuse_nul(argv: tuple[str, ...], env: dict[str, str], cwd: str = "/") -> None:
    """Refuse what the kernel takes as C strings if a NUL byte would cut it short."""
    fields = [(f"argument {i}", a) for i, a in enumerate(argv)]
    fields += [(f"environment variable {k!r}", f"{k}={v}") for k, v in env.items()]
    fields.append(("working directory", cwd))
    for what, text in fields:
        if "\0" in text:
            raise CommandError(
                f"the {what} holds a NUL byte ({text[:80]!r})",
                hint="a program can be given only strings without NUL bytes",
                status=125,
            )


def resolve_in_root(root: Path, path: str, cwd: str = "/") -> str | None:
    """The symlink-free absolute path ``path`` names inside ``root``; None when missing."""
    start = path if path.startswith("/") else f"{cwd}/{path}"
    parts: deque[str] = deque(start.split("/"))
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        host = root.joinpath(*resolved, part)
        try:
            st = os.lstat(host)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > MAX_SYMLINKS:
                return None
            target = os.readlink(host)
            if target.startswith("/"):
                resolved = []
            parts.extendleft(reversed(target.split("/")))
            continue
        if parts and not stat.S_ISDIR(st.st_mode):
            return None
        resolved.append(part)
    return "/" + "/".join(resolved)


def _host(root: Path, inner: str) -> Path:
    return root.joinpath(*[p for p in inner.split("/") if p])


def _read_db(root: Path, inner: str) -> list[list[str]]:
    """Rows of /etc/passwd or /etc/group inside the image (bounded, tolerant of junk)."""
    real = resolve_in_root(root, inner)
    if real is None:
        return []
    try:
        with open(_host(root, real), "rb") as fh:
            data = fh.read(1 << 20)
    except OSError:
        return []
    text = data.decode("utf-8", "replace")
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def resolve_user(root: Path, user: str) -> tuple[int, int, tuple[int, ...], str]:
    """uid, gid, extra groups and home for ``user``, ``uid``, ``user:group`` or ``uid:gid``."""
    name, _, group = user.partition(":")
    uid, gid, home = 0, 0, "/"
    passwd = _read_db(root, "/etc/passwd")
    groups_db = _read_db(root, "/etc/group")
    if name:
        row = next((r for r in passwd if len(r) >= 7 and (r[0] == name or r[2] == name)), None)
        if row is not None and row[2].isdigit() and row[3].isdigit():
            uid, gid, home, name = int(row[2]), int(row[3]), row[5] or "/", row[0]
        elif name.isdigit():
            uid = int(name)
        else:
            raise CommandError(
                f"user '{name}' is not in the image's /etc/passwd",
                hint="use a numeric uid",
                status=125,
            )
    if group:
        row = next((r for r in groups_db if len(r) >= 3 and (r[0] == group or r[2] == group)), None)
        if row is not None and row[2].isdigit():
            gid = int(row[2])
        elif group.isdigit():
            gid = int(group)
        else:
            raise CommandError(f"group '{group}' is not in the image's /etc/group", status=125)
    extra = tuple(
        sorted(
            {
                int(r[2])
                for r in groups_db
                if len(r) >= 4
                and r[2].isdigit()
                and name
                and name in r[3].split(",")
                and int(r[2]) != gid
            }
        )
    )
    if uid >= 1 << 32 or gid >= 1 << 32:
        raise CommandError(f"user '{user}' is out of range", status=125)
    return uid, gid, extra, home


def find_program(root: Path, argv0: str, path_env: str, cwd: str = "/") -> str:
    """The in-image path of the program ``argv0`` names; raises ``CommandError`` 127 or 126."""
    candidates = [argv0] if "/" in argv0 else [f"{d or '.'}/{argv0}" for d in path_env.split(":")]
    found_dir = False
    for cand in candidates:
        real = resolve_in_root(root, cand, cwd)
        if real is None:
            continue
        host = _host(root, real)
        st = os.stat(host)
        if stat.S_ISDIR(st.st_mode):
            found_dir = True
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return cand if cand.startswith("/") else real
        found_dir = True
    if found_dir:
        raise CommandError(
            f"'{argv0}' is not an executable file in the image",
            status=126,
            program=argv0,
            location=Location(str(root)),
        )
    where = "" if "/" in argv0 else f" (PATH={path_env})"
    raise CommandError(
        f"'{argv0}' not found in the image{where}",
        status=127,
        program=argv0,
        hint="check the command, or the image's Env PATH",
        location=Location(str(root)),
    )


def make_plan(root: Path, config: ImageConfig, argv: tuple[str, ...] = ()) -> ExecPlan:
    """Everything needed to run ``argv`` (or the image's Entrypoint + Cmd) inside ``root``."""
    command = config.command(argv)
    if not command:
        raise CommandError(
            "no command given and the image has no Entrypoint or Cmd",
            hint="add the command after '--'",
            status=125,
        )
    env = config.environment()
    uid, gid, groups, home = resolve_user(root, config.user)
    env.setdefault("HOME", home)
    refuse_nul(command, env)  # before any of it names a path to look up
    cwd = config.working_dir or "/"
    if not cwd.startswith("/"):
        cwd = "/" + cwd
    real_cwd = resolve_in_root(root, cwd)
    if real_cwd is None or not _host(root, real_cwd).is_dir():
        raise CommandError(f"WorkingDir '{cwd}' does not exist in the image", status=125)
    program = find_program(root, command[0], env["PATH"], real_cwd)
    return ExecPlan((program, *command[1:]), env, real_cwd, uid, gid, groups)
