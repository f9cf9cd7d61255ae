"""``build``: every bundled profile compiled into one tree, proved, then swapped in whole."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from seccompiler.compiler import render_outputs
from seccompiler.errors import UsageError
from seccompiler.pipeline import load_program
from seccompiler.proof import prove_outputs


@dataclass
class BuildResult:
    """Relative path → bytes of the whole output tree, and one summary line per proof."""

    files: dict[str, bytes] = field(default_factory=dict)
    proofs: list[str] = field(default_factory=list)


def profile_paths(profiles_dir: str | Path) -> list[Path]:
    d = Path(profiles_dir)
    if not d.is_dir():
        raise UsageError(f"{d}: no such directory", hint="name the folder holding the profiles")
    paths = sorted(p for p in d.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not paths:
        raise UsageError(f"{d}: no *.yaml profiles found")
    return paths


def build_dist(profiles_dir: str | Path) -> BuildResult:
    """Compile and prove every profile; nothing is written here."""
    result = BuildResult()
    for path in profile_paths(profiles_dir):
        program = load_program(str(path))
        files = render_outputs(program)
        result.proofs.extend(f"{program.name}: {line}" for line in prove_outputs(program, files))
        for rel, data in files.items():
            result.files[f"{program.name}/{rel}"] = data
    return result
