"""``build``: every bundled profile compiled into one tree, proved, then swapped in whole.

Layout of the tree (relative paths): ``<profile>/oci|bpf|pfc/<family>.*`` from the compiler,
``node/…`` files at their real node paths, ``cluster/…`` objects for the API server, and
``MANIFEST.json`` (see ``platform.artifacts``). Nothing here writes: the command swaps the
result in with ``ioutil.replace_tree`` only after every output passed its check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from seccompiler.backends import oci
from seccompiler.base.errors import InputError, Location, UsageError
from seccompiler.base.fsio import check_regular
from seccompiler.compile import load_program, prove_reports, render_outputs
from seccompiler.platform import artifacts, nodeinstall, targets
from seccompiler.platform import config as pconfig
from seccompiler.platform.artifacts import installer, spo
from seccompiler.platform.artifacts import paths as apaths
from seccompiler.platform.artifacts.dist import Timings
from seccompiler.prove.verify import VerifyReport

# Top-level names the build itself uses; a profile may not be called this.
RESERVED = frozenset({apaths.NODE_PREFIX, apaths.CLUSTER_PREFIX, artifacts.MANIFEST})


@dataclass
class BuildResult:
    """Relative path → bytes of the whole output tree, one summary line per proof, timings."""

    files: dict[str, bytes] = field(default_factory=dict)
    proofs: list[str] = field(default_factory=list)  # text: every proof and runtime check
    reports: list[tuple[str, VerifyReport]] = field(default_factory=list)  # (profile, proof)
    runtime_checks: list[str] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)


def profile_paths(profiles_dir: str | Path) -> list[Path]:
    d = Path(profiles_dir)
    if not d.is_dir():
        raise UsageError(f"{d}: no such directory", hint="name the folder holding the profiles")
    paths = sorted(
        p for p in d.iterdir() if p.suffix in (".yaml", ".yml") and p.name != pconfig.FILENAME
    )
    for p in paths:
        check_regular(p)  # a FIFO, a device or a dangling link is refused, never skipped
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


def _fleet_files(files: dict[str, bytes], families: tuple[str, ...]) -> dict[str, bytes]:
    """The compiler's per-family outputs for the fleet's kernel families only."""
    return {rel: data for rel, data in files.items() if Path(rel).stem in families}


def _check_gate(files: dict[str, bytes], default_profile: str) -> None:
    """The label the default-profile policy schedules by is one the installer sets."""
    node = {
        rel.removeprefix(f"{apaths.NODE_PREFIX}/"): data
        for rel, data in files.items()
        if rel.startswith(f"{apaths.NODE_PREFIX}/")
    }
    labels = nodeinstall.profile_labels(nodeinstall.Release("", node))
    gate = installer.gate_label(apaths.short_name(default_profile))
    if labels.get(gate) != installer.READY:
        raise InputError(
            f"generated artifact fails its check: the installer never sets the label {gate} "
            "the default-profile policy schedules pods by",
            hint="this is a bug in seccompiler's artifact generation; please report it",
            location=Location(artifacts.INSTALLER_FILE),
        )


def _check_spo_path(
    files: dict[str, bytes], default_profile: str, cfg: pconfig.PlatformConfig
) -> None:
    """The profile pods are pointed at is where the operator writes the shipped object."""
    stage_audit = cfg.rollout == "audit"
    want = artifacts.default_ref(default_profile, cfg, stage_audit)
    spo_file = f"{artifacts.SPO_DIR}/{default_profile}.yaml"
    objs = yaml.safe_load_all(files.get(spo_file, b""))
    shipped = {spo.installed_ref(o) for o in objs if o}
    if want not in shipped:
        raise InputError(
            f"generated artifact fails its check: pods are pointed at {want}, but the "
            f"SeccompProfile objects install {sorted(shipped)}",
            hint="this is a bug in seccompiler's artifact generation; please report it",
            location=Location(artifacts.MUTATING_FILE),
        )


def _build_profile(
    path: Path,
    cfg: pconfig.PlatformConfig,
    seen: dict[str, Path],
    result: BuildResult,
    kubelet_root: str,
) -> artifacts.CompiledProfile:
    """One profile: compiled for the fleet, proved, its files added to ``result``."""
    t = result.timings
    with t.stage("policy: parse and resolve"):
        program = load_program(str(path))
        _check_name(program.name, path, seen)
        abis = targets.fleet_abis(program, cfg)
    files: dict[str, bytes] = {}
    memo: oci.Memo = {}  # the OCI renderings of this program share their work
    for fmt in ("oci", "bpf", "pfc"):
        with t.stage(f"render {fmt.upper()}"):
            families = cfg.families or tuple(program.families())
            files.update(_fleet_files(render_outputs(program, (fmt,), memo), families))
    with t.stage("verify BPF against the policy"):
        reports = prove_reports(program, files)
    result.reports.extend((program.name, r) for r in reports)
    result.proofs.extend(f"{program.name}: {line}" for r in reports for line in r.lines())
    for rel, data in files.items():
        result.files[f"{program.name}/{rel}"] = data
    with t.stage("render kubelet OCI"):
        # One file serves every node of the fleet: the policy's ABIs those nodes have.
        profile = artifacts.CompiledProfile(
            program.name,
            oci.render(program, abis, memo),
            oci.render(targets.audit_variant(program), abis, memo),
        )
    with t.stage("runtime targets"):
        shipped = {
            f"{program.name}/{rel}": data for rel, data in files.items() if rel.startswith("oci/")
        }
        shipped.update(artifacts.kubelet_dist_files(profile, kubelet_root))
        checks = targets.check_runtimes(program, shipped, cfg)
        result.runtime_checks.extend(checks)
        result.proofs.extend(checks)
    return profile


def build_dist(
    profiles_dir: str | Path,
    default_profile: str = apaths.DEFAULT_PROFILE,
    kubelet_root: str = apaths.KUBELET_ROOT,
    platform: pconfig.PlatformConfig | None = None,
) -> BuildResult:
    """Compile, prove and check every profile and artifact; nothing is written here.

    ``platform`` (default: ``platform.yaml`` in ``profiles_dir``) says which architectures
    and runtimes the outputs are for.
    """
    result = BuildResult()
    t = result.timings
    with t.stage("platform configuration"):
        cfg = platform if platform is not None else pconfig.load(profiles_dir)
    compiled: list[artifacts.CompiledProfile] = []
    seen: dict[str, Path] = {}
    for path in profile_paths(profiles_dir):
        compiled.append(_build_profile(path, cfg, seen, result, kubelet_root))
    names = [p.name for p in compiled]
    if default_profile not in names:
        raise InputError(
            f"the platform default profile '{default_profile}' is not in {profiles_dir}",
            hint=f"add {default_profile}.yaml there; the admission policies and node "
            "settings point every pod at it",
        )
    with t.stage("kubelet + SPO objects (CRD schema)"):
        for profile in compiled:
            result.files.update(artifacts.profile_files(profile, kubelet_root, cfg))
    with t.stage("node drop-ins + admission policies (schema, CEL)"):
        result.files.update(
            artifacts.platform_files(default_profile, kubelet_root=kubelet_root, cfg=cfg)
        )
    with t.stage("Pod Security config + guard (schema, CEL)"):
        result.files.update(artifacts.pss_files(cfg))
    with t.stage("node installer DaemonSet (schema)"):
        if cfg.spo:
            _check_spo_path(result.files, default_profile, cfg)
        else:
            result.files.update(artifacts.installer_files(result.files, cfg))
            _check_gate(result.files, default_profile)
    with t.stage("manifest"):
        result.files = artifacts.with_manifest(result.files)
    return result
