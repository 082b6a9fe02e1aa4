"""Pictures of tensors as plain arrays: filter grids, heatmaps, histograms, 1-D series, PNG files.

Every view of the GUI's Weights tab and every PNG of the ``filters`` verb is computed here, without Qt, so the
numbers behind a picture (tile layout, normalisation, colormap centring) are tested as numpy arrays and the
CLI draws exactly what the GUI shows.

Choices that shape what a person sees:

- **One diverging colormap centred on zero** (ColorBrewer RdBu: blue < 0 < red, near-white at 0). Weights are
  signed and their sign matters more than their offset, so scaling is always symmetric (``±max|w|``) and 0 is
  always the neutral middle colour, whatever the range.
- **A conv weight is one mosaic image**, not hundreds of widgets: tiles on a near-square grid (or one row per
  filter and one column per input channel), separated by dark padding that no value maps to.
- **Reduced views keep outliers**: a matrix too large to draw is block-reduced by the signed value of largest
  magnitude in each block (``absmax``), so a single changed or exploding weight stays visible; the reduction
  factor is reported. Statistics and histogram counts always read every element (chunked).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from inspector.core.errors import InspectorError
from inspector.core.jobs import Job, Progress, run_job

CHUNK_ELEMENTS = 1 << 22  # elements read at once by the chunked passes (~16 MB as float32)
MAX_KERNEL = 32  # a 4-D/5-D tensor with larger spatial dims is not drawn as a conv filter grid
MAX_PIXELS = 1 << 23  # a filter mosaic holds at most this many pixels; beyond, the first filters are shown
READABLE_TILE_PX = 48  # PNG tiles: a 7x7 kernel is drawn 7x upscaled (49 px), a 3x3 one 16x
PNG_MAX_SIDE = 4096  # no PNG side beyond this: big convs get smaller tiles rather than a huge file

# ColorBrewer RdBu (11 classes), from -1 (dark blue) through the neutral middle (0) to +1 (dark red).
_RDBU = ("053061", "2166ac", "4393c3", "92c5de", "d1e5f0", "f7f7f7", "fddbc7", "f4a582", "d6604d", "b2182b", "67001f")  # fmt: skip
LUT_SIZE = 257  # odd, so that 0 has an entry of its own: index 128
NEUTRAL_RGB = (0xF7, 0xF7, 0xF7)
BACKGROUND_RGB = (48, 48, 48)  # padding between tiles: darker than any colour of the map
NAN_RGB = (255, 0, 255)  # NaN: a colour no value maps to


def _lut() -> np.ndarray:
    stops = np.array([[int(c[i : i + 2], 16) for i in (0, 2, 4)] for c in _RDBU], dtype=np.float64)
    pos = np.linspace(0.0, 1.0, len(stops))
    x = np.linspace(0.0, 1.0, LUT_SIZE)
    return np.stack([np.interp(x, pos, stops[:, k]) for k in range(3)], axis=1).round().astype(np.uint8)


DIVERGING_LUT = _lut()  # (LUT_SIZE, 3) uint8; the GUI's colour bars use the same table


def diverging_rgb(values, vmax: float) -> np.ndarray:
    """uint8 RGB of ``values`` (any shape; adds a last axis of 3): ``-vmax`` blue, 0 neutral, ``+vmax`` red.

    Values beyond ``±vmax`` (and infinities) take the end colours; NaN takes :data:`NAN_RGB`. A ``vmax`` that is
    0 or not finite (an all-zero tensor) maps everything finite to the neutral colour.
    """
    v = np.asarray(values, dtype=np.float32)
    vmax = float(vmax) if math.isfinite(vmax) and vmax > 0 else 1.0
    nan = np.isnan(v)
    scaled = np.clip(np.where(nan, 0.0, v) / vmax, -1.0, 1.0)
    index = np.rint((scaled + 1.0) * ((LUT_SIZE - 1) / 2)).astype(np.intp)
    rgb = DIVERGING_LUT[index]
    rgb[nan] = NAN_RGB
    return rgb


# -- shapes and views -----------------------------------------------------------------------------------------
def _kernel_dims(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape[2:]) if len(shape) in (4, 5) else ()


def is_conv_weight(shape: tuple[int, ...]) -> bool:
    """A 4-D/5-D tensor whose spatial dims look like a kernel (not 1x1, none above :data:`MAX_KERNEL`)."""
    kernel = _kernel_dims(tuple(shape))
    return bool(kernel) and max(kernel) <= MAX_KERNEL and math.prod(kernel) > 1 and math.prod(shape) > 0


def view_kind(shape: tuple[int, ...]) -> str:
    """Which view shows a tensor of ``shape`` best: ``empty``, ``scalar``, ``bars``, ``heatmap`` or ``filters``.

    Size-1 dims are dropped first (``[1, 77, 768]`` is a matrix, a 1x1 conv ``[out, in, 1, 1]`` is the
    ``[out, in]`` matrix it multiplies by), except in conv kernels (a depthwise ``[64, 1, 3, 3]`` is filters).
    """
    shape = tuple(shape)
    if math.prod(shape) == 0:
        return "empty"
    if is_conv_weight(shape):
        return "filters"
    squeezed = [d for d in shape if d != 1]
    return {0: "scalar", 1: "bars"}.get(len(squeezed), "heatmap")


def matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """The 2-D shape a heatmap draws an N-D tensor as (size-1 dims dropped).

    A small last dim (<= 16: kernel taps, heads) joins the columns, so each row is one leading index
    (a conv1d ``[out, in, k]`` becomes ``[out, in*k]``); otherwise the leading dims join the rows
    (``[heads, seq, dim]`` becomes ``[heads*seq, dim]``).
    """
    dims = [d for d in shape if d != 1] or [1]
    if len(dims) == 1:
        return 1, dims[0]
    if len(dims) == 2:
        return dims[0], dims[1]
    if dims[-1] <= 16:
        return dims[0], math.prod(dims[1:])
    return math.prod(dims[:-1]), dims[-1]


def suggest_view(shape: tuple[int, ...]) -> str:
    """Words for an error message: what the tensor is and which view suits it."""
    kind = view_kind(shape)
    what = f"a {len(shape)}-D tensor {list(shape)}"
    return {
        "empty": f"{what} with no elements; there is nothing to draw",
        "scalar": f"{what} holding one value; 'inspector stats' prints it",
        "bars": f"{what} (bias/BatchNorm-like); view it as a bar plot in the GUI's Weights tab or with 'inspector stats'",
        "heatmap": f"{what}, not a conv weight [out, in, kh, kw]; view it as a heatmap in the GUI's Weights tab",
        "filters": f"{what}, a conv weight",
    }[kind]


# -- conversion ------------------------------------------------------------------------------------------------
def _as_torch(tensor):
    """A detached, dense, real torch tensor on the CPU (quantized dequantized, complex as magnitude)."""
    import torch

    t = (
        tensor
        if isinstance(tensor, torch.Tensor)
        else torch.from_numpy(np.ascontiguousarray(np.asarray(tensor)))
    )
    t = t.detach()
    if t.is_quantized:
        t = t.dequantize()
    if t.layout != torch.strided:
        t = t.to_dense()
    if t.is_complex():
        t = t.abs()
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    return t


def as_numpy32(tensor) -> np.ndarray:
    """``tensor`` as a float32 numpy array (for small tensors: conv kernels, reduced views)."""
    import torch

    return _as_torch(tensor).to(torch.float32).numpy()


def scalar_value(tensor) -> int | float | bool | complex:
    """The first element as a Python number, exactly (an int64 step counter is not rounded to float)."""
    import torch

    t = tensor if isinstance(tensor, torch.Tensor) else torch.as_tensor(np.asarray(tensor))
    t = t.detach()
    if t.is_quantized:
        t = t.dequantize()
    return t.reshape(-1)[0].item()


def _finite_absmax(a: np.ndarray, axis=None) -> np.ndarray:
    mag = np.abs(a)
    return np.where(np.isfinite(mag), mag, 0.0).max(axis=axis, initial=0.0)


# -- filter grids ------------------------------------------------------------------------------------------------
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


def _kernel_4d(w: np.ndarray) -> tuple[np.ndarray, str]:
    """``[out, in, kh, kw']`` from a conv1d/2d/3d weight, and a note on how it was folded."""
    if w.ndim == 4:
        return w, ""
    if w.ndim == 3:
        return w[:, :, None, :], ""
    if w.ndim == 5:
        out, cin, d, h, kw = w.shape
        folded = w.transpose(0, 1, 3, 2, 4).reshape(out, cin, h, d * kw)
        return folded, f"conv3d kernel: its {d} depth slices are side by side in each tile"
    raise InspectorError(suggest_view(w.shape))


def _resolve_mode(cin: int, channel: int | None, composite: bool | str) -> tuple[bool, int | None]:
    if channel is not None and not 0 <= channel < cin:
        raise InspectorError(
            f"input channel {channel} does not exist: the weight has {cin} input channels (0-{cin - 1})"
        )
    if composite is True and cin != 3:
        raise InspectorError(
            f"an RGB composite needs 3 input channels; the weight has {cin}; pick one channel"
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
    *, min_tile_px: int = 1, max_side: int | None = None, max_pixels: int = MAX_PIXELS,
) -> FilterGrid:  # fmt: skip
    """Every filter of a conv weight ``[out, in, kh, kw]`` as a tile of one mosaic (see :class:`FilterGrid`).

    ``channel=None`` shows an RGB composite when ``in == 3`` (unless ``composite=False``), the one channel when
    ``in == 1`` (depthwise), and otherwise every (filter, channel) pair: one row per filter. An int shows that
    input channel of each filter. ``normalize`` is ``"filter"`` (each filter by its own ``max|w|``, over all its
    channels, so switching channels keeps colours comparable) or ``"global"`` (``max|w|`` of the whole weight).
    Tiles are upscaled (nearest-neighbour) to ``min_tile_px`` while the image stays within ``max_side``; the GUI
    draws at scale 1 and zooms, the CLI asks for readable tiles. conv1d (3-D) tiles are one row high; conv3d
    (5-D) tiles hold the depth slices side by side.
    """
    if normalize not in ("filter", "global"):
        raise InspectorError(f"unknown normalisation '{normalize}'; use 'filter' or 'global'")
    shape = tuple(np.shape(weight)) if isinstance(weight, np.ndarray) else tuple(weight.shape)
    if len(shape) not in (3, 4, 5) or math.prod(shape) == 0:
        raise InspectorError(suggest_view(shape))
    w, note = _kernel_4d(as_numpy32(weight))
    out, cin, kh, kw = w.shape
    use_composite, channel = _resolve_mode(cin, channel, composite)
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


# -- heatmaps and 1-D series ------------------------------------------------------------------------------------
REDUCTIONS = ("absmax", "mean", "subsample")
ROBUST_PERCENTILE = 99.9


@dataclass
class Heatmap:
    """A matrix drawn as ``values`` (float32), each pixel standing for a ``factor = (fy, fx)`` block of the
    original ``shape``; ``method`` says how blocks were reduced (``exact`` when nothing was)."""

    values: np.ndarray
    shape: tuple[int, int]
    factor: tuple[int, int]
    method: str
    vmax: float  # max |value| over the finite drawn values
    clip: float = 0.0  # the colour scale is ±clip: a high percentile of |value| (see robust_range)

    def to_rgb(self) -> np.ndarray:
        return diverging_rgb(self.values, self.clip or self.vmax)

    def locate(self, row: int, col: int) -> tuple[slice, slice, float] | None:
        """The original rows/cols behind drawn pixel ``(row, col)`` and the value drawn there."""
        if not (0 <= row < self.values.shape[0] and 0 <= col < self.values.shape[1]):
            return None
        fy, fx = self.factor
        rows = slice(row * fy, min(self.shape[0], (row + 1) * fy))
        cols = slice(col * fx, min(self.shape[1], (col + 1) * fx))
        return rows, cols, float(self.values[row, col])


def _reduce_rows(part, fy: int, fx: int, method: str) -> np.ndarray:
    """Block-reduce a float32 torch ``[k*fy (or fewer), W]`` slab to ``[k, ceil(W/fx)]``."""
    import torch

    h, w = part.shape
    k, ow = math.ceil(h / fy), math.ceil(w / fx)
    if method == "subsample":
        return part[::fy, ::fx].numpy()
    padded = torch.full((k * fy, ow * fx), math.nan, dtype=torch.float32)
    padded[:h, :w] = part
    blocks = padded.reshape(k, fy, ow, fx).permute(0, 2, 1, 3).reshape(k, ow, fy * fx)
    if method == "mean":
        return torch.nanmean(blocks, dim=2).numpy()
    magnitude = torch.nan_to_num(blocks.abs(), nan=-1.0, posinf=math.inf)
    pick = magnitude.argmax(dim=2, keepdim=True)
    return blocks.gather(2, pick).squeeze(2).numpy()


def iter_heatmap(matrix, max_side: int = 1024, reduce: str = "absmax") -> Job[Heatmap]:
    """Job form of :func:`heatmap_array`: yields progress per slab of rows."""
    import torch

    if reduce not in REDUCTIONS:
        raise InspectorError(f"unknown reduction '{reduce}'; use one of {', '.join(REDUCTIONS)}")
    t = _as_torch(matrix)
    if t.ndim != 2:
        raise InspectorError(
            f"a heatmap needs a 2-D tensor, not {t.ndim}-D {list(t.shape)}; reshape it first"
        )
    h, w = t.shape
    fy, fx = max(1, math.ceil(h / max_side)), max(1, math.ceil(w / max_side))
    out = np.empty((math.ceil(h / fy), math.ceil(w / fx)), dtype=np.float32)
    blocks_per_slab = max(1, CHUNK_ELEMENTS // max(1, fy * w))
    slabs = math.ceil(out.shape[0] / blocks_per_slab)
    for i in range(slabs):
        b0, b1 = i * blocks_per_slab, min(out.shape[0], (i + 1) * blocks_per_slab)
        part = t[b0 * fy : min(h, b1 * fy)].to(torch.float32)
        out[b0:b1] = part.numpy() if fy == fx == 1 else _reduce_rows(part, fy, fx, reduce)
        yield Progress(i + 1, slabs, "drawing heatmap")
    method = "exact" if fy == fx == 1 else reduce
    return Heatmap(out, (h, w), (fy, fx), method, float(_finite_absmax(out)), robust_range(out))


def robust_range(values: np.ndarray, percentile: float = ROBUST_PERCENTILE) -> float:
    """The colour-scale limit of a heatmap: the ``percentile`` of |finite values| (their max when that is 0).

    With ``max|v|`` one exploded weight would turn a whole matrix neutral; with a high percentile the outlier
    still shows, saturated at the end colour, and the structure of everything else stays visible.
    """
    mag = np.abs(values[np.isfinite(values)])
    if not mag.size:
        return 0.0
    limit = float(np.percentile(mag, percentile))
    return limit if limit > 0 else float(mag.max())


def heatmap_array(matrix, max_side: int = 1024, reduce: str = "absmax") -> Heatmap:
    """A 2-D tensor as at most ``max_side`` x ``max_side`` values to draw (block-reduced when larger).

    Reading is chunked by rows, so a matrix of any size needs ~:data:`CHUNK_ELEMENTS` floats of memory.
    ``reduce``: ``absmax`` (default: the signed value of largest magnitude, so outliers survive), ``mean`` or
    ``subsample`` (every fy-th row and fx-th column: fastest, may miss outliers).
    """
    return run_job(iter_heatmap(matrix, max_side, reduce))


@dataclass
class Series:
    """A 1-D tensor for a bar or line plot: ``y[i]`` stands for elements ``x[i] .. x[i] + factor - 1``."""

    x: np.ndarray
    y: np.ndarray
    length: int
    factor: int
    method: str

    @property
    def style(self) -> str:
        """Bars while each can be seen, a line beyond."""
        return "bar" if len(self.y) <= 256 else "line"


def series_1d(tensor, max_points: int = 4096, reduce: str = "absmax") -> Series:
    """Values of a 1-D tensor (any tensor, flattened) for plotting, block-reduced beyond ``max_points``."""
    flat = _as_torch(tensor).reshape(1, -1)
    heat = heatmap_array(flat, max_side=max_points, reduce=reduce)
    factor = heat.factor[1]
    y = heat.values[0]
    return Series(np.arange(len(y), dtype=np.float64) * factor, y, flat.shape[1], factor, heat.method)


# -- histograms ------------------------------------------------------------------------------------------------
@dataclass
class Histogram:
    """Exact counts of the finite values in ``bins`` (``edges[i] <= v < edges[i+1]``, last bin closed)."""

    counts: np.ndarray  # int64 (bins,)
    edges: np.ndarray  # float64 (bins + 1,)
    nan: int = 0
    inf: int = 0

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def _edges(lo: float, hi: float, bins: int, integer: bool) -> np.ndarray:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return np.array([-0.5, 0.5])  # no finite value: one empty bin
    if integer and hi - lo + 1 <= bins:
        return np.arange(lo - 0.5, hi + 1.0)  # one bin per integer value
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1)


def iter_histogram(tensor, bins: int = 128, value_range: tuple[float, float] | None = None) -> Job[Histogram]:
    """Counts over every finite element, chunked (a first pass finds the range unless it is given)."""
    import torch

    flat = _as_torch(tensor).reshape(-1)
    n = flat.numel()
    chunks = max(1, math.ceil(n / CHUNK_ELEMENTS))
    offset, total = (chunks, 2 * chunks) if value_range is None else (0, chunks)
    if value_range is None:
        lo, hi = math.inf, -math.inf
        for i in range(chunks):
            part = flat[i * CHUNK_ELEMENTS : (i + 1) * CHUNK_ELEMENTS]
            finite = torch.isfinite(part)
            part = part if bool(finite.all()) else part[finite]
            if part.numel():
                low, high = torch.aminmax(part)
                lo, hi = min(lo, float(low)), max(hi, float(high))
            yield Progress(i + 1, total, "histogram range")
        value_range = (lo, hi)
    integer = not (flat.dtype.is_floating_point or flat.dtype.is_complex)
    edges = _edges(*value_range, bins, integer)
    lo, hi = float(edges[0]), float(edges[-1])
    counts = torch.zeros(len(edges) - 1, dtype=torch.float64)
    nan = inf = 0
    for i in range(chunks):
        part = flat[i * CHUNK_ELEMENTS : (i + 1) * CHUNK_ELEMENTS]
        part = part.to(torch.float64)  # bins decided in float64, like the edges reported
        nan += int(torch.isnan(part).sum())
        inf += int(torch.isinf(part).sum())
        counts += torch.histc(part, len(counts), lo, hi).to(torch.float64)  # skips NaN, ±inf, out of range
        yield Progress(offset + i + 1, total, "histogram")
    return Histogram(counts.numpy().round().astype(np.int64), edges, nan, inf)


def histogram(tensor, bins: int = 128, value_range: tuple[float, float] | None = None) -> Histogram:
    """:func:`iter_histogram` driven to the end on this thread."""
    return run_job(iter_histogram(tensor, bins, value_range))


def iter_value_summary(tensor, bins: int = 128):
    """Job returning ``(TensorStats, Histogram)``: the stats pass gives the histogram its range (2 passes)."""
    from inspector.core.stats import iter_tensor_stats

    stats = yield from iter_tensor_stats(tensor)
    hist = yield from iter_histogram(tensor, bins, (stats.min, stats.max))
    return stats, hist


# -- files -----------------------------------------------------------------------------------------------------
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
