"""The work of ``seccompiler run``, and a parser for its plain form that needs no click.

``run`` wraps a program, so its start-up is paid on every launch. The plain form,
``run [--profile P] [--audit] [--report F] [--caps C]... -- PROGRAM [ARG...]``, is parsed
here; anything else (help, a missing ``--``, an unknown option, a directory for a file)
goes to the click command in ``commands/run.py``, which owns the options' help and errors.

Imported on a launch whose filters are cached: nothing beyond what the interpreter starts
with (``runner/filtercache.py``, ``runner/launcher.py``); under ``--audit`` the launcher
answers refusals itself. The compiler is loaded when the cache misses, the tables and the
report's types when there is something to report: a refusal, a failure, a signal.
"""

from __future__ import annotations

import os
import sys

from seccompiler.runner import filtercache, frontentry, launcher

TYPE_CHECKING = False  # typing itself is not imported on this path
if TYPE_CHECKING:
    from seccompiler.base.fsio import OutputKind
    from seccompiler.runner.supervise import RunResult

OWN_FAILURE = 125  # as docker run: the tool itself failed, the program never ran
_VALUED = ("--profile", "--report", "--caps")
_NOTHING_REFUSED = "audit: no syscall was refused"


class RunArgs:
    """A ``run`` invocation: what the click command and the plain parser both produce.

    A plain class: ``dataclasses`` alone costs more to import than a cached launch.
    """

    __slots__ = ("audit", "caps", "command", "policy", "report")

    def __init__(
        self,
        policy: str,
        audit: bool,
        report: str | None,
        caps: tuple[str, ...],
        command: tuple[str, ...],
    ) -> None:
        self.policy = policy
        self.audit = audit
        self.report = report
        self.caps = caps
        self.command = command

    def _fields(self) -> tuple[object, ...]:
        return (self.policy, self.audit, self.report, self.caps, self.command)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunArgs) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return "RunArgs" + repr(self._fields())


def parse(args: list[str]) -> RunArgs | None:
    """The plain form of ``run``'s arguments, or None for click to parse."""
    if "--" not in args:
        return None
    cut = args.index("--")
    opts, command = args[:cut], tuple(args[cut + 1 :])
    values: dict[str, list[str]] = {k: [] for k in _VALUED}
    audit = False
    i = 0
    while i < len(opts):
        word = opts[i]
        name, eq, value = word.partition("=")
        if word == "--audit":
            audit = True
        elif name in _VALUED and eq:
            values[name].append(value)
        elif word in _VALUED and i + 1 < len(opts):
            i += 1
            values[word].append(opts[i])
        else:
            return None
        i += 1
    profile, report = values["--profile"], values["--report"]
    if not command or len(profile) != 1 or len(report) > 1:
        return None
    files = [*profile, *report]
    if any(not f or f.startswith("-") or os.path.isdir(f) for f in files):
        return None
    return RunArgs(
        profile[0], audit, report[0] if report else None, tuple(values["--caps"]), command
    )


def _run_report() -> OutputKind:
    """What ``--report`` writes: only a file that is such a report is replaced by it."""
    from seccompiler.base.fsio import json_report

    return json_report("run report", "status", "refused", "events")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _signame(n: int) -> str:
    import signal

    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def report_table(result: RunResult) -> list[str]:
    """The audit report as aligned text, one line per (program, syscall, action)."""
    counts = result.counts()
    if not counts and not result.uncounted:
        return [_NOTHING_REFUSED]
    rows = [("COUNT", "SYSCALL", "ABI", "ACTION", "PIDS", "EXECUTABLE")]
    all_pids = result.pids()
    for (exe, abi_name, name, action), n in sorted(counts.items(), key=lambda kv: -kv[1]):
        pids, more = all_pids[exe, name]
        shown = ",".join(map(str, pids[:4])) + ("…" if len(pids) > 4 or more else "")
        rows.append((str(n), name, abi_name, action, shown, exe))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    total = sum(counts.values()) + result.uncounted
    lines = [f"audit: {total} refused syscalls"]
    for r in rows:
        lines.append(
            "  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5]
        )
    if result.uncounted:
        lines.append(
            f"audit: {result.uncounted} of them past what the launcher counts by syscall "
            "(more different refused calls than it keeps): not in the table"
        )
    return lines


def _plain_exit(text: str) -> int | None:
    """The workload's exit code when the status says nothing else (no refusal, no error,
    no signal); None when there is more to report."""
    last = None
    for line in text.splitlines():
        word, _, rest = line.partition(" ")
        if word == "exit" and rest.isdigit():
            last = int(rest)
        elif word != "pid":
            return None
    return last


def execute(args: RunArgs) -> int:
    """Run the program under the policy's filter; return its status (125 on our failure)."""
    audit = args.audit or args.report is not None
    if args.report is not None:  # refused before anything runs: exit 2
        from seccompiler.base.fsio import check_file_output

        check_file_output(args.report, _run_report(), [args.policy], "report")
    try:  # the front ran the workload: only its report is left
        text = frontentry.handed_status()
    except frontentry.StatusUnreadable as exc:  # ran once already: never a second time
        _say(f"seccompiler: {args.command[0]} has run, but {exc}; nothing to report")
        return OWN_FAILURE
    if text is None:
        launched = _launch(args, audit)
        if isinstance(launched, int):
            return launched
        text = launched
    status = _plain_exit(text)
    if status is not None and args.report is None:  # nothing refused, nothing to explain
        if audit:
            _say(_NOTHING_REFUSED)
        return status
    from seccompiler.runner.supervise import parse_status

    return _report(args, parse_status(text), audit)


def _launch(args: RunArgs, audit: bool) -> str | int:
    """Run the workload; the launcher's status text, or our own exit status when it did not
    run."""
    for i, arg in enumerate(args.command):
        if "\0" in arg:  # only a caller of main() can pass one: argv is C strings
            from seccompiler.base.errors import InputError

            _say_ours(InputError(f"argument {i} of the command holds a NUL byte; not running"))
            return OWN_FAILURE
    try:
        filters = filtercache.filters_for(args.policy, args.caps)
    except Exception as exc:
        _say_ours(exc)
        _say(f"seccompiler: the policy {args.policy} does not compile; not running")
        return OWN_FAILURE
    if args.report is None and frontentry.front is not None:
        frontentry.write(args.policy, args.caps, launcher.LAUNCHER, filters)
    bpf, answer = (filters.audit, filters.real) if audit else (filters.real, None)
    try:
        if not launcher.available():
            from seccompiler.runner import native

            native.executable(native.LAUNCHER)  # raises, saying how to rebuild
        text, code = launcher.launch(list(args.command), bpf, answer)
    except OSError as exc:  # the launcher cannot be started
        from seccompiler.runner.supervise import RunResult

        return _report(args, RunResult(OWN_FAILURE, error=str(exc), error_stage="launch"), audit)
    except Exception as exc:  # e.g. the native parts are missing
        _say_ours(exc)
        return OWN_FAILURE
    if not any(line.startswith(("exit ", "signal ", "error ")) for line in text.splitlines()):
        # the launcher itself was ended (a signal before it could pass any on): its status
        text += f"signal {-code}\n" if code < 0 else f"exit {code}\n"
    return text


def _say_ours(exc: Exception) -> None:
    """Say why seccompiler failed; re-raise what is not one of our errors."""
    from seccompiler.base.errors import SeccompilerError
    from seccompiler.commands.cli import render_error

    if not isinstance(exc, SeccompilerError):
        raise exc
    _say(render_error(exc))


def _report(args: RunArgs, result: RunResult, audit: bool) -> int:
    name = args.command[0]
    if result.error:
        what = {"notfound": "command not found", "exec": "cannot execute"}.get(
            result.error_stage, f"cannot start ({result.error_stage})"
        )
        _say(f"seccompiler: {name}: {what}: {result.error}")
    elif result.status > 128:
        cause = " (the policy's kill action)" if result.killed_by_policy else ""
        _say(f"seccompiler: {name} killed by {_signame(result.status - 128)}{cause}")
    if audit:
        for line in report_table(result):
            _say(line)
    if args.report is not None:
        import json

        from seccompiler.base.fsio import write_output

        write_output(args.report, json.dumps(result.to_json(), indent=2) + "\n", _run_report())
    return result.status
