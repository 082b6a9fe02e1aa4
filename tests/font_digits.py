"""A stand-in for the MNIST test split where ``../shared/mnist`` is absent (a clean clone, CI): digits rendered
from Pillow's bundled font, placed as MNIST places them (a 20x20 box centred by mass in 28x28), in torchvision's
raw layout. Nothing is copied from a data set.

The labels start like MNIST's test split (7, 2, 1, 0, 4, 1, 4, 9, 5, 9), so tests that name the first digits
read the same on either root; the demo net calls the rendered 7 a 7. Tests that need MNIST itself (10,000
images, its mean intensity, the demo net's accuracy) use ``real_mnist_root``, which skips instead.
"""

from __future__ import annotations

import pathlib

import numpy as np
import torch
from finetune_fixtures import write_idx
from PIL import Image, ImageDraw, ImageFont

FIRST_TEST_LABELS = (7, 2, 1, 0, 4, 1, 4, 9, 5, 9)


def font_digit(digit: int, angle: float = 0.0) -> np.ndarray:
    """One 28x28 uint8 digit: drawn large, cropped, scaled into 20x20, centred by its centre of mass."""
    canvas = Image.new("L", (96, 96), 0)
    font = ImageFont.load_default(size=64)
    ImageDraw.Draw(canvas).text(
        (48, 48), str(digit), fill=255, font=font, anchor="mm", stroke_width=3, stroke_fill=255
    )
    glyph = canvas.rotate(angle, resample=Image.BILINEAR)
    glyph = glyph.crop(glyph.getbbox())
    scale = 20 / max(glyph.size)
    glyph = glyph.resize(
        (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))), Image.LANCZOS
    )
    pixels = np.asarray(glyph, dtype=np.float64)
    rows, cols = np.indices(pixels.shape)
    top = int(np.clip(round(14 - (rows * pixels).sum() / pixels.sum()), 0, 28 - pixels.shape[0]))
    left = int(np.clip(round(14 - (cols * pixels).sum() / pixels.sum()), 0, 28 - pixels.shape[1]))
    image = np.zeros((28, 28), np.uint8)
    image[top : top + pixels.shape[0], left : left + pixels.shape[1]] = np.clip(pixels, 0, 255).astype(
        np.uint8
    )
    return image


def write_font_digit_split(root: pathlib.Path, n: int = 60) -> pathlib.Path:
    """``root/MNIST/raw/t10k-*-ubyte.gz`` with ``n`` digits, slightly turned so no two are the same image."""
    labels = [FIRST_TEST_LABELS[i] if i < len(FIRST_TEST_LABELS) else i % 10 for i in range(n)]
    images = np.stack([font_digit(label, angle=(i % 5 - 2) * 3.0) for i, label in enumerate(labels)])
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    write_idx(raw / "t10k-images-idx3-ubyte.gz", torch.from_numpy(images))
    write_idx(raw / "t10k-labels-idx1-ubyte.gz", torch.tensor(labels, dtype=torch.uint8))
    return root
