"""A conv weight as one mosaic image: every filter a tile, separated by padding that no value maps to.

One image (rather than hundreds of widgets) keeps a 512-filter layer fast to draw and zoom;
:class:`FilterGrid` keeps the layout so a pixel can be traced back to the weight it shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from inspector.core.errors import InspectorError
from inspector.core.render.colormap import BACKGROUND_RGB, NAN_RGB, diverging_rgb
from inspector.core.render.conversion import _finite_absmax, as_numpy32
from inspector.core.render.shapes import suggest_view

MAX_PIXELS = 1 << 23  # a filter mosaic holds at most this many pixels; beyond, the first filters are shown
READABLE_TILE_PX = 48  # PNG tiles: a 7x7 kernel is drawn 7x upscaled (49 px), a 3x3 one 16x
PNG_MAX_SIDE = 4096  # no PNG side beyond this: big convs get smaller tiles rather than a huge file


@dataclass(frozen=True)
class TilePixel:
    """What a pixel of a :class:`FilterGrid` shows: filter, input channel (None in an RGB composite), the
    position in the tile, the full index into the weight and the raw value(s) there (3 in a composite)."""

    filter: int
    channel: int | None
    y: int
    x: int
    index: tuple[int, ...]
    values: tuple[float, ...]


@dataclass
class FilterGrid:
    """A conv weight as one mosaic.

    ``image`` holds each value divided by its scale (so in ``[-1, 1]``; NaN on padding): ``(H, W)``, or
    ``(H, W, 3)`` for an RGB composite of a 3-input-channel weight. Tile ``(r, c)`` starts at pixel
    ``(padding + r * (tile_h + padding), padding + c * (tile_w + padding))``. With ``layout == "filters"``
    tile ``r * cols + c`` is filter ``r * cols + c``; with ``"filters x channels"`` row ``r`` is filter ``r``
    and column ``c`` input channel ``c``. ``scales[f]`` is the value that maps to ±1 in filter ``f``:
    ``max|w[f]|`` (per-filter) or ``max|w|`` for every filter (global).
    """

    image: np.ndarray
    rows: int
    cols: int
    tile_h: int  # pixels, after upscaling
    tile_w: int
    padding: int
    scale: int  # each weight is a scale x scale block of pixels
    layout: str  # "filters" | "filters x channels"
    normalize: str  # "filter" | "global"
    channel: int | None  # the input channel shown; None: all channels, or the RGB composite
    composite: bool
    scales: np.ndarray
    filters_shown: int
    weight_shape: tuple[int, ...]
    note: str = ""
    _weight: np.ndarray = field(default=None, repr=False)  # [out, in, kh, kw'] float32, for locate()

    @property
    def filters_total(self) -> int:
        return self.weight_shape[0]

    @property
    def value_range(self) -> tuple[float, float]:
        vmax = float(self.scales.max()) if self.scales.size else 1.0
        return -vmax, vmax

    def tile_origin(self, row: int, col: int) -> tuple[int, int]:
        """Top-left pixel of tile ``(row, col)``."""
        return self.padding + row * (self.tile_h + self.padding), self.padding + col * (
            self.tile_w + self.padding
        )

    def padding_mask(self) -> np.ndarray:
        """True on the pixels between and around tiles (and on the empty tiles of the last row)."""
        mask = np.ones(self.image.shape[:2], dtype=bool)
        for r in range(self.rows):
            for c in range(self.cols):
                if self.layout == "filters" and r * self.cols + c >= self.filters_shown:
                    continue
                y, x = self.tile_origin(r, c)
                mask[y : y + self.tile_h, x : x + self.tile_w] = False
        return mask

    def to_rgb(self) -> np.ndarray:
        """uint8 ``(H, W, 3)``: the diverging map (a composite: grey = 0), dark padding, NaN magenta."""
        if self.composite:
            rgb = np.rint((np.nan_to_num(self.image, nan=0.0) + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
            rgb[np.isnan(self.image).any(axis=2)] = NAN_RGB
        else:
            rgb = diverging_rgb(self.image, 1.0)
        rgb[self.padding_mask()] = BACKGROUND_RGB
        return rgb

    def locate(self, row: int, col: int) -> TilePixel | None:
        """The weight under pixel ``(row, col)``, or None on padding and outside the image."""
        tr, oy = divmod(int(row) - self.padding, self.tile_h + self.padding)
        tc, ox = divmod(int(col) - self.padding, self.tile_w + self.padding)
        if row < self.padding or col < self.padding or oy >= self.tile_h or ox >= self.tile_w:
            return None
        if not (0 <= tr < self.rows and 0 <= tc < self.cols):
            return None
        if self.layout == "filters":
            f = tr * self.cols + tc
            channels = (0, 1, 2) if self.composite else (self.channel or 0,)
        else:
            f, channels = tr, (tc,)
        if f >= self.filters_shown:
            return None
        y, x = oy // self.scale, ox // self.scale
        values = tuple(float(self._weight[f, c, y, x]) for c in channels)
        channel = None if self.composite else channels[0]
        return TilePixel(f, channel, y, x, self._tensor_index(f, channels[0], y, x), values)

    def _tensor_index(self, f: int, c: int, y: int, x: int) -> tuple[int, ...]:
        ndim = len(self.weight_shape)
        if ndim == 3:
            return f, c, x
        if ndim == 5:
            depth, xx = divmod(x, self.weight_shape[4])
            return f, c, depth, y, xx
        return f, c, y, x


def _kernel_4d(w: np.ndarray, name: str) -> tuple[np.ndarray, str]:
    """``[out, in, kh, kw']`` from a conv1d/2d/3d weight, and a note on how it was folded."""
    if w.ndim == 4:
        return w, ""
    if w.ndim == 3:
        return w[:, :, None, :], ""
    if w.ndim == 5:
        out, cin, d, h, kw = w.shape
        folded = w.transpose(0, 1, 3, 2, 4).reshape(out, cin, h, d * kw)
        return folded, f"conv3d kernel: its {d} depth slices are side by side in each tile"
    raise InspectorError(suggest_view(w.shape, name))


def channel_range(cin: int) -> str:
    """'3 input channels (0-2)', '1 input channel (0)': the words every channel refusal uses."""
    return f"{cin} input channel{'s' if cin != 1 else ''} ({'0' if cin == 1 else f'0-{cin - 1}'})"


def _resolve_mode(cin: int, channel: int | None, composite: bool | str, name: str) -> tuple[bool, int | None]:
    """Each refusal is one sentence with ``name`` as its subject, so a caller only prefixes the file."""
    if channel is not None and not 0 <= channel < cin:
        raise InspectorError(
            f"{name} has {channel_range(cin)}, not {channel}; pick a channel from 0 to {cin - 1}"
        )
    if composite is True and cin != 3:
        raise InspectorError(
            f"{name} has {channel_range(cin)} and an RGB composite needs 3; pick one channel or all of them"
        )
    use_composite = channel is None and cin == 3 and composite in (True, "auto")
    if channel is None and cin == 1:
        channel = 0
    return use_composite, channel


def _grid_shape(n: int, th: int, tw: int) -> tuple[int, int]:
    """Near-square in pixels: ``cols`` tiles across, ``rows`` down."""
    cols = min(n, max(1, math.ceil(math.sqrt(n * th / tw))))
    return math.ceil(n / cols), cols


def _fit_scale(kh, kw, rows, cols, min_tile_px, max_side, max_pixels, pointwise) -> tuple[int, int, int]:
    """(scale, padding, pixels): tiles of ``min_tile_px`` or less, so the image fits ``max_side``/``max_pixels``."""

    def size(s: int) -> tuple[int, int, int]:
        pad = 0 if pointwise else max(1, (max(kh, kw) * s) // 12)
        h, w = rows * (kh * s + pad) + pad, cols * (kw * s + pad) + pad
        return pad, max(h, w), h * w

    scale = max(1, math.ceil(min_tile_px / max(kh, kw)))
    while scale > 1 and ((max_side and size(scale)[1] > max_side) or size(scale)[2] > max_pixels):
        scale -= 1
    pad, _, pixels = size(scale)
    return scale, pad, pixels


def filter_grid(
    weight, normalize: str = "filter", channel: int | None = None, composite: bool | str = "auto",
    *, min_tile_px: int = 1, max_side: int | None = None, max_pixels: int = MAX_PIXELS, name: str = "the weight",
) -> FilterGrid:  # fmt: skip
    """Every filter of a conv weight ``[out, in, kh, kw]`` as a tile of one mosaic (see :class:`FilterGrid`).

    ``channel=None`` shows an RGB composite when ``in == 3`` (unless ``composite=False``), the one channel when
    ``in == 1`` (depthwise), and otherwise every (filter, channel) pair: one row per filter. An int shows that
    input channel of each filter. ``normalize`` is ``"filter"`` (each filter by its own ``max|w|``, over all its
    channels, so switching channels keeps colours comparable) or ``"global"`` (``max|w|`` of the whole weight).
    Tiles are upscaled (nearest-neighbour) to ``min_tile_px`` while the image stays within ``max_side``; the GUI
    draws at scale 1 and zooms, the CLI asks for readable tiles. conv1d (3-D) tiles are one row high; conv3d
    (5-D) tiles hold the depth slices side by side. ``name`` is the subject of refusals ("conv1.weight has 3
    input channels (0-2), not 5; ..."), each one sentence that a caller prefixes with the file.
    """
    if normalize not in ("filter", "global"):
        raise InspectorError(f"unknown normalisation '{normalize}'; use 'filter' or 'global'")
    shape = tuple(np.shape(weight)) if isinstance(weight, np.ndarray) else tuple(weight.shape)
    if len(shape) not in (3, 4, 5) or math.prod(shape) == 0:
        raise InspectorError(suggest_view(shape, name))
    w, note = _kernel_4d(as_numpy32(weight), name)
    out, cin, kh, kw = w.shape
    use_composite, channel = _resolve_mode(cin, channel, composite, name)
    absmax = _finite_absmax(w, axis=(1, 2, 3)) if normalize == "filter" else np.full(out, _finite_absmax(w))
    scales = np.where(absmax > 0, absmax, 1.0).astype(np.float32)
    layout = "filters" if use_composite or channel is not None else "filters x channels"
    shown, rows, cols, scale, pad, limit = _plan(out, cin, kh, kw, layout, min_tile_px, max_side, max_pixels)
    note = "; ".join(filter(None, [note, limit]))
    tiles = _tiles(w[:shown] / scales[:shown, None, None, None], layout, use_composite, channel, rows, cols)
    tiles = tiles.repeat(scale, axis=2).repeat(scale, axis=3)
    image = _mosaic(tiles, pad)
    return FilterGrid(
        image=image, rows=rows, cols=cols, tile_h=kh * scale, tile_w=kw * scale, padding=pad, scale=scale,
        layout=layout, normalize=normalize, channel=None if use_composite else channel,
        composite=use_composite, scales=scales, filters_shown=shown, weight_shape=shape, note=note, _weight=w,
    )  # fmt: skip


def _plan(out, cin, kh, kw, layout, min_tile_px, max_side, max_pixels) -> tuple[int, int, int, int, int, str]:
    """(filters shown, rows, cols, scale, padding, note): the largest picture within the limits."""
    pointwise = (
        layout == "filters x channels" and kh * kw == 1
    )  # a 1x1 conv: its [out, in] matrix, no padding
    shown = out
    while True:
        rows, cols = _grid_shape(shown, kh, kw) if layout == "filters" else (shown, cin)
        scale, pad, pixels = _fit_scale(kh, kw, rows, cols, min_tile_px, max_side, max_pixels, pointwise)
        if pixels <= max_pixels or shown == 1:
            break
        shown = max(1, int(shown * math.sqrt(max_pixels / pixels) * 0.98))
    note = ""
    if shown < out:
        hint = "" if layout == "filters" else "; pick one input channel to see every filter"
        note = f"showing filters 0-{shown - 1} of {out}{hint}"
    return shown, rows, cols, scale, pad, note


def _tiles(
    norm: np.ndarray, layout: str, composite: bool, channel: int | None, rows: int, cols: int
) -> np.ndarray:
    """``[rows, cols, kh, kw, (3)]`` from the normalised ``[shown, in, kh, kw]`` weight."""
    if layout != "filters":
        return norm  # [out, in, kh, kw]: already rows x cols of tiles
    tiles = norm[:, :3].transpose(0, 2, 3, 1) if composite else norm[:, channel]  # [n, kh, kw, (3)]
    blank = np.full((rows * cols - len(tiles), *tiles.shape[1:]), np.nan, dtype=np.float32)
    return np.concatenate([tiles, blank]).reshape(rows, cols, *tiles.shape[1:])


def _mosaic(tiles: np.ndarray, pad: int) -> np.ndarray:
    """``[rows, cols, th, tw, (3)]`` tiles laid out with ``pad`` NaN pixels between and around them."""
    rows, cols, th, tw = tiles.shape[:4]
    extra = tiles.shape[4:]
    image = np.full((rows * (th + pad) + pad, cols * (tw + pad) + pad, *extra), np.nan, dtype=np.float32)
    blocks = image[pad:, pad:].reshape(rows, th + pad, cols, tw + pad, *extra)  # splitting dims: a view
    blocks[:, :th, :, :tw] = np.swapaxes(tiles, 1, 2)
    return image
