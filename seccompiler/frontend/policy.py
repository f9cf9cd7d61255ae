"""Frontend: a policy YAML file (and the files it extends) → ``Policy``, with positions kept.

The policy language is documented in docs/policy.md. Every mistake is a ``PolicyError`` with
the file, line and column, and a hint; several are collected and reported together.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seccompiler.arch import abi as abimod
from seccompiler.arch import catalog, tables
from seccompiler.base.errors import Note, PolicyError, UsageError
from seccompiler.base.fsio import check_regular
from seccompiler.base.yamlsrc import LList, LMap, Mark, load_file
from seccompiler.frontend import bundled
from seccompiler.frontend.policy_fields import (
    check_name,
    parse_abis,
    parse_action,
    parse_arg,
    parse_caps,
    parse_names,
    parse_numbers,
)
from seccompiler.frontend.policy_spec import (
    LANGUAGE_VERSION,
    MAX_EXTENDS_DEPTH,
    RULE_KEYS,
    TOP_KEYS,
    ArgSpec,
    Errors,
    Policy,
    RuleSpec,
    check_keys,
)
from seccompiler.program import Action


def _parse_rule(item: Any, mark: Mark, errs: Errors) -> RuleSpec | None:
    if not isinstance(item, LMap):
        errs.add(
            mark,
            "a rule is a mapping with action and syscalls",
            "write it as '- {action: allow, syscalls: [read, write]}'",
            code="bad-rule",
        )
        return None
    check_keys(item, RULE_KEYS, "rule", errs)
    if "action" not in item or ("syscalls" not in item and "nr" not in item):
        errs.add(
            item.mark,
            "a rule needs both 'action' and 'syscalls'",
            "or 'nr' for syscalls the table has no name for yet",
            code="bad-rule",
        )
        return None
    action = parse_action(item["action"], item.where("action"), errs)
    names, numbers, excluded = _parse_rule_syscalls(item, errs)
    args = _parse_rule_args(item, errs)
    abis = None
    if "abis" in item:
        parsed = parse_abis(item["abis"], item.where("abis"), errs)
        abis = frozenset(parsed) if parsed is not None else None
    caps = parse_caps(item["caps"], item.where("caps"), errs) if "caps" in item else frozenset()
    reason = item.get("reason", "")
    if not isinstance(reason, str):
        errs.add(item.where("reason"), "reason must be text", code="bad-rule")
        reason = ""
    if action is None:
        return None
    return RuleSpec(
        action,
        tuple(names),
        frozenset(excluded),
        tuple(args),
        abis,
        caps,
        reason.strip(),
        item.mark,
        item.where("action"),
        tuple(numbers),
    )


def _parse_rule_syscalls(
    item: LMap, errs: Errors
) -> tuple[list[tuple[str, Mark]], list[tuple[str, int, Mark]], list[str]]:
    """A rule's syscalls by name, by number ('nr') and its exceptions, each name checked."""
    names: list[tuple[str, Mark]] = []
    if "syscalls" in item:
        names = parse_names(item["syscalls"], item.where("syscalls"), "syscalls", errs)
        if not names:
            errs.add(item.where("syscalls"), "a rule needs at least one syscall", code="bad-rule")
    numbers = parse_numbers(item["nr"], item.where("nr"), errs) if "nr" in item else []
    names = [(n, m) for n, m in names if check_name(n, m, errs)]
    excluded = []
    for n, m in parse_names(item.get("except", LList()), item.where("except"), "except", errs):
        if check_name(n, m, errs):
            excluded.append(n)
    return names, numbers, excluded


def _parse_rule_args(item: LMap, errs: Errors) -> list[ArgSpec]:
    """A rule's argument conditions, at most one per argument index."""
    args_raw = item.get("args", LList())
    args: list[ArgSpec] = []
    if not isinstance(args_raw, LList):
        errs.add(item.where("args"), "args must be a list of conditions", code="bad-arg")
        return args
    seen: set[int] = set()
    for i, a in enumerate(args_raw):
        spec = parse_arg(a, args_raw.where(i), errs)
        if spec is None:
            continue
        if spec.index in seen:
            errs.add(
                args_raw.where(i),
                f"argument {spec.index} compared twice in one rule",
                "write a second rule; conditions in one rule must all hold",
                "duplicate-arg",
            )
        seen.add(spec.index)
        args.append(spec)
    return args


def _check_conflicts(rules: list[RuleSpec], errs: Errors) -> None:
    """Two unconditional rules in one file giving one syscall different actions is a mistake."""
    seen: dict[tuple[str, str], tuple[Action, RuleSpec]] = {}
    for rule in rules:
        if rule.args or rule.caps:
            continue
        for abi_name in sorted(rule.abis) if rule.abis else ["*"]:
            for name in expand_names(rule):
                key = (name, abi_name)
                prev = seen.get(key)
                if prev is not None and prev[0] != rule.action:
                    errs.add(
                        rule.action_mark,
                        f"syscall '{name}' is given {rule.action} here and {prev[0]} at line "
                        f"{prev[1].mark.line}",
                        "remove one, or exclude it from the group with 'except:'",
                        "conflict",
                    )
                    continue
                seen[key] = (rule.action, rule)
        for abi_name, nr, _ in rule.numbers:
            key = (f"#{nr}", abi_name)
            prev = seen.get(key)
            if prev is not None and prev[0] != rule.action:
                errs.add(
                    rule.action_mark,
                    f"syscall number {nr} on {abi_name} is given {rule.action} here and "
                    f"{prev[0]} at line {prev[1].mark.line}",
                    "remove one",
                    "conflict",
                )
                continue
            seen[key] = (rule.action, rule)


def expand_names(rule: RuleSpec) -> dict[str, str]:
    """The syscall names a rule covers (groups expanded, exceptions removed) with reasons."""
    out: dict[str, str] = {}
    excluded: set[str] = set()
    for ex in rule.excluded:
        excluded.update(catalog.expand_group(ex[1:]) if ex.startswith("@") else [ex])
    for name, _ in rule.syscalls:
        if name.startswith("@"):
            for member, why in catalog.expand_group(name[1:]).items():
                out.setdefault(member, why or rule.reason)
        else:
            out.setdefault(name, rule.reason)
    return {n: r for n, r in out.items() if n not in excluded}


def _load_one(path: Path, errs: Errors) -> LMap:
    data = load_file(str(path))
    if not isinstance(data, LMap):
        raise PolicyError(
            "a policy is a YAML mapping",
            hint="start with 'seccompiler: 1'",
            location=Mark(str(path), 1, 1).location(),
            code="not-a-mapping",
        )
    check_keys(data, TOP_KEYS, "policy", errs)
    version = data.get("seccompiler")
    if type(version) is not int or version != LANGUAGE_VERSION:  # True == 1 in Python
        errs.add(
            data.where("seccompiler"),
            f"unsupported or missing language version {version!r}",
            "put 'seccompiler: 1' at the top",
            "version",
        )
    return data


def _unreadable(path: Path) -> str | None:
    """Why ``path`` cannot be read as a policy (missing, a FIFO, a device…), or None."""
    try:
        check_regular(path)
    except UsageError as exc:
        return exc.message.removeprefix(f"{path}: ")
    return None


def _load_base(p: Path, data: LMap, errs: Errors, _chain: tuple[Path, ...]) -> Policy | None:
    """The policy ``data`` extends, loaded (None when it extends none or the link is wrong)."""
    resolved = Path(os.path.realpath(p))  # unlike Path.resolve, never raises on a link loop
    if "extends" not in data:
        return None
    ext = data["extends"]
    where = data.where("extends")
    if not isinstance(ext, str) or not ext:
        errs.add(where, "extends takes one file name", code="bad-extends")
    else:
        target = p.parent / ext
        real = Path(os.path.realpath(target))
        if real in (*_chain, resolved):
            chain = " → ".join(str(c) for c in (*_chain, resolved, real))
            errs.add(where, f"'extends' forms a cycle: {chain}", "remove one link", "extends-cycle")
        elif len(_chain) >= MAX_EXTENDS_DEPTH:
            errs.add(
                where,
                f"'extends' nests deeper than {MAX_EXTENDS_DEPTH} files",
                code="extends-depth",
            )
        elif (problem := _unreadable(target)) is not None:
            errs.add(
                where,
                f"extended policy '{ext}': {problem}",
                f"looked for {target}",
                "extends-missing",
            )
        else:
            errs.raise_if_any()
            return load_policy(target, _chain=(*_chain, resolved))
    return None


def _parse_rules(data: LMap, errs: Errors) -> list[RuleSpec]:
    rules_raw = data.get("rules", LList())
    rules: list[RuleSpec] = []
    if not isinstance(rules_raw, LList):
        errs.add(
            data.where("rules"),
            "rules must be a list",
            "write one '- action: …' item per rule under 'rules:', or 'rules: []' for none",
            code="bad-rule",
        )
    else:
        for i, item in enumerate(rules_raw):
            rule = _parse_rule(item, rules_raw.where(i), errs)
            if rule is not None:
                rules.append(rule)
    return rules


def _check_on_abis(rules: list[RuleSpec], abis: tuple[str, ...], errs: Errors) -> None:
    """Each syscall a rule names must exist on at least one of the policy's ABIs."""
    for rule in rules:
        for name_, mark in rule.syscalls:
            if not name_.startswith("@") and not any(
                name_ in tables.table(a).by_name for a in abis
            ):
                errs.add(
                    mark,
                    f"syscall '{name_}' exists on none of the policy's ABIs ({', '.join(abis)})",
                    code="absent-on-abis",
                )
        if rule.numbers and not any(a in abis for a, _, _ in rule.numbers):
            errs.add(
                rule.numbers[0][2],
                f"'nr' names numbers only for ABIs the policy does not cover ({', '.join(abis)})",
                "add the ABI to 'abis:', or give the number for one the policy covers",
                "absent-on-abis",
            )


# Argument positions that differ by ABI: clone's flags come second on s390 and s390x
# (CLONE_BACKWARDS2 in the kernel), where the first argument is the new stack pointer.
_MOVED_ARGS: dict[str, dict[str, tuple[int, int, str]]] = {
    "clone": {abi: (0, 1, "flags") for abi in ("s390", "s390x")},
}


def _check_arg_order(rules: Sequence[RuleSpec], abis: tuple[str, ...], errs: Errors) -> None:
    """A condition on an argument that sits elsewhere on one of the policy's ABIs."""
    for rule in rules:
        applies = set(abis) if rule.abis is None else set(abis) & rule.abis
        names = expand_names(rule)
        for name, moved in _MOVED_ARGS.items():
            if name not in names:
                continue
            for abi_name, (index, there, what) in sorted(moved.items()):
                if abi_name not in applies:
                    continue
                for spec in rule.args:
                    if spec.index == index:
                        errs.add(
                            spec.mark,
                            f"{name}'s {what} are argument {there} on {abi_name} (argument "
                            f"{index} elsewhere): this condition would read another argument "
                            "there",
                            f"leave {abi_name} out of this rule with 'abis:', and write one "
                            f"for {abi_name} with index: {there}",
                            "arg-order",
                        )


def _default_note(base: Policy, default: Action, mark: Mark) -> Note | None:
    """A child's default replaces its base's: say how many of the base's answers it flips."""
    if default == base.default:
        return None
    abi = abimod.ABIS[base.abis[0]]
    named: set[str] = set()
    for rule in base.rules:
        if rule.abis is None or abi.name in rule.abis:
            named.update(expand_names(rule))
    flipped = sorted(set(tables.table(abi).by_name) - named)
    if not flipped:
        return None
    shown = ", ".join(flipped[:4])
    return Note(
        "default-replaced",
        f"default: {default} replaces the base's {base.default}: {len(flipped)} syscalls the "
        f"base leaves to its default on {abi.name} ({shown}, …) now get {default}",
        "to keep them, keep the base's default and refuse what you mean to with rules; "
        "or allow the ones you need here by name",
        mark.location(),
    )


def _parse_actions(
    data: LMap, base: Policy | None, errs: Errors
) -> tuple[Action | None, Action | None, Action | None]:
    """The policy's default, unknown and bad-arch actions, each falling back to its base's."""

    def action_key(key: str, fallback: Action | None) -> Action | None:
        if key in data:
            return parse_action(data[key], data.where(key), errs)
        if fallback is None:
            errs.add(
                data.mark,
                f"the policy has no '{key}' action",
                f"add e.g. '{key}: errno(EPERM)': what syscalls no rule names get",
                code=f"no-{key}",
            )
        return fallback

    default = action_key("default", base.default if base else None)
    unknown_fallback = base.unknown if base else Action.parse("errno(ENOSYS)")
    unknown = action_key("unknown", unknown_fallback)
    bad_arch = base.bad_arch if base else None
    if "bad-arch" in data:
        bad_arch = parse_action(data["bad-arch"], data.where("bad-arch"), errs)
    return default, unknown, bad_arch


def _parse_texts(data: LMap, base: Policy | None, p: Path, errs: Errors) -> tuple[Any, Any]:
    """The policy's name (its base's, else the file's stem) and description, checked as text."""
    name = data.get("name", base.name if base else p.stem)
    description = data.get("description", "")
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            errs.add(
                data.where(key),
                f"'{key}' must be text, not {type(value).__name__}",
                "write it as a string; quote it if YAML reads it as something else",
                f"bad-{key}",
            )
    return name, description


def load_policy(path: str | Path, *, _chain: tuple[Path, ...] = ()) -> Policy:
    """Read a policy and everything it extends; raise on the first file with errors.

    A bare name (``keisson-default``) that is no file here names a bundled profile.
    """
    if str(path) == "":  # Path("") is "." (a directory), not "no file"
        raise UsageError("an empty path names no policy file", hint="name the policy file")
    p = Path(bundled.resolve(str(path)) if not _chain else path)
    errs = Errors()
    data = _load_one(p, errs)
    spath = str(p)
    base = _load_base(p, data, errs, _chain)
    abis: tuple[str, ...] | None = base.abis if base else None
    if "abis" in data:
        abis = parse_abis(data["abis"], data.where("abis"), errs)
    elif base is None:
        errs.add(data.mark, "the policy names no ABIs", "add e.g. 'abis: [x86_64, x86]'", "no-abis")
    default, unknown, bad_arch = _parse_actions(data, base, errs)
    name, description = _parse_texts(data, base, p, errs)
    rules = _parse_rules(data, errs)
    _check_conflicts(rules, errs)
    if abis is not None:
        _check_on_abis(rules, abis, errs)
        _check_arg_order([*(base.rules if base else ()), *rules], abis, errs)
    errs.raise_if_any()
    notes = list(base.notes if base else ())
    if base is not None and "default" in data and default is not None:
        note = _default_note(base, default, data.where("default"))
        notes += [note] if note else []
    assert abis is not None and default is not None and unknown is not None
    return Policy(
        path=spath,
        name=str(name),
        description=str(description),
        abis=abis,
        default=default,
        unknown=unknown,
        rules=(*(base.rules if base else ()), *rules),
        sources=(*(base.sources if base else ()), spath),
        notes=tuple(notes),
        bad_arch=bad_arch,
    )


__all__ = ["ArgSpec", "Policy", "RuleSpec", "expand_names", "load_policy"]
