"""Tracebacks: inputs that once crashed a command now give a clean, located error.

Each row builds its inputs in a fresh directory and names the exit status the command must
give; the harness tallies any traceback or hang.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from hostilekit import PROFILE, Outcome, oci_layout

LONE = '"\\ud800"'  # a JSON/YAML escape that decodes to half a surrogate pair
HUGE = "9" * 5000  # past Python's int-digit limit
DEEP = "[" * 100_000 + "]" * 100_000  # past the stack of Python's json decoder
NODE_FILE = "node/etc/sysctl.d/x.conf"


def _profile(tmp: Path, names: str = '"read"', value: str = "1") -> Path:
    p = tmp / "p.json"
    p.write_text(
        f'{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{{"names": [{names}], '
        f'"action": "SCMP_ACT_ALLOW", "args": [{{"index": 0, "value": {value}, '
        '"op": "SCMP_CMP_EQ"}]}]}'
    )
    return p


def _pod(tmp: Path, name: str) -> Path:
    p = tmp / "pod.yaml"
    p.write_text(
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\n"
        "spec: {containers: [{name: c, image: x}]}\n"
    )
    return p


def _policy(tmp: Path, text: str = "") -> Path:
    p = tmp / "p.yaml"
    p.write_text(text or PROFILE.read_text())
    return p


def _image_env(tmp: Path) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w"):
        pass
    paths = oci_layout(tmp / "img", gzip.compress(buf.getvalue(), mtime=0))
    cfg = json.loads(paths["config"].read_text())
    cfg["config"]["Env"] = ["X=\\ud800"]
    text = json.dumps(cfg).replace("\\\\ud800", "\\ud800")
    _rewrite_blob(tmp / "img", "config", paths, text.encode())
    return tmp / "img"


def _image_config(tmp: Path, **config: object) -> Path:
    """An image whose config sets ``config`` (Cmd, WorkingDir, Env…) over the defaults."""
    paths = oci_layout(tmp / "img", _empty_gzip_tar())
    doc = json.loads(paths["config"].read_text())
    doc["config"].update(config)
    _rewrite_blob(tmp / "img", "config", paths, json.dumps(doc).encode())
    return tmp / "img"


def _empty_gzip_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w"):
        pass
    return gzip.compress(buf.getvalue(), mtime=0)


def _tests_file(tmp: Path, text: str) -> Path:
    (tmp / "tests.yaml").write_text(text)
    return tmp / "tests.yaml"


def _image_test(image: Path, *rest: str | Path) -> list[str | Path]:
    return ["image", "test", image, "--profile", PROFILE, *rest]


def _rewrite_blob(img: Path, role: str, paths: dict[str, Path], data: bytes) -> None:
    """Replace one blob and fix every digest that names it, as a careful forger would."""
    import hashlib

    old = paths[role]
    new_digest = hashlib.sha256(data).hexdigest()
    (old.parent / new_digest).write_bytes(data)
    manifest = json.loads(paths["manifest"].read_text())
    desc = manifest["config"] if role == "config" else manifest["layers"][0]
    desc["digest"], desc["size"] = f"sha256:{new_digest}", len(data)
    mdata = json.dumps(manifest).encode()
    mdigest = hashlib.sha256(mdata).hexdigest()
    (old.parent / mdigest).write_bytes(mdata)
    index = json.loads(paths["index"].read_text())
    index["manifests"][0]["digest"], index["manifests"][0]["size"] = f"sha256:{mdigest}", len(mdata)
    paths["index"].write_text(json.dumps(index))


def _corrupt_gzip_layer(tmp: Path) -> Path:
    good = gzip.compress(b"\0" * 4096, mtime=0)
    bad = good[:10] + bytes(b ^ 0x5A for b in good[10:-8]) + good[-8:]
    oci_layout(tmp / "img", bad)
    return tmp / "img"


def _loop(tmp: Path) -> Path:
    (tmp / "loop.yaml").symlink_to("loop.yaml")
    return tmp / "loop.yaml"


def _extends_loop(tmp: Path) -> Path:
    (tmp / "base.yaml").symlink_to("base.yaml")
    return _policy(tmp, "seccompiler: 1\nname: x\nextends: base.yaml\n")


def _asm(tmp: Path, text: str) -> Path:
    p = tmp / "f.s"
    p.write_text(text)
    return p


def _file(tmp: Path, name: str) -> Path:
    (tmp / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp / name).write_text("a file\n")
    return tmp / name


Argv = Callable[[Path], list[str | Path]]

# (name, argv builder, exit status)
CASES: list[tuple[str, Argv, int]] = [
    ("surrogate: import", lambda t: ["import", _profile(t, LONE)], 1),
    ("surrogate: stats", lambda t: ["stats", _profile(t, LONE)], 1),
    ("surrogate: verify", lambda t: ["verify", _profile(t, LONE)], 1),
    ("surrogate: lint", lambda t: ["lint", _profile(t, LONE)], 1),
    ("surrogate: pss check yaml", lambda t: ["pss", "check", _pod(t, LONE)], 1),
    ("surrogate: pss check json", lambda t: ["pss", "check", _json_pod(t)], 1),
    (
        "surrogate: policy",
        lambda t: ["compile", _policy(t, f"seccompiler: 1\nname: {LONE}\n"), "-o", t / "o"],
        1,
    ),
    (
        "surrogate: image Env",
        lambda t: ["image", "test", _image_env(t), "--profile", PROFILE, "--", "/bin/true"],
        125,
    ),
    ("NUL: image Cmd", lambda t: _image_test(_image_config(t, Cmd=["a\0b"])), 125),
    ("NUL: image Entrypoint", lambda t: _image_test(_image_config(t, Entrypoint=["\0"])), 125),
    ("NUL: image WorkingDir", lambda t: _image_test(_image_config(t, WorkingDir="/a\0b")), 125),
    ("NUL: image Env PATH", lambda t: _image_test(_image_config(t, Env=["PATH=/bin\0:/x"])), 125),
    ("NUL: image Env name", lambda t: _image_test(_image_config(t, Env=["A\0=1"])), 125),
    ("NUL: image User", lambda t: _image_test(_image_config(t, User="a\0")), 125),
    ("NUL: image test argument", lambda t: _image_test(_image_config(t), "--", "x\0"), 125),
    (
        "NUL: image test --tests",
        lambda t: _image_test(
            _image_config(t), "--tests", _tests_file(t, 'tests: [{command: "a\\x00b"}]\n')
        ),
        125,
    ),
    ("NUL: record argument", lambda t: ["record", "--", "true\0"], 125),
    (
        "NUL: image record argument",
        lambda t: ["image", "record", _image_config(t), "--", "\0"],
        125,
    ),
    ("NUL: run argument", lambda t: ["run", "--profile", PROFILE, "--", "true\0"], 125),
    ("deep json: import", lambda t: ["import", _profile(t, value=DEEP)], 1),
    ("huge int: lint", lambda t: ["lint", _profile(t, value=HUGE)], 1),
    ("huge int: verify", lambda t: ["verify", _profile(t, value=HUGE)], 1),
    (
        "huge int: policy",
        lambda t: [
            "compile",
            _policy(
                t,
                "seccompiler: 1\nname: x\nabis: "
                f"[x86_64]\ndefault: allow\nrules: [{{action: allow, "
                f"syscalls: [read], args: [{{index: 0, op: eq, value: {HUGE}"
                "}]}]\n",
            ),
            "-o",
            t / "o",
        ],
        1,
    ),
    ("symlink loop: policy", lambda t: ["compile", _loop(t), "-o", t / "o"], 2),
    ("symlink loop: extends", lambda t: ["compile", _extends_loop(t), "-o", t / "o"], 1),
    ("bpf asm 'ret #'", lambda t: ["bpf", "asm", _asm(t, "ret #\n")], 1),
    ("bpf asm 'ret #-'", lambda t: ["bpf", "asm", _asm(t, "ret #-\n")], 1),
    ("bpf asm huge k", lambda t: ["bpf", "asm", _asm(t, f"ret #{HUGE}\n")], 1),
    (
        "corrupt gzip layer",
        lambda t: [
            "image",
            "test",
            _corrupt_gzip_layer(t),
            "--profile",
            PROFILE,
            "--",
            "/bin/true",
        ],
        125,
    ),
    (
        "image test --timeout -1",
        lambda t: ["image", "test", t, "--profile", PROFILE, "--timeout", "-1", "--", "true"],
        2,
    ),
    (
        "image test --timeout nan",
        lambda t: ["image", "test", t, "--profile", PROFILE, "--timeout", "nan", "--", "true"],
        2,
    ),
    ("record --timeout inf", lambda t: ["record", "--timeout", "inf", "--", "true"], 2),
    ("compile --abi ''", lambda t: ["compile", PROFILE, "--abi", "", "-o", t / "o"], 2),
    (
        "compile -o with bpf a file",
        lambda t: [_file(t, "o/bpf") and "compile", PROFILE, "-o", t / "o"],
        2,
    ),
    ("compile -o /dev/null", lambda t: ["compile", PROFILE, "-o", "/dev/null"], 2),
    ("pss guard -o with its file a dir", lambda t: [_guard_dir(t), "guard", "-o", t / "g"], 2),
    (
        "bpf asm -o FILE/x.bpf",
        lambda t: ["bpf", "asm", _asm(t, "ret #0\n"), "-o", _file(t, "f") / "x.bpf"],
        2,
    ),
    ("import -o FILE/p.yaml", lambda t: ["import", _profile(t), "-o", _file(t, "f") / "p.yaml"], 2),
    (
        "yama apply --root R, R/etc a file",
        lambda t: [_file(t, "r/etc") and "yama", "apply", "--scope", "1", "--root", t / "r"],
        2,
    ),
    ("build . -o ..", lambda t: [_build_dir(t), ".", "-o", ".."], 2),
    (
        "deep json: node install",
        lambda t: ["node", "install", "--from", _tree(t, DEEP), "--root", t / "r"],
        1,
    ),
    (
        "huge int: node install",
        lambda t: [
            "node",
            "install",
            "--from",
            _tree(t, f'{{"files": {{}}, "x": {HUGE}}}'),
            "--root",
            t / "r",
        ],
        1,
    ),
    (
        "not UTF-8: node install",
        lambda t: [
            "node",
            "install",
            "--from",
            _tree(t, '{"files": {}, "x": "\xff"}', "latin-1"),
            "--root",
            t / "r",
        ],
        1,
    ),
    (
        "deep json: node label",
        lambda t: ["node", "label", "--from", _tree(t, DEEP), "--node", "n"],
        1,
    ),
    (
        "deep json: node install over INSTALLED.json",
        lambda t: ["node", "install", "--from", _installed(t, DEEP), "--root", t / "r"],
        1,
    ),
    (
        "huge int: node install over INSTALLED.json",
        lambda t: [
            "node",
            "install",
            "--from",
            _installed(t, f'{{"paths": [], "digest": {HUGE}}}'),
            "--root",
            t / "r",
        ],
        1,
    ),
    (
        "deep json: build -o over MANIFEST.json",
        lambda t: [_build_dir(t), ".", "-o", _tree(t, DEEP)],
        2,
    ),
]


def _tree(tmp: Path, manifest: str, encoding: str = "utf-8") -> Path:
    """A build tree whose MANIFEST.json is ``manifest``."""
    (tmp / "tree").mkdir(exist_ok=True)
    (tmp / "tree" / "MANIFEST.json").write_bytes(manifest.encode(encoding))
    return tmp / "tree"


def _node_tree(tmp: Path) -> Path:
    """A valid build tree of one node file."""
    import hashlib

    data = b"kernel.yama.ptrace_scope = 1\n"
    digest = hashlib.sha256(data).hexdigest()
    tree = _tree(tmp, json.dumps({"files": {NODE_FILE: {"sha256": digest, "size": len(data)}}}))
    (tree / NODE_FILE).parent.mkdir(parents=True)
    (tree / NODE_FILE).write_bytes(data)
    return tree


def _installed(tmp: Path, record: str) -> Path:
    """A tree installed once under ``tmp/r``, whose record of it (INSTALLED.json) then became
    ``record``; returned with a changed manifest, so that installing it reads the record of
    the earlier release (the record of the same build is rewritten, not read)."""
    from seccompiler.platform import nodeinstall

    tree = _node_tree(tmp)
    (tmp / "r").mkdir()
    nodeinstall.install(tree, tmp / "r")
    (tmp / "r" / nodeinstall.STORE / "current" / nodeinstall.RECORD).write_text(record)
    doc = json.loads((tree / "MANIFEST.json").read_text())
    (tree / "MANIFEST.json").write_text(json.dumps({**doc, "version": "next"}))
    return tree


def _json_pod(tmp: Path) -> Path:
    p = tmp / "pod.json"
    p.write_text(
        f'{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": {LONE}}}, '
        '"spec": {"containers": [{"name": "c", "image": "x"}]}}'
    )
    return p


def _guard_dir(tmp: Path) -> str:
    from seccompiler.commands.pss import GUARD_FILE

    (tmp / "g" / GUARD_FILE).mkdir(parents=True)
    return "pss"


def _build_dir(tmp: Path) -> str:
    (tmp / "src").mkdir()
    _policy(tmp / "src")
    os.chdir(tmp / "src")
    return "build"


@pytest.mark.parametrize(("name", "argv", "code"), CASES, ids=[c[0] for c in CASES])
def test_no_traceback(
    tmp_path: Path, hostile: Callable[..., Outcome], name: str, argv: Argv, code: int
) -> None:
    here = os.getcwd()
    try:
        args = argv(tmp_path)
        cwd = os.getcwd()
    finally:
        os.chdir(here)
    outcome = hostile(args, cwd=cwd)
    assert outcome.clean, outcome
    assert outcome.code == code, outcome
    assert "error" in outcome.err.lower(), outcome


def test_pss_check_stdin_closed(hostile: Callable[..., Outcome]) -> None:
    outcome = hostile(["pss", "check", "-"], stdin="closed")
    assert outcome.clean, outcome
    assert outcome.code == 2, outcome


# what a hostile or broken API server answers to GET /api/v1/nodes/NODE
ANSWERS = {
    "deep": DEEP.encode(),
    "huge int": f'{{"metadata": {{"generation": {HUGE}}}}}'.encode(),
    "not UTF-8": b'{"metadata": {"name": "\xff"}}',
    "lone surrogate": f'{{"metadata": {{"name": {LONE}}}}}'.encode(),
    "too large": b'{"x": "' + b"a" * (5 << 20) + b'"}',
}


@pytest.mark.parametrize("answer", ANSWERS.values(), ids=ANSWERS.keys())
def test_node_label_survives_the_api_servers_answer(
    tmp_path: Path, hostile: Callable[..., Outcome], answer: bytes
) -> None:
    class Api(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = HTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        api = f"http://127.0.0.1:{server.server_address[1]}"
        argv = ["node", "label", "--from", _node_tree(tmp_path), "--node", "n1", "--api", api]
        outcome = hostile(argv)
    finally:
        server.shutdown()
        server.server_close()
    assert outcome.clean, outcome
    assert outcome.code == 1, outcome
    assert f"{api}/api/v1/nodes/n1" in outcome.err, outcome
