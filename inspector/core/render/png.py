"""Pictures to image files (PNG, JPEG), with Pillow rather than Qt, so the CLI draws headless.

The format is the one the file's suffix names: a ``.jpg`` holds JPEG bytes, never PNG bytes under a JPEG name.
Suffixes Pillow cannot write from an RGB array in a way worth having (``.svg`` needs vector drawing, ``.gif``
would quantise the colour scale) are refused before any work is done, with the list of those that work.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from inspector.core.errors import InspectorError

IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}  # suffix (lower case) -> Pillow format
JPEG_OPTIONS = {"quality": 95, "subsampling": 0}  # 4:4:4: one-pixel tile borders keep their colour


def upscale(rgb: np.ndarray, min_side: int = 256, max_side: int = 4096) -> np.ndarray:
    """Nearest-neighbour integer upscaling so a small picture (a 10 x 512 heatmap) can be seen in a PNG."""
    h, w = rgb.shape[:2]
    factor = max(1, min(math.ceil(min_side / max(1, min(h, w))), max_side // max(h, w)))
    return rgb if factor == 1 else rgb.repeat(factor, axis=0).repeat(factor, axis=1)


def supported_suffixes() -> str:
    """'.png, .jpg or .jpeg': for help texts and refusals."""
    names = list(IMAGE_FORMATS)
    return f"{', '.join(names[:-1])} or {names[-1]}"


def image_format(path) -> str:
    """The Pillow format ``path``'s suffix names ("PNG", "JPEG"); refuses any other suffix in one sentence."""
    suffix = Path(str(path)).suffix
    fmt = IMAGE_FORMATS.get(suffix.lower())
    if fmt is None:
        named = f"a {suffix} file" if suffix else "a file without a suffix"
        raise InspectorError(
            f"{path}: pictures are written as {supported_suffixes()} files, not as {named}; "
            f"name the output with one of those suffixes"
        )
    return fmt


def save_image(rgb: np.ndarray, path) -> str:
    """Write a uint8 ``(H, W, 3)`` (or ``(H, W)``) array in the format ``path``'s suffix names; return it."""
    fmt = image_format(path)
    _write(rgb, path, fmt)
    return fmt


def save_png(rgb: np.ndarray, path) -> None:
    """Write a uint8 ``(H, W, 3)`` (or ``(H, W)``) array as a PNG with Pillow (no Qt needed), whatever the name."""
    _write(rgb, path, "PNG")


def _write(rgb: np.ndarray, path, fmt: str) -> None:
    from PIL import Image

    array = np.ascontiguousarray(rgb, dtype=np.uint8)
    options = JPEG_OPTIONS if fmt == "JPEG" else {}
    try:
        Image.fromarray(array).save(str(path), format=fmt, **options)
    except OSError as exc:
        raise InspectorError(
            f"{path}: cannot write the {fmt} ({exc.strerror or exc}); choose a writable path"
        ) from None
