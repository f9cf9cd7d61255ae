"""The package's layers: every import points down the pipeline, never back up.

Layers, lowest first (docs/architecture.md): a module may import its own layer and any
layer below it. Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "seccompiler"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "__version__", "base", "_native"),
    ("arch",),
    ("program",),
    ("bpf",),
    ("frontend",),
    ("backends",),
    ("prove",),
    ("compile",),
    ("runner",),
    ("image",),
    ("platform",),
    ("commands", "__main__"),
)


def _layer_of(module: str) -> int:
    """Index in LAYERS of a dotted module name below ``seccompiler``."""
    parts = module.split(".")
    assert parts[0] == "seccompiler", module
    head = parts[1] if len(parts) > 1 else "__init__"
    for index, names in enumerate(LAYERS):
        if head in names:
            return index
    raise AssertionError(f"seccompiler.{head} belongs to no layer: add it to LAYERS")


def _module_name(path: Path, pkg: Path) -> str:
    rel = path.relative_to(pkg.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, pkg: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every seccompiler import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module_name(path, pkg)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module == "seccompiler":
                found += [(node.lineno, f"seccompiler.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, module))
    return [(line, mod) for line, mod in found if mod.split(".")[0] == "seccompiler"]


def upward_imports(pkg: Path = PKG) -> list[str]:
    """Every import that runs from a lower layer to a higher one, as ``file:line → module``."""
    bad = []
    for path in sorted(pkg.rglob("*.py")):
        source = _module_name(path, pkg)
        for line, target in _imports(path, pkg):
            if _layer_of(target) > _layer_of(source):
                bad.append(f"{path.relative_to(pkg.parent)}:{line} → {target}")
    return bad


def test_no_import_runs_back_up_the_layers() -> None:
    assert upward_imports() == []


def test_every_top_level_module_has_a_layer() -> None:
    for path in PKG.iterdir():
        if path.name.startswith(".") or path.name == "__pycache__":
            continue
        if path.is_dir() and not (path / "__init__.py").exists():
            continue  # data folders
        name = path.name.split(".")[0]
        _layer_of(f"seccompiler.{name}")


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    fake = tmp_path / "seccompiler"
    (fake / "bpf").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "bpf" / "__init__.py").write_text("")
    (fake / "bpf" / "bad.py").write_text("from seccompiler.frontend import policy\n")
    (fake / "bpf" / "lazy.py").write_text("def f():\n    from seccompiler import compile\n")
    (fake / "bpf" / "good.py").write_text("from seccompiler.arch import abi\nfrom . import bad\n")
    assert upward_imports(fake) == [
        "seccompiler/bpf/bad.py:1 → seccompiler.frontend",
        "seccompiler/bpf/lazy.py:2 → seccompiler.compile",
    ]


DOC = PKG.parent / "docs" / "architecture.md"


def test_the_documented_layer_order_is_the_enforced_one() -> None:
    text = DOC.read_text()
    shown = text.split("<!-- layers -->")[1].split("<!-- /layers -->")[0].strip()
    names = [next(n for n in layer if not n.startswith("_")) for layer in LAYERS]
    assert shown == " < ".join(names)


def test_the_map_names_every_module_and_no_other() -> None:
    listed = set(re.findall(r"^- `([\w/]+\.py)` — ", DOC.read_text(), re.M))
    modules = {
        str(p.relative_to(PKG))
        for p in PKG.rglob("*.py")
        if not (p.name == "__init__.py" and not p.read_text().strip())
    }
    assert sorted(modules - listed) == [] and sorted(listed - modules) == []
