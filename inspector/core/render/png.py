"""Pictures to PNG files, with Pillow rather than Qt, so the CLI draws headless."""

from __future__ import annotations

import math

import numpy as np

from inspector.core.errors import InspectorError


def upscale(rgb: np.ndarray, min_side: int = 256, max_side: int = 4096) -> np.ndarray:
    """Nearest-neighbour integer upscaling so a small picture (a 10 x 512 heatmap) can be seen in a PNG."""
    h, w = rgb.shape[:2]
    factor = max(1, min(math.ceil(min_side / max(1, min(h, w))), max_side // max(h, w)))
    return rgb if factor == 1 else rgb.repeat(factor, axis=0).repeat(factor, axis=1)


def save_png(rgb: np.ndarray, path) -> None:
    """Write a uint8 ``(H, W, 3)`` (or ``(H, W)``) array as a PNG with Pillow (no Qt needed)."""
    from PIL import Image

    array = np.ascontiguousarray(rgb, dtype=np.uint8)
    try:
        Image.fromarray(array).save(str(path), format="PNG")
    except OSError as exc:
        raise InspectorError(
            f"{path}: cannot write the PNG ({exc.strerror or exc}); choose a writable path"
        ) from None
