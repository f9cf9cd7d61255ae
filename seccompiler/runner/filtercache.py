"""Compiled filters for ``run``, kept between runs in the user's cache directory.

Compiling a policy costs far more than the launch it precedes, so ``run`` keeps the two
filters it needs (the real one and the audit one) in ``$XDG_CACHE_HOME/seccompiler`` (or
``~/.cache/seccompiler``). An entry is found by a digest of what decides the filters: the
tool (its version, and the size and change times of every file of the package: the same
test Python applies to its own bytecode, plus the ctime no edit can keep), the policy
file's path and SHA-256, and the capabilities. It records the SHA-256 of every file the
policy extends and ends with the SHA-256 of everything before it; it is used only when
that checksum holds, every recorded file still matches and its filters are whole BPF
programs; anything else is a miss, and a miss compiles afresh and replaces the entry
(temp file and rename). A cache that cannot be read or written is no cache: the filters
are compiled, and nothing fails for it.

A hit reads the policy once, stats the package and reads one entry; it imports nothing
beyond what the interpreter starts with (no YAML, no JSON, no compiler).
"""

from __future__ import annotations

import os
import stat
import time

import seccompiler

TYPE_CHECKING = False  # typing itself is not imported on this path
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

FORMAT = "seccompiler-filter-cache 2"
SETTLED_NS = 2_000_000_000  # files written this recently are not trusted to be final
MAX_ENTRY = 1 << 20  # two filters of at most 4096 instructions, hex-encoded, and a header
MAX_POLICY = 64 << 20  # as base/fsread.py: larger inputs are the compiler's to refuse
MAX_INSNS = 4096
_PACKAGE = os.path.dirname(os.path.realpath(seccompiler.__file__))
_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_tool: str | None = None


def _sha256_class() -> Callable[[bytes], object]:
    """SHA-256 from the interpreter's built-in module (the same digest as ``hashlib``'s,
    without loading OpenSSL, which costs more than the rest of a cache hit)."""
    for name in ("_sha2", "_sha256"):  # CPython 3.12+, 3.11
        try:
            return __import__(name).sha256  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256


_sha256 = _sha256_class()


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data``, in hex."""
    return _sha256(data).hexdigest()  # type: ignore[attr-defined,no-any-return]


class Filters:
    """The filters ``run`` loads: the policy's own, and the one that notifies refusals."""

    __slots__ = ("audit", "cached", "real", "sources")

    def __init__(
        self,
        real: bytes,
        audit: bytes,
        cached: bool,
        sources: tuple[tuple[str, str], ...] | None = None,
    ) -> None:
        self.real = real
        self.audit = audit
        self.cached = cached  # True when read from the cache
        # (path, SHA-256) of the policy and every file it extends, when the cache entry that
        # holds these filters was just found current or written (None otherwise)
        self.sources = sources


def cache_dir() -> str | None:
    """``$XDG_CACHE_HOME/seccompiler``, else ``~/.cache/seccompiler``; None without either."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative value is ignored
        home = os.environ.get("HOME", "")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return os.path.join(base, "seccompiler")


def _walk(
    directory: str,
    rel: str,
    out: list[str],
    seen: set[tuple[int, int]],
    stats: list[tuple[str, os.stat_result]] | None,
) -> None:
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:  # an unreadable part is part of the fingerprint, as such
        out.append(f"{rel}\0{exc.errno}")
        _stats_broken.append(directory)
        return
    for e in entries:
        if e.name == "__pycache__":
            continue
        try:
            st = e.stat()  # through links: a checkout links profiles/ in
        except OSError as exc:  # a dangling link
            out.append(f"{rel}{e.name}\0{exc.errno}")
            _stats_broken.append(e.path)
            continue
        if stats is not None:
            stats.append((e.path, st))
        if stat.S_ISDIR(st.st_mode):
            if (st.st_dev, st.st_ino) not in seen:  # each directory once, loops or not
                seen.add((st.st_dev, st.st_ino))
                _walk(e.path, rel + e.name + "/", out, seen, stats)
        else:
            out.append(f"{rel}{e.name}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}")


_stats: list[tuple[str, os.stat_result]] = []  # what the fingerprint was taken of
_stats_broken: list[str] = []  # parts that could not be read
_stats_of: str | None = None  # the fingerprint they were taken for


def tool_fingerprint() -> str:
    """The version, and the name, size and change times of every file of the package."""
    global _tool, _stats_of
    if _tool is None:
        files: list[str] = []
        top = os.stat(_PACKAGE)
        _stats[:] = [(_PACKAGE, top)]
        _stats_broken.clear()
        _walk(_PACKAGE, "", files, {(top.st_dev, top.st_ino)}, _stats)
        text = "\n".join([seccompiler.__version__, *files])
        _tool = f"{seccompiler.__version__}+{sha256_hex(os.fsencode(text))[:32]}"
        _stats_of = _tool
    return _tool


def package_stats() -> list[tuple[str, os.stat_result]] | None:
    """Every folder and file the fingerprint was taken of, with its stat then; None when a
    part could not be read, or the fingerprint was not taken here (a front entry then
    cannot be checked)."""
    tool = tool_fingerprint()
    return None if tool != _stats_of or _stats_broken or not _stats else list(_stats)


def _read_regular(path: str, limit: int) -> bytes | None:
    """The content of a regular file of at most ``limit`` bytes; None for anything else.

    Opened without blocking and refused unless regular: a FIFO or a device named as a
    policy is for the compiler to refuse, never a hang here.
    """
    try:
        fd = os.open(path, _READ)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        chunks = []
        size = 0
        while chunk := os.read(fd, limit + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return None
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def resolve_name(policy: str) -> str:
    """A bundled profile's name (``keisson-default``) as its file, as ``frontend/bundled.py``
    resolves it (a test keeps the two equal); anything else as it is."""
    if "/" in policy or "." in policy or policy in ("", "-") or os.path.exists(policy):
        return policy
    path = os.path.join(_PACKAGE, "profiles", policy + ".yaml")
    return path if os.path.isfile(path) else policy


def _digest(path: str) -> str | None:
    data = _read_regular(path, MAX_POLICY)
    return None if data is None else sha256_hex(data)


def _key(policy: str, caps: tuple[str, ...], content: str) -> str:
    fields = [FORMAT, tool_fingerprint(), policy, *caps, "", content]
    return sha256_hex(os.fsencode("\0".join(fields)))


def _filter(hexed: str) -> bytes | None:
    data = bytes.fromhex(hexed)
    return data if data and len(data) % 8 == 0 and len(data) <= 8 * MAX_INSNS else None


def _read(path: str, key: str, policy: str) -> Filters | None:
    """The entry at ``path`` if it is whole and still current, else None."""
    raw = _read_regular(path, MAX_ENTRY)
    if raw is None:
        return None
    body, sep, last = raw.rstrip(b"\n").rpartition(b"\n")
    if not sep or last != b"checksum " + sha256_hex(body + b"\n").encode():
        return None
    try:
        lines = body.decode("ascii").split("\n")
        if lines[:2] != [FORMAT, f"key {key}"] or len(lines) < 5:
            return None
        sources = []
        for line in lines[2:-2]:
            word, digest, name = line.split(" ")
            source = os.fsdecode(bytes.fromhex(name))
            if word != "source" or (source != policy and _digest(source) != digest):
                return None
            sources.append((source, digest))
        (w1, real_hex), (w2, audit_hex) = (line.split(" ") for line in lines[-2:])
        real, audit = _filter(real_hex), _filter(audit_hex)
    except ValueError:  # not ASCII, not hex, not the fields expected
        return None
    if (w1, w2) != ("real", "audit") or real is None or audit is None:
        return None
    return Filters(real, audit, cached=True, sources=tuple(sources))


def _write(
    path: str, key: str, sources: Iterable[str], real: bytes, audit: bytes
) -> tuple[tuple[str, str], ...] | None:
    """Write the entry; the (path, SHA-256) of its sources when it was written."""
    lines = [FORMAT, f"key {key}"]
    recorded = []
    for s in sources:
        digest = _digest(s)
        if digest is None:
            return None  # a source that cannot be read back cannot be checked: no entry
        lines.append(f"source {digest} {os.fsencode(s).hex()}")
        recorded.append((s, digest))
    lines += [f"real {real.hex()}", f"audit {audit.hex()}"]
    return tuple(recorded) if write_checked(path, lines) else None


def write_checked(path: str, lines: list[str]) -> bool:
    """Write ``lines`` and a last line with the SHA-256 of all before it, atomically and
    readable by the user only; False when it cannot be written (no cache, no failure)."""
    from seccompiler.base.errors import SeccompilerError
    from seccompiler.base.fsio import write_atomic

    body = "\n".join(lines) + "\n"
    text = body + f"checksum {sha256_hex(body.encode())}\n"
    try:
        write_atomic(path, text, mode=0o600)
    except (OSError, SeccompilerError):  # unwritable: a compilation, no more
        return False
    return True


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
    path = os.path.abspath(resolve_name(policy))
    content = _digest(path)
    if where is None or content is None:  # unreadable: let the compiler say why
        real, audit, _ = compile_filters(policy, caps)
        return Filters(real, audit, cached=False)
    key = _key(path, caps, content)
    entry = os.path.join(where, f"{key}.entry")
    found = _read(entry, key, path)
    if found is not None:
        return found
    start = time.time_ns()
    real, audit, sources = compile_filters(policy, caps)
    files = [os.path.abspath(s) for s in sources]
    if path not in files:
        files.append(path)
    # The digests are taken after compiling: a file written meanwhile (or just before,
    # timestamps being coarse) could be recorded with content the filters do not reflect.
    written = None
    if _digest(path) == content and not _changed_since(files, start - SETTLED_NS):
        written = _write(entry, key, files, real, audit)
    return Filters(real, audit, cached=False, sources=written)


def _changed_since(files: Iterable[str], when_ns: int) -> bool:
    try:
        return any(os.stat(f).st_mtime_ns >= when_ns for f in files)
    except OSError:
        return True
