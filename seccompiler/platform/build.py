"""``build``: every bundled profile compiled into one tree, proved, then swapped in whole.

Layout of the tree (relative paths): ``<profile>/oci|bpf|pfc/<family>.*`` from the compiler,
``node/…`` files at their real node paths, ``cluster/…`` objects for the API server, and
``MANIFEST.json`` (see ``platform.artifacts``). Nothing here writes: the command swaps the
result in with ``ioutil.replace_tree`` only after every output passed its check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from seccompiler.backends import oci
from seccompiler.base.errors import InputError, Location, UsageError
from seccompiler.compile import load_program, prove_outputs, render_outputs
from seccompiler.platform import artifacts
from seccompiler.platform.artifacts import paths as apaths
from seccompiler.platform.artifacts.dist import Timings

# Top-level names the build itself uses; a profile may not be called this.
RESERVED = frozenset({apaths.NODE_PREFIX, apaths.CLUSTER_PREFIX, artifacts.MANIFEST})


@dataclass
class BuildResult:
    """Relative path → bytes of the whole output tree, one summary line per proof, timings."""

    files: dict[str, bytes] = field(default_factory=dict)
    proofs: list[str] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)


def profile_paths(profiles_dir: str | Path) -> list[Path]:
    d = Path(profiles_dir)
    if not d.is_dir():
        raise UsageError(f"{d}: no such directory", hint="name the folder holding the profiles")
    paths = sorted(p for p in d.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not paths:
        raise UsageError(f"{d}: no *.yaml profiles found")
    return paths


def _check_name(name: str, path: Path, seen: dict[str, Path]) -> None:
    where = Location(str(path))
    if name in RESERVED:
        raise InputError(
            f"profile name '{name}' is reserved for the build's own outputs",
            hint="rename the profile",
            location=where,
        )
    if name in seen:
        raise InputError(
            f"profile name '{name}' is also used by {seen[name]}",
            hint="give every profile its own name",
            location=where,
        )
    seen[name] = path


def build_dist(
    profiles_dir: str | Path,
    default_profile: str = apaths.DEFAULT_PROFILE,
    kubelet_root: str = apaths.KUBELET_ROOT,
) -> BuildResult:
    """Compile, prove and check every profile and artifact; nothing is written here."""
    result = BuildResult()
    t = result.timings
    compiled: list[artifacts.CompiledProfile] = []
    seen: dict[str, Path] = {}
    for path in profile_paths(profiles_dir):
        with t.stage("policy: parse and resolve"):
            program = load_program(str(path))
            _check_name(program.name, path, seen)
        files: dict[str, bytes] = {}
        for fmt in ("oci", "bpf", "pfc"):
            with t.stage(f"render {fmt.upper()}"):
                files.update(render_outputs(program, (fmt,)))
        with t.stage("verify BPF against the policy"):
            proofs = prove_outputs(program, files)
        result.proofs.extend(f"{program.name}: {line}" for line in proofs)
        for rel, data in files.items():
            result.files[f"{program.name}/{rel}"] = data
        with t.stage("render kubelet OCI"):
            # One file serves every node, whatever its architecture: all ABIs of the policy.
            compiled.append(artifacts.CompiledProfile(program.name, oci.render(program)))
    names = [p.name for p in compiled]
    if default_profile not in names:
        raise InputError(
            f"the platform default profile '{default_profile}' is not in {profiles_dir}",
            hint=f"add {default_profile}.yaml there; the admission policies and node "
            "settings point every pod at it",
        )
    with t.stage("kubelet + SPO objects (CRD schema)"):
        for profile in compiled:
            result.files.update(artifacts.profile_files(profile, kubelet_root))
    with t.stage("node drop-ins + admission policies (schema, CEL)"):
        result.files.update(artifacts.platform_files(default_profile, kubelet_root=kubelet_root))
    with t.stage("Pod Security config + guard (schema, CEL)"):
        result.files.update(artifacts.pss_files())
    with t.stage("manifest"):
        result.files = artifacts.with_manifest(result.files)
    return result
