"""Input images from files: PNG, JPEG, BMP (anything Pillow reads), as ``uint8`` arrays.

A grey image is ``[H, W]``, a colour one ``[H, W, 3]``; the model's preprocessing
(:mod:`inspector.core.data.preprocess`) decides channels, size and normalisation from there.
"""

from __future__ import annotations

import os

import numpy as np

from inspector.core.errors import InspectorError

MAX_IMAGE_PIXELS = 50_000_000  # Pillow's own bomb guard, made an error instead of a warning


def read_image(path) -> np.ndarray:
    """The image at ``path`` as ``uint8`` ``[H, W]`` (grey) or ``[H, W, 3]`` (colour)."""
    from PIL import Image, UnidentifiedImageError

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InspectorError(f"{path}: no such image; check the path")
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise InspectorError(f"{path}: {image.width}x{image.height} is too large for an input image")
            grey = image.mode in ("L", "1", "I", "I;16", "F", "LA")
            converted = image.convert("L" if grey else "RGB")
            return np.asarray(converted, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise InspectorError(
            f"{path}: not an image Pillow can read ({exc}); use a PNG, JPEG or BMP file"
        ) from None


def to_grey(image: np.ndarray) -> np.ndarray:
    """``[H, W]`` luminance of a grey or colour ``uint8`` image."""
    if image.ndim == 2:
        return image
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(image[..., :3].astype(np.float32) @ weights, 0, 255).astype(np.uint8)
