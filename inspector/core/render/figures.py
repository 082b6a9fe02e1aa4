"""A picture as a figure a person can read on its own: a title, the picture and a vertical colour bar.

A bare mosaic PNG says nothing of what it shows or which value a colour stands for. The headless renderer
(the ``filters`` verb) writes figures instead, drawn with Pillow (no Qt): the title names the file, the tensor,
its shape and what is shown (channel, filters); the colour bar uses the GUI's colormap
(:data:`~inspector.core.render.colormap.DIVERGING_LUT`) with its ends and 0 labelled. The picture itself is
pasted unchanged, and :attr:`Figure.picture_box` says where, so tests can compare it to the core arrays.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from inspector.core.render.colormap import DIVERGING_LUT

PAPER = (255, 255, 255)
INK = (25, 25, 25)
MUTED = (100, 100, 100)
GRID = (225, 225, 225)
MARGIN, GAP = 16, 10
TITLE_PX, TEXT_PX = 16, 12  # at scale 1; pictures thousands of pixels wide get larger type (see type_scale)
BAR_W, BAR_MIN_H, BAR_MAX_H = 18, 161, 769  # odd heights: 0 has a row of its own in the middle


@dataclass
class Figure:
    """``rgb``: the whole figure, uint8 ``(H, W, 3)``; ``picture_box``: ``(y, x, h, w)`` of the picture in it;
    ``colour_bar_box``: the same for the colour bar (with its 1 px border), None without one."""

    rgb: np.ndarray
    picture_box: tuple[int, int, int, int]
    colour_bar_box: tuple[int, int, int, int] | None = None

    def picture(self) -> np.ndarray:
        y, x, h, w = self.picture_box
        return self.rgb[y : y + h, x : x + w]


@dataclass(frozen=True)
class ColourScale:
    """What the colour bar shows: ``lo`` at the bottom, 0 in the middle, ``hi`` at the top.

    ``ramp`` is ``"diverging"`` (the colormap of every signed picture) or ``"grey"`` (an RGB composite, where
    each of R, G and B runs from black at ``lo`` through grey at 0 to full at ``hi``).
    """

    lo: float
    hi: float
    ramp: str = "diverging"


@functools.cache
def font(size: int):
    """DejaVu Sans where the system has it (every glyph we print), else Pillow's bundled font."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def type_scale(width: int, height: int) -> int:
    """1 for pictures up to ~1000 px, up to 3 for the 4096 px mosaics, so the text stays readable beside them."""
    return int(min(3, max(1, round(max(width, height) / 1000))))


def number(value: float) -> str:
    """A tick or bar label: 4 significant digits, ASCII minus, a plain 0."""
    return "0" if value == 0 else f"{value:.4g}"


def text_size(text: str, size: int) -> tuple[int, int]:
    left, top, right, bottom = font(size).getbbox(text or " ")
    return int(right), int(bottom)


def colour_ramp(height: int, ramp: str) -> np.ndarray:
    """``(height, 1, 3)`` uint8: the top row is the ``hi`` end, the bottom row ``lo``, the middle row 0."""
    position = np.linspace(1.0, 0.0, height)  # 1 = hi, 0 = lo
    if ramp == "grey":
        grey = np.rint(position * 255).astype(np.uint8)
        return np.repeat(grey[:, None, None], 3, axis=2)
    index = np.rint(position * (len(DIVERGING_LUT) - 1)).astype(int)
    return DIVERGING_LUT[index][:, None, :]


def bar_height(picture_h: int, text_px: int, s: int) -> int:
    """As tall as the picture, within bounds: room for 3 labels (large type: a short, wide heatmap must not get
    a bar many times its height) and no taller than ``BAR_MAX_H``; always odd."""
    low = max(BAR_MIN_H, 6 * text_px)
    return min(max(picture_h, low), BAR_MAX_H * s) | 1


def colour_bar(scale: ColourScale, height: int, s: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """The bar's pixels (with a 1 px ink border) and its labels as ``(row, text)``: hi, 0 and lo."""
    width = BAR_W * s
    bar = np.empty((height, width, 3), dtype=np.uint8)
    bar[:] = INK  # the border; inside, the ramp runs from the hi end (first row) to the lo end (last row)
    bar[1:-1, 1:-1] = colour_ramp(height - 2, scale.ramp)
    labels = [(0, number(scale.hi)), ((height - 1) // 2, "0"), (height - 1, number(scale.lo))]
    return bar, labels


def figure(picture: np.ndarray, title: str, subtitle: str, scale: ColourScale | None) -> Figure:
    """``picture`` (uint8 ``(H, W, 3)``) under a title and a one-line subtitle, with a colour bar on its right."""
    from PIL import Image, ImageDraw

    ph, pw = picture.shape[:2]
    s = type_scale(pw, ph)
    title_px, text_px, margin, gap = TITLE_PX * s, TEXT_PX * s, MARGIN * s, GAP * s
    head_h = text_size(title, title_px)[1] + gap // 2 + text_size(subtitle, text_px)[1]
    bar_h = bar_height(ph, text_px, s)
    bar_block_w, bar_box = 0, None
    if scale is not None:
        bar, labels = colour_bar(scale, bar_h, s)
        label_w = max(text_size(text, text_px)[0] for _, text in labels)
        bar_block_w = gap * 2 + bar.shape[1] + 4 * s + label_w
    body_h = max(ph, bar_h + text_px if scale is not None else 0)
    width = max(pw + bar_block_w, text_size(title, title_px)[0], text_size(subtitle, text_px)[0]) + 2 * margin
    height = margin + head_h + gap + body_h + margin
    canvas = np.full((height, width, 3), PAPER, dtype=np.uint8)
    y0, x0 = margin + head_h + gap, margin
    canvas[y0 : y0 + ph, x0 : x0 + pw] = picture
    if scale is not None:
        bx = x0 + pw + 2 * gap
        by = y0 + text_px // 2  # room for the top label's upper half
        canvas[by : by + bar_h, bx : bx + bar.shape[1]] = bar
        bar_box = (by, bx, bar_h, bar.shape[1])
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    draw.text((margin, margin), title, fill=INK, font=font(title_px))
    draw.text(
        (margin, margin + head_h - text_size(subtitle, text_px)[1]), subtitle, fill=MUTED, font=font(text_px)
    )
    if scale is not None:
        tick_x = bx + bar.shape[1]
        for row, text in labels:
            draw.line([(tick_x, by + row), (tick_x + 3 * s, by + row)], fill=INK, width=s)
            draw.text((tick_x + 4 * s + gap // 2, by + row), text, fill=INK, font=font(text_px), anchor="lm")
    rgb = np.asarray(image).copy()
    rgb[y0 : y0 + ph, x0 : x0 + pw] = picture  # exactly the core's pixels, whatever the text drew nearby
    return Figure(rgb, (y0, x0, ph, pw), bar_box)
