"""Compiled filters for ``run``, kept between runs in the user's cache directory.

Compiling a policy costs far more than the launch it precedes, so ``run`` keeps the two
filters it needs (the real one and the audit one) in ``$XDG_CACHE_HOME/seccompiler`` (or
``~/.cache/seccompiler``). An entry is found by a digest of what decides the filters: the
tool (its version and the content of every file of the package, tables included), the
policy file's path and content, and the capabilities. It records the content digest of
every file the policy extends, and is used only when all of them still match, its own
checksum holds and its filters are whole BPF programs; anything else is a miss, and a
miss compiles afresh and replaces the entry (temp file and rename). A cache that cannot
be read or written is no cache: the filters are compiled, and nothing fails for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import seccompiler

FORMAT = 1
SETTLED_NS = 2_000_000_000  # files written this recently are not trusted to be final
MAX_ENTRY = 1 << 20  # two filters of at most 4096 instructions, hex-encoded, and a header
_PACKAGE = Path(seccompiler.__file__).resolve().parent
_tool: str | None = None


@dataclass(frozen=True)
class Filters:
    """The filters ``run`` loads: the policy's own, and the one that notifies refusals."""

    real: bytes
    audit: bytes
    cached: bool  # True when read from the cache


def cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/seccompiler``, else ``~/.cache/seccompiler``; None without either."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative value is ignored
        home = os.environ.get("HOME", "")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "seccompiler"


def tool_fingerprint() -> str:
    """The version and a digest of every file of the installed package (code and tables)."""
    global _tool
    if _tool is None:
        h = hashlib.sha256(seccompiler.__version__.encode())
        for root, dirs, files in os.walk(_PACKAGE):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                path = os.path.join(root, name)
                h.update(os.path.relpath(path, _PACKAGE).encode() + b"\0")
                with open(path, "rb") as fh:
                    h.update(hashlib.sha256(fh.read()).digest())
        _tool = f"{seccompiler.__version__}+{h.hexdigest()[:32]}"
    return _tool


def _digest(path: str) -> str | None:
    from seccompiler.base.errors import SeccompilerError
    from seccompiler.base.fsread import read_bytes  # not fsio: run needs no writer's imports

    try:  # never blocks on a FIFO nor reads /dev/zero forever: those are for the compiler
        return hashlib.sha256(read_bytes(path)).hexdigest()
    except (OSError, SeccompilerError):
        return None


def _key(policy: Path, caps: tuple[str, ...], content: str) -> str:
    text = json.dumps([FORMAT, tool_fingerprint(), str(policy), list(caps), content])
    return hashlib.sha256(text.encode()).hexdigest()


def _body_digest(entry: dict[str, object]) -> str:
    body = {k: v for k, v in entry.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _read(path: Path, key: str) -> Filters | None:
    """The entry at ``path`` if it is whole and still current, else None."""
    from seccompiler.base.errors import SeccompilerError
    from seccompiler.base.fsread import read_bytes  # not fsio: run needs no writer's imports

    try:
        raw = read_bytes(path, MAX_ENTRY)
        entry = json.loads(raw)
        if not isinstance(entry, dict):
            return None
        if entry.get("checksum") != _body_digest(entry) or entry.get("key") != key:
            return None
        sources = entry["sources"]
        if not sources or any(_digest(p) != d for p, d in sources):
            return None
        real, audit = bytes.fromhex(entry["real"]), bytes.fromhex(entry["audit"])
    except (OSError, ValueError, KeyError, TypeError, SeccompilerError):
        return None
    if not all(f and len(f) % 8 == 0 for f in (real, audit)):
        return None
    return Filters(real, audit, cached=True)


def _write(path: Path, key: str, sources: Iterable[str], real: bytes, audit: bytes) -> None:
    from seccompiler.base.errors import SeccompilerError
    from seccompiler.base.fsio import write_atomic

    entry: dict[str, object] = {
        "format": FORMAT,
        "key": key,
        "tool": tool_fingerprint(),
        "sources": [[s, _digest(s)] for s in sources],
        "real": real.hex(),
        "audit": audit.hex(),
    }
    entry["checksum"] = _body_digest(entry)
    # an unwritable cache costs a compilation, no more
    with contextlib.suppress(OSError, SeccompilerError):
        write_atomic(path, json.dumps(entry, sort_keys=True) + "\n", mode=0o600)


def compile_filters(policy: str, caps: tuple[str, ...]) -> tuple[bytes, bytes, tuple[str, ...]]:
    """Compile the real and the audit filter of ``policy``, and the files it read."""
    from seccompiler.backends.bpf import compile_family
    from seccompiler.compile import load_program
    from seccompiler.runner import host
    from seccompiler.runner.supervise import audit_program

    program = host.own_family(load_program(policy, caps=caps or None))
    real = compile_family(program, host.family())
    audit = compile_family(audit_program(program), host.family())
    return real, audit, program.sources


def filters_for(policy: str, caps: tuple[str, ...] = ()) -> Filters:
    """The filters of ``policy`` under ``caps``, from the cache when it holds them current.

    Raises what ``load_program`` raises when the policy must be compiled and cannot be.
    """
    caps = tuple(sorted(set(caps)))
    where = cache_dir()
    path = Path(policy).absolute()
    content = _digest(str(path))
    if where is None or content is None:  # unreadable: let the compiler say why
        real, audit, _ = compile_filters(policy, caps)
        return Filters(real, audit, cached=False)
    key = _key(path, caps, content)
    entry = where / f"{key}.json"
    found = _read(entry, key)
    if found is not None:
        return found
    start = time.time_ns()
    real, audit, sources = compile_filters(policy, caps)
    files = [str(Path(s).absolute()) for s in sources]
    if str(path) not in files:
        files.append(str(path))
    # The digests are taken after compiling: a file written meanwhile (or just before,
    # timestamps being coarse) could be recorded with content the filters do not reflect.
    if _digest(str(path)) == content and not _changed_since(files, start - SETTLED_NS):
        _write(entry, key, files, real, audit)
    return Filters(real, audit, cached=False)


def _changed_since(files: Iterable[str], when_ns: int) -> bool:
    try:
        return any(os.stat(f).st_mtime_ns >= when_ns for f in files)
    except OSError:
        return True
