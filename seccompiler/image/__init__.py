"""Container images as hostile input: unpack them safely, run programs in them under a profile.

``source`` identifies and opens OCI layouts, docker-save archives and rootfs directories;
``layer`` applies layer tars with whiteouts; ``config`` reads how the image wants to be run;
``testfile`` reads ``tests.yaml``; ``runner`` runs commands in the image under a profile.
"""

from seccompiler.image.config import ImageConfig
from seccompiler.image.errors import ImageError, Limits
from seccompiler.image.layer import LayerReport, apply_layer
from seccompiler.image.source import Image, Prepared, open_image, prepared, unpack

__all__ = [
    "Image",
    "ImageConfig",
    "ImageError",
    "LayerReport",
    "Limits",
    "Prepared",
    "apply_layer",
    "open_image",
    "prepared",
    "unpack",
]
