"""A layer's output as a picture: channels as one mosaic of tiles, or a vector as bars.

One image for all channels keeps a 512-channel layer fast to draw and to update in place when the input changes;
:class:`FeatureMosaic` keeps the layout so a pixel can be traced back to its channel and value. Colours are the
app's one diverging map centred on zero (post-ReLU maps use its warm half), shared by all channels or per channel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inspector.core.render.colormap import (
    BACKGROUND_RGB,
    NEUTRAL_RGB,
    diverging_packed,
    diverging_rgb,
    pack_rgb,
    unpack_rgb,
)

PAD = 1
NORMALIZATIONS = ("shared", "channel")


@dataclass
class FeatureMosaic:
    """``values`` is the mosaic (NaN in the padding); ``scales`` the value each channel's colour scale ends at;
    ``tiles`` the ``[C, H, W]`` array the mosaic was laid out from (so colours are computed per tile, at once)."""

    values: np.ndarray
    channels: int
    rows: int
    cols: int
    tile_h: int
    tile_w: int
    normalize: str
    scales: np.ndarray  # (channels,) the |value| at the end of each channel's colour scale
    tiles: np.ndarray | None = None

    def tile_origin(self, channel: int) -> tuple[int, int]:
        row, col = divmod(channel, self.cols)
        return row * (self.tile_h + PAD), col * (self.tile_w + PAD)

    def channel_at(self, y: int, x: int) -> tuple[int, int, int] | None:
        """(channel, y, x inside the tile) under mosaic pixel (y, x), or None in the padding."""
        row, ty = divmod(int(y), self.tile_h + PAD)
        col, tx = divmod(int(x), self.tile_w + PAD)
        channel = row * self.cols + col
        if (
            y < 0
            or x < 0
            or ty >= self.tile_h
            or tx >= self.tile_w
            or col >= self.cols
            or channel >= self.channels
        ):
            return None
        return channel, ty, tx

    def _tiles(self) -> np.ndarray:
        if self.tiles is not None:
            return self.tiles
        out = np.empty((self.channels, self.tile_h, self.tile_w), dtype=np.float32)
        for c in range(self.channels):
            y, x = self.tile_origin(c)
            out[c] = self.values[y : y + self.tile_h, x : x + self.tile_w]
        return out

    def _normalized_tiles(self) -> np.ndarray:
        safe = np.where(self.scales > 0, self.scales, 1.0).astype(np.float32)
        return self._tiles() / safe[:, None, None]

    def normalized(self) -> np.ndarray:
        """The mosaic with each tile divided by its scale: values in [-1, 1], NaN padding kept."""
        return _tile(self._normalized_tiles(), self.rows, self.cols, np.nan)

    def rgb(self) -> np.ndarray:
        """Colours computed on the tiles (one LUT pass over every value), then laid out with dark padding."""
        colours = diverging_packed(self._normalized_tiles(), 1.0)
        return unpack_rgb(_tile(colours, self.rows, self.cols, pack_rgb(BACKGROUND_RGB)))


def _tile(tiles: np.ndarray, rows: int, cols: int, fill) -> np.ndarray:
    """``[C, H, W, ...]`` tiles as one ``[rows*(H+PAD)-PAD, cols*(W+PAD)-PAD, ...]`` mosaic, row by row,
    ``fill`` in the padding and the empty cells: two strided copies, no loop over channels."""
    channels, th, tw = tiles.shape[:3]
    rest = tiles.shape[3:]
    cells = np.empty((rows * cols, th + PAD, tw + PAD, *rest), dtype=tiles.dtype)
    cells[...] = fill
    cells[:channels, :th, :tw] = tiles
    grid = cells.reshape(rows, cols, th + PAD, tw + PAD, *rest).swapaxes(1, 2)
    out = grid.reshape(rows * (th + PAD), cols * (tw + PAD), *rest)
    return out[: rows * (th + PAD) - PAD, : cols * (tw + PAD) - PAD]


def _layout(channels: int, tile_h: int, tile_w: int, aspect: float) -> tuple[int, int]:
    """Rows and columns whose mosaic is closest to ``aspect`` (width / height)."""
    best = (channels, 1)
    best_err = math.inf
    for cols in range(1, channels + 1):
        rows = math.ceil(channels / cols)
        if (rows - 1) * cols >= channels:
            continue
        ratio = (cols * (tile_w + PAD)) / (rows * (tile_h + PAD))
        err = abs(math.log(ratio / aspect))
        if err < best_err:
            best, best_err = (rows, cols), err
    return best


def _as_tiles(output) -> np.ndarray:
    """A layer's output for one input as ``[C, H, W]`` float32 tiles."""
    a = np.asarray(output.float().cpu().numpy() if hasattr(output, "float") else output, dtype=np.float32)
    if a.ndim == 2:
        a = a[None] if a.shape[0] > 64 or a.shape[1] > 64 else a[:, None, :]
    if a.ndim > 3:  # 3-D convs: depth slices side by side
        a = a.reshape(a.shape[0], -1, a.shape[-1])
    return a


def channel_scales(tiles: np.ndarray) -> np.ndarray:
    """Each channel's max |value|, NaN and Inf ignored (0 for an all-zero or empty channel)."""
    channels = tiles.shape[0]
    flat = tiles.reshape(channels, -1)
    if not tiles.size:
        return np.zeros(channels, dtype=np.float32)
    finite = np.isfinite(flat)
    return np.abs(flat).max(axis=1) if finite.all() else np.where(finite, np.abs(flat), 0).max(axis=1)


def feature_mosaic(
    output, normalize: str = "shared", aspect: float = 4 / 3, scale_from=None
) -> FeatureMosaic:
    """``output`` ``[C, H, W]`` (a conv layer's output for one input), ``[H, W]`` or ``[C, L]``.

    ``scale_from``: another output of the same layer (the run before channels were zeroed) whose colour scale
    is used, so that the two pictures can be compared colour for colour; else the output's own."""
    a = _as_tiles(output)
    channels, th, tw = a.shape
    rows, cols = _layout(channels, th, tw, aspect)
    reference = _as_tiles(scale_from) if scale_from is not None else None
    per_channel = channel_scales(reference if reference is not None and reference.shape == a.shape else a)
    shared = float(per_channel.max()) if channels else 0.0
    scales = per_channel if normalize == "channel" else np.full(channels, shared, dtype=np.float32)
    mosaic = _tile(a, rows, cols, np.nan)
    return FeatureMosaic(mosaic, channels, rows, cols, th, tw, normalize, scales.astype(np.float32), a)


def bars_rgb(values, width: int = 640, height: int = 200) -> np.ndarray:
    """A vector (a Linear layer's output) as a bar chart image: up from a zero line, one colour per sign."""
    v = np.asarray(values, dtype=np.float32).reshape(-1)
    v = np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
    n = max(len(v), 1)
    bar = max(1, width // n)
    width = bar * n
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rgb[:] = NEUTRAL_RGB
    vmax = float(np.abs(v).max()) or 1.0
    lo, hi = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
    span = (hi - lo) or 1.0
    zero = int(round((hi / span) * (height - 1)))
    colours = diverging_rgb(v, vmax)
    for i, value in enumerate(v):
        top = int(round((hi - max(value, 0.0)) / span * (height - 1)))
        bottom = int(round((hi - min(value, 0.0)) / span * (height - 1)))
        rgb[top : bottom + 1, i * bar : (i + 1) * bar - (1 if bar > 2 else 0)] = colours[i]
    rgb[zero, :] = (90, 90, 90)
    return rgb
