"""Errors and limits of the image reader: every refusal names the archive, the entry and why."""

from __future__ import annotations

from dataclasses import dataclass

from seccompiler.base.errors import InputError, Location


@dataclass(eq=False)
class ImageError(InputError):
    """An image, archive or layer was refused; ``code`` names the kind, ``member`` the entry.

    Codes: ``absolute-path``, ``path-traversal``, ``symlink-escape``, ``hardlink-escape``,
    ``symlink-parent``, ``entry-type``, ``too-large``, ``too-many``, ``name-too-long``,
    ``truncated``, ``corrupt``, ``digest-mismatch``, ``size-mismatch``, ``bad-digest``,
    ``missing-blob``, ``format``, ``media-type``, ``config``, ``platform``, ``io``.
    """

    code: str = "image"
    member: str = ""


def located(where: str, code: str, message: str, *, member: str = "", hint: str = "") -> ImageError:
    """An ``ImageError`` located at ``where`` (``archive[layer]``) about entry ``member``."""
    text = f"entry '{member}': {message}" if member else message
    return ImageError(text, hint=hint, location=Location(where), code=code, member=member)


@dataclass(frozen=True)
class Limits:
    """Bounds on what an image may ask of us; generous for real images, small for bombs."""

    max_entries: int = 1_000_000  # tar entries over all layers
    max_total_bytes: int = 16 << 30  # file content written over all layers
    max_file_bytes: int = 8 << 30  # one file
    max_path_bytes: int = 4096  # PATH_MAX
    max_name_bytes: int = 255  # NAME_MAX
    max_depth: int = 128  # directory levels
    max_layers: int = 256
    max_meta_bytes: int = 4 << 20  # index, manifest and config JSON
    max_outer_entries: int = 100_000  # members of an OCI or docker-save tar


@dataclass
class Budget:
    """What the layers applied so far have spent of ``Limits``."""

    entries: int = 0
    bytes: int = 0
