"""The part of an image config (OCI image-spec "config.json") that says how to run it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seccompiler.base import jsontext
from seccompiler.base.errors import InputError
from seccompiler.image.errors import located

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ImageConfig:
    """Env, WorkingDir, User, Entrypoint and Cmd of an image, plus its platform."""

    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    architecture: str = ""
    os: str = ""
    diff_ids: tuple[str, ...] = ()

    def command(self, argv: tuple[str, ...] = ()) -> tuple[str, ...]:
        """The command to run: ``argv`` when given (taken as is), else Entrypoint + Cmd."""
        return argv if argv else self.entrypoint + self.cmd

    def environment(self) -> dict[str, str]:
        """Env as a mapping, with Docker's default PATH when the image sets none."""
        out: dict[str, str] = {}
        for item in self.env:
            key, sep, value = item.partition("=")
            if sep and key:
                out[key] = value
        out.setdefault("PATH", DEFAULT_PATH)
        return out


def load_json(data: bytes, where: str, what: str) -> Any:
    """Parse JSON text from an image, refusing anything but valid UTF-8 JSON."""
    try:
        return jsontext.loads(data.decode("utf-8"), what)
    except UnicodeDecodeError as exc:
        raise located(where, "format", f"{what} is not valid JSON: {exc}") from None
    except InputError as exc:
        raise located(where, "format", f"{exc.location}: {exc.message}") from None


def _no_nul(value: str, where: str, key: str) -> str:
    # what reaches the kernel is a C string, which a NUL byte would end early
    if "\0" in value:
        raise located(
            where,
            "config",
            f"'{key}' holds a NUL byte ({value[:80]!r})",
            hint="no program can be given it: fix the image config",
        )
    return value


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise located(where, "config", f"'{key}' must be a list of strings")
    return tuple(_no_nul(v, where, f"{key}[{i}]") for i, v in enumerate(value))


def _string(value: Any, where: str, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise located(where, "config", f"'{key}' must be a string")
    return _no_nul(value, where, key)


def parse_config(data: bytes, where: str) -> ImageConfig:
    """Read an image config blob; unknown fields are ignored, wrong types refused."""
    doc = load_json(data, where, "image config")
    if not isinstance(doc, dict):
        raise located(where, "config", "image config must be a JSON object")
    cfg = doc.get("config")
    cfg = {} if cfg is None else cfg
    if not isinstance(cfg, dict):
        raise located(where, "config", "'config' must be an object")
    rootfs = doc.get("rootfs")
    rootfs = {} if rootfs is None else rootfs
    if not isinstance(rootfs, dict):
        raise located(where, "config", "'rootfs' must be an object")
    return ImageConfig(
        env=_strings(cfg.get("Env"), where, "Env"),
        working_dir=_string(cfg.get("WorkingDir"), where, "WorkingDir"),
        user=_string(cfg.get("User"), where, "User"),
        entrypoint=_strings(cfg.get("Entrypoint"), where, "Entrypoint"),
        cmd=_strings(cfg.get("Cmd"), where, "Cmd"),
        architecture=_string(doc.get("architecture"), where, "architecture"),
        os=_string(doc.get("os"), where, "os"),
        diff_ids=_strings(rootfs.get("diff_ids"), where, "rootfs.diff_ids"),
    )
