"""A filter mosaic re-flowed to the shape of the view that shows it.

:func:`inspector.core.render.filter_grid` lays a conv weight out one row per filter, one column per input
channel: conv2 of the demo net (32 filters x 16 channels) is a 32x16 strip, tall and narrow in a wide view,
with tiny tiles. :func:`fit_mosaic` keeps each filter's row of channel tiles together (so "row = filter,
column = input channel" still reads) and sets those rows in side-by-side bands, as many as make the tiles
largest in the view; a grid of one tile per filter (one channel, RGB composite) is re-flowed row by row
the same way. Pixels are moved, never stretched, so tiles stay square. :class:`FittedMosaic` maps a pixel of
the new picture back to the grid's own image (and back again), so hover and click still find the weight
through :meth:`FilterGrid.locate`. Pure numpy; the view hands in its width / height.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from inspector.core.formatting import plural
from inspector.core.render.colormap import BACKGROUND_RGB

if TYPE_CHECKING:
    from inspector.core.render.filter_grids import FilterGrid

BAND_GAP_FACTOR = 3  # bands are set this many paddings apart, so they read as separate blocks
ASPECT_LIMITS = (0.25, 4.0)  # a very wide or tall view still gets a readable grid


def choose_grid(
    units: int, unit_h: int, unit_w: int, gaps: tuple[int, int], margin: int, aspect: float,
    column_major: bool = False,
) -> tuple[int, int]:  # fmt: skip
    """(rows, cols) of ``units`` blocks of ``unit_h`` x ``unit_w`` pixels that draws them largest in a view
    of width / height ``aspect``; ``gaps`` (between rows, between columns) and ``margin`` around.

    No row or column is left empty; among equal fits the one with fewer empty cells, then fewer columns, wins.
    ``column_major`` fills columns first (bands of filters read top to bottom).
    """
    aspect = min(max(aspect, ASPECT_LIMITS[0]), ASPECT_LIMITS[1])
    gap_y, gap_x = gaps
    best, best_key = (units, 1), None
    for cols in range(1, units + 1):
        rows = math.ceil(units / cols)
        if column_major and math.ceil(units / rows) != cols:
            continue  # an empty band
        height = 2 * margin + rows * unit_h + (rows - 1) * gap_y
        width = 2 * margin + cols * unit_w + (cols - 1) * gap_x
        zoom = min(aspect / width, 1.0 / height)  # the view is aspect x 1
        key = (-zoom, rows * cols - units, cols)
        if best_key is None or key < best_key:
            best, best_key = (rows, cols), key
    return best


@dataclass(frozen=True)
class FittedMosaic:
    """The picture of a :class:`FilterGrid` with its units (a filter's row of channel tiles, or one tile)
    re-flowed into ``rows`` x ``cols``; ``sources[k]`` is unit ``k``'s top-left pixel in the grid's image."""

    rgb: np.ndarray  # uint8 (H, W, 3)
    rows: int
    cols: int
    unit_h: int
    unit_w: int
    gap_y: int
    gap_x: int
    margin: int
    column_major: bool
    sources: tuple[tuple[int, int], ...]

    @property
    def units(self) -> int:
        return len(self.sources)

    def unit_origin(self, k: int) -> tuple[int, int]:
        """Top-left pixel of unit ``k`` in this picture."""
        r, c = (k % self.rows, k // self.rows) if self.column_major else divmod(k, self.cols)
        return self.margin + r * (self.unit_h + self.gap_y), self.margin + c * (self.unit_w + self.gap_x)

    def source_pixel(self, row: int, col: int) -> tuple[int, int] | None:
        """The grid-image pixel that pixel ``(row, col)`` of this picture shows; None on gaps and outside."""
        if row < self.margin or col < self.margin:
            return None
        r, oy = divmod(int(row) - self.margin, self.unit_h + self.gap_y)
        c, ox = divmod(int(col) - self.margin, self.unit_w + self.gap_x)
        if oy >= self.unit_h or ox >= self.unit_w or r >= self.rows or c >= self.cols:
            return None
        k = c * self.rows + r if self.column_major else r * self.cols + c
        if k >= self.units:
            return None
        sy, sx = self.sources[k]
        return sy + oy, sx + ox

    def display_pixel(self, row: int, col: int) -> tuple[int, int] | None:
        """Where grid-image pixel ``(row, col)`` is in this picture (None on the grid's padding between units)."""
        for k, (sy, sx) in enumerate(self.sources):
            if sy <= row < sy + self.unit_h and sx <= col < sx + self.unit_w:
                y, x = self.unit_origin(k)
                return y + row - sy, x + col - sx
        return None


def _units(grid: FilterGrid) -> tuple[list[tuple[int, int]], int, int, bool]:
    """(sources, unit_h, unit_w, column_major) of a grid: filter rows in bands, or single tiles."""
    pad = grid.padding
    if grid.layout == "filters x channels":
        width = grid.cols * (grid.tile_w + pad) - pad
        sources = [grid.tile_origin(f, 0) for f in range(grid.filters_shown)]
        return sources, grid.tile_h, width, True
    sources = [grid.tile_origin(*divmod(f, grid.cols)) for f in range(grid.filters_shown)]
    return sources, grid.tile_h, grid.tile_w, False


def fit_mosaic(grid: FilterGrid, aspect: float, rgb: np.ndarray | None = None) -> FittedMosaic:
    """``grid``'s picture (``rgb``, default ``grid.to_rgb()``) re-flowed for a view of width / height ``aspect``."""
    rgb = grid.to_rgb() if rgb is None else rgb
    sources, unit_h, unit_w, column_major = _units(grid)
    pad = grid.padding
    gaps = (pad, BAND_GAP_FACTOR * max(pad, 1)) if column_major else (pad, pad)
    rows, cols = choose_grid(len(sources), unit_h, unit_w, gaps, pad, aspect, column_major)
    height = 2 * pad + rows * unit_h + (rows - 1) * gaps[0]
    width = 2 * pad + cols * unit_w + (cols - 1) * gaps[1]
    fitted = FittedMosaic(
        np.empty((height, width, 3), dtype=np.uint8), rows, cols, unit_h, unit_w, *gaps, pad, column_major,
        tuple(sources),
    )  # fmt: skip
    fitted.rgb[...] = BACKGROUND_RGB
    for k, (sy, sx) in enumerate(sources):
        y, x = fitted.unit_origin(k)
        fitted.rgb[y : y + unit_h, x : x + unit_w] = rgb[sy : sy + unit_h, sx : sx + unit_w]
    return fitted


def describe(grid: FilterGrid, fitted: FittedMosaic) -> str:
    """The layout in words, for the caption: '32 filters x 16 input channels in 2 bands of 16 filters'."""
    if grid.layout == "filters x channels":
        text = f"{plural(grid.filters_shown, 'filter')} x {plural(grid.cols, 'input channel')}"
        if fitted.cols > 1:
            text += f" in {fitted.cols} bands of {plural(fitted.rows, 'filter')}"
        return text + ", row = filter, column = input channel"
    return f"{plural(grid.filters_shown, 'filter')}, {fitted.rows}x{fitted.cols} tiles"
