"""A 1-D tensor (a bias, a BatchNorm scale) as a bar or line plot with axes, drawn with Pillow (no Qt).

It draws what the GUI's Weights tab draws for a vector (:class:`~inspector.core.render.series.Series`): up to 256
values as bars coloured by the diverging colormap (blue < 0 < red, scaled by max |v|), longer vectors as a line
in the GUI's blue, a dashed zero line, ticks at round numbers. A line has more points than pixel columns, so each
column is drawn from the lowest to the highest value that falls in it: a single outlier still shows.
"""

from __future__ import annotations

import math

import numpy as np

from inspector.core.render.colormap import diverging_rgb
from inspector.core.render.figures import GRID, INK, MUTED, PAPER, TEXT_PX, font, number, text_size
from inspector.core.render.series import Series

LINE_RGB = (33, 102, 172)  # the GUI's line pen
ZERO_RGB = (150, 150, 150)
PLOT_H = 300  # the axes' inner height in pixels
BAR_PX, MIN_PLOT_W, MAX_PLOT_W, LINE_PLOT_W = 14, 480, 1200, 960
AXIS_PAD = 0.02  # of the axis span, between the frame and the outermost tick


def nice_ticks(lo: float, hi: float, count: int = 5) -> np.ndarray:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten apart) covering ``[lo, hi]``, 0 among them if inside."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        lo, hi = (lo - 1, lo + 1) if math.isfinite(lo) else (-1.0, 1.0)
    raw = (hi - lo) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return np.arange(first, last + 1) * step


def _value_range(y: np.ndarray) -> tuple[float, float]:
    finite = y[np.isfinite(y)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    lo, hi = min(lo, 0.0), max(hi, 0.0)  # bars grow from 0, so 0 is always on the axis
    return (lo, hi) if hi > lo else (-1.0, 1.0)


def _plot_width(series: Series) -> int:
    if series.style == "line":
        return LINE_PLOT_W
    return int(min(MAX_PLOT_W, max(MIN_PLOT_W, len(series.y) * BAR_PX)))


def series_picture(series: Series) -> np.ndarray:
    """uint8 ``(H, W, 3)``: the plot with its axes, tick labels and axis names."""
    from PIL import Image, ImageDraw

    y_ticks = nice_ticks(*_value_range(series.y))
    pad = AXIS_PAD * float(y_ticks[-1] - y_ticks[0])  # values on the first or last tick clear the frame
    y_lo, y_hi = float(y_ticks[0]) - pad, float(y_ticks[-1]) + pad
    if series.style == "bar":
        x_lo, x_hi = -0.5, len(series.y) - 0.5
    else:
        last = max(1.0, series.length - 1.0)
        x_lo, x_hi = -AXIS_PAD * last, (1 + AXIS_PAD) * last
    label_w = max(text_size(number(v), TEXT_PX)[0] for v in y_ticks)
    left, top, plot_w, plot_h = label_w + TEXT_PX + 16, TEXT_PX // 2 + 1, _plot_width(series), PLOT_H
    width, height = left + plot_w + TEXT_PX, top + plot_h + 3 * TEXT_PX + 8
    image = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(image)

    def px_y(v: float) -> float:
        return top + (y_hi - v) / (y_hi - y_lo) * plot_h

    def px_x(v: float) -> float:
        return left + (v - x_lo) / (x_hi - x_lo) * plot_w

    for v in y_ticks:
        draw.line([(left, px_y(v)), (left + plot_w, px_y(v))], fill=GRID)
        draw.text((left - 6, px_y(v)), number(v), fill=INK, font=font(TEXT_PX), anchor="rm")
    _draw_dashed(draw, left, left + plot_w, px_y(0.0))
    if series.style == "bar":
        _draw_bars(draw, series, px_x, px_y)
    else:
        _draw_line(draw, series, px_x, px_y)
    draw.rectangle([left, top, left + plot_w, top + plot_h], outline=INK)
    for index in _index_ticks(series):
        x = px_x(index)  # bars: one slot per element (a bar plot is never reduced); lines: element index
        draw.line([(x, top + plot_h), (x, top + plot_h + 4)], fill=INK)
        draw.text((x, top + plot_h + 6), str(int(index)), fill=INK, font=font(TEXT_PX), anchor="mt")
    draw.text((left + plot_w / 2, height - 4), "index", fill=MUTED, font=font(TEXT_PX), anchor="mb")
    _paste_vertical(image, "value", 4, top + plot_h // 2)
    return np.asarray(image).copy()


def _paste_vertical(image, text: str, x: int, centre_y: int) -> None:
    """``text`` turned 90 degrees (reading upwards) with its left edge at ``x``, centred on ``centre_y``."""
    from PIL import Image, ImageDraw

    w, h = text_size(text, TEXT_PX)
    label = Image.new("RGB", (w + 2, h + 2), PAPER)
    ImageDraw.Draw(label).text((1, 1), text, fill=MUTED, font=font(TEXT_PX))
    turned = label.rotate(90, expand=True)
    image.paste(turned, (x, centre_y - turned.height // 2))


def _index_ticks(series: Series) -> list[int]:
    """Round element indices along the x axis, within the first and last element."""
    last = series.length - 1
    ticks = [
        int(t) for t in nice_ticks(0.0, float(max(1, last)), 6) if 0 <= t <= last and float(t).is_integer()
    ]
    return ticks or [0]


def _draw_dashed(draw, x0: float, x1: float, y: float, dash: int = 6) -> None:
    for start in np.arange(x0, x1, 2 * dash):
        draw.line([(start, y), (min(x1, start + dash), y)], fill=ZERO_RGB)


def _draw_bars(draw, series: Series, px_x, px_y) -> None:
    finite = np.isfinite(series.y)
    vmax = float(np.abs(series.y[finite]).max()) if finite.any() else 1.0
    colours = diverging_rgb(series.y, vmax)
    half = 0.4  # bars 0.8 of a slot wide, as in the GUI
    for i, value in enumerate(series.y):
        if not math.isfinite(value):
            continue
        x0, x1 = px_x(i - half), px_x(i + half)
        y0, y1 = sorted((px_y(0.0), px_y(float(value))))
        draw.rectangle(
            [round(x0), round(y0), max(round(x0), round(x1) - 1), round(y1)], fill=tuple(colours[i])
        )


def _draw_line(draw, series: Series, px_x, px_y) -> None:
    """Per pixel column, a vertical stroke from the lowest to the highest value in it, joined column to column."""
    finite = np.isfinite(series.y)
    if not finite.any():
        return
    xs = np.floor(px_x(series.x[finite])).astype(int)
    ys = series.y[finite]
    columns, first = np.unique(xs, return_index=True)
    lows = np.minimum.reduceat(ys, first)
    highs = np.maximum.reduceat(ys, first)
    starts, ends = ys[first], ys[np.r_[first[1:], len(ys)] - 1]  # a column's first and last values
    for i, x in enumerate(columns):
        if i:
            draw.line([(columns[i - 1], px_y(ends[i - 1])), (x, px_y(starts[i]))], fill=LINE_RGB)
        draw.line([(x, px_y(highs[i])), (x, px_y(lows[i]))], fill=LINE_RGB)
