"""Find the `seccompiler …` examples of Markdown documents, run them, compare shown output.

An example is either

- a line `$ COMMAND` in any fenced block; the lines after it, up to the next `$ ` line or
  the end of the block, are the output it shows (stdout and stderr as a terminal shows
  them), or
- a line of a ```sh block that runs `seccompiler` (no output shown; only the status counts).

A line runs `seccompiler` when the word starts a command: at the start of the line, after
`|`, `;`, `&` or `$(`, and after environment assignments (`VAR=value seccompiler …`).

Blocks without either (synopses, YAML, sample listings) are not examples. A command must
exit 0 unless its trailing comment says `exit N`. In shown output a line that is only `…`
stands for any number of lines and `…` inside a line for any text. Before comparing, the
only things that must vary are normalised: the working directory and the shared data
directory become relative paths, durations (`2.6s`, `3.3 ms`) become `<time>`, and runs of
spaces become one space (column widths follow the values in them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ELLIPSIS = "…"
_FENCE = re.compile(r"^(\s*)```(\S*)")
_EXIT = re.compile(r"#.*\bexit (\d+)\b")
_TIME = re.compile(r"\b\d+(?:\.\d+)? ?(?:ms|µs|s)\b")


@dataclass(frozen=True)
class Example:
    """One command of a document and what the document says it does."""

    doc: str
    line: int
    command: str
    shown: tuple[str, ...] | None  # None: the document shows no output
    status: int

    def where(self) -> str:
        return f"{self.doc}:{self.line}"


@dataclass(frozen=True)
class Outcome:
    example: Example
    status: int
    output: str
    problem: str | None  # None: as documented


def _status(command: str) -> int:
    m = _EXIT.search(command)
    return int(m.group(1)) if m else 0


# A command that runs seccompiler: at the start, after a pipe, a separator or "$(", and
# after any environment assignments (``_SECCOMPILER_COMPLETE=bash_source seccompiler``).
_RUNS = re.compile(
    r"""(?:^|[|;&(]\s*)(?:[A-Za-z_][A-Za-z0-9_]*=(?:"[^"]*"|'[^']*'|[^\s"']*)\s+)*"""
    r"seccompiler(?:\s|\)|$)"
)


def _runs_seccompiler(line: str) -> bool:
    return _RUNS.search(line) is not None


def examples(path: Path, name: str) -> list[Example]:
    """Every example of one Markdown file, in document order."""
    found: list[Example] = []
    block: list[tuple[int, str]] | None = None
    lang, indent = "", 0
    for no, line in enumerate(path.read_text().splitlines(), 1):
        fence = _FENCE.match(line)
        if fence and block is None:
            block, lang, indent = [], fence.group(2), len(fence.group(1))
            continue
        if fence and block is not None:
            found.extend(_block_examples(name, lang, block))
            block = None
            continue
        if block is not None:  # a block inside a list item is indented with it
            block.append((no, line[indent:] if line[:indent].isspace() else line))
    return found


def _block_examples(doc: str, lang: str, block: list[tuple[int, str]]) -> list[Example]:
    out: list[Example] = []
    if any(text.startswith("$ ") and _runs_seccompiler(text[2:]) for _, text in block):
        current: tuple[int, str] | None = None
        shown: list[str] = []
        for no, text in [*block, (0, "$ ")]:
            if not text.startswith("$ "):
                shown.append(text)
                continue
            if current is not None and _runs_seccompiler(current[1]):
                while shown and not shown[-1].strip():
                    shown.pop()
                cmd = current[1]
                out.append(Example(doc, current[0], cmd, tuple(shown), _status(cmd)))
            elif current is not None:  # a helper command (head, cat): its output is shown too
                out.append(Example(doc, current[0], current[1], tuple(shown), 0))
            current, shown = (no, text[2:]), []
        return out
    if lang == "sh":
        for no, text in block:
            if _runs_seccompiler(text.strip()):
                out.append(Example(doc, no, text.strip(), None, _status(text)))
    return out


def normalise(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        text = text.replace(old, new)
    text = _TIME.sub("<time>", text)
    lines = [re.sub(r" +", " ", ln).rstrip() for ln in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def _pattern(shown: tuple[str, ...]) -> re.Pattern[str]:
    parts = []
    for line in shown:
        norm = normalise(line, {})
        if norm.strip() == ELLIPSIS:
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            pieces = [re.escape(p) for p in norm.split(ELLIPSIS)]
            parts.append("[^\n]*".join(pieces) + r"\n")
    return re.compile("".join(parts), re.DOTALL)


def matches(shown: tuple[str, ...], output: str) -> bool:
    """True when normalised ``output`` is what ``shown`` (with its wildcards) describes."""
    text = output + "\n" if output else ""
    return _pattern(shown).fullmatch(text) is not None


def run(
    example: Example,
    cwd: Path,
    env: dict[str, str],
    replacements: dict[str, str],
    timeout: float = 120,
) -> Outcome:
    """Run one example with bash in ``cwd`` and judge it against the document."""
    try:
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", example.command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return Outcome(example, -1, "", f"did not finish in {timeout:.0f} s")
    output = normalise(proc.stdout.decode(errors="replace"), replacements)
    problem = None
    if proc.returncode != example.status:
        problem = f"exit status {proc.returncode}, documented {example.status}"
    elif example.shown is not None and not matches(example.shown, output):
        problem = "output differs from the document"
    return Outcome(example, proc.returncode, output, problem)


def report(outcome: Outcome) -> str:
    ex = outcome.example
    lines = [f"{ex.where()}: $ {ex.command}", f"  {outcome.problem}"]
    if ex.shown is not None:
        lines += ["  documented:", *("    | " + s for s in ex.shown)]
    lines += ["  actual:", *("    | " + s for s in outcome.output.splitlines()[:60])]
    return "\n".join(lines)


def missing_tools(command: str, tools: tuple[str, ...]) -> list[str]:
    """The programs of ``tools`` that ``command`` names and this machine lacks."""
    words = set(re.findall(r"[A-Za-z0-9_.-]+", command))
    return [t for t in tools if t in words and shutil.which(t) is None]


def environment(bindir: Path) -> dict[str, str]:
    """A plain environment whose PATH finds the seccompiler under test first."""
    env = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TERM", "TMPDIR")}
    env["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    env["LC_ALL"] = "C.UTF-8"
    env["COLUMNS"] = "100"
    env["PYTHONUNBUFFERED"] = "1"  # stdout and stderr interleave as on a terminal
    return env
