"""The one colormap of every tensor picture: ColorBrewer RdBu, diverging and centred on zero.

Weights are signed and their sign matters more than their offset, so values are always scaled
symmetrically (``±vmax``) and 0 always gets the neutral middle colour. The GUI builds its colour bars from
:data:`DIVERGING_LUT`, so the CLI's PNGs and the window agree to the pixel.
"""

from __future__ import annotations

import math

import numpy as np

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


def pack_rgb(rgb) -> np.uint32:
    """One colour as the uint32 whose bytes are R, G, B, 0 (the layout of :func:`diverging_packed`)."""
    return np.array([*rgb, 0], dtype=np.uint8).view(np.uint32)[0]


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """``uint32`` colours (see :func:`pack_rgb`) as a contiguous ``uint8`` array with a last axis of 3."""
    packed = np.ascontiguousarray(packed, dtype=np.uint32)
    return np.ascontiguousarray(packed.view(np.uint8).reshape(*packed.shape, 4)[..., :3])


def _packed_lut() -> np.ndarray:
    rgbx = np.zeros((LUT_SIZE, 4), dtype=np.uint8)
    rgbx[:, :3] = DIVERGING_LUT
    return rgbx.view(np.uint32).reshape(-1)


_PACKED_LUT = _packed_lut()


def diverging_rgb(values, vmax: float) -> np.ndarray:
    """uint8 RGB of ``values`` (any shape; adds a last axis of 3): ``-vmax`` blue, 0 neutral, ``+vmax`` red.

    Values beyond ``±vmax`` (and infinities) take the end colours; NaN takes :data:`NAN_RGB`. A ``vmax`` that is
    0 or not finite (an all-zero tensor) maps everything finite to the neutral colour.
    """
    return unpack_rgb(diverging_packed(values, vmax))


def diverging_packed(values, vmax: float) -> np.ndarray:
    """:func:`diverging_rgb` as one ``uint32`` per value (see :func:`pack_rgb`): gathering 4-byte scalars with
    ``np.take`` is several times faster than fancy-indexing rows of 3 bytes, and a mosaic lays out 4-byte
    pixels faster than 3-byte ones (the feature maps unpack once, at the end)."""
    v = np.asarray(values, dtype=np.float32)
    vmax = float(vmax) if math.isfinite(vmax) and vmax > 0 else 1.0
    half = (LUT_SIZE - 1) / 2
    scaled = np.multiply(v, np.float32(half / vmax), dtype=np.float32)  # one temporary, then in place
    np.clip(scaled, -half, half, out=scaled)
    scaled += np.float32(half)
    nan = np.isnan(scaled)
    any_nan = bool(nan.any())
    if any_nan:
        scaled[nan] = half
    packed = np.take(_PACKED_LUT, np.rint(scaled, out=scaled).astype(np.uint16))
    if any_nan:
        packed[nan] = pack_rgb(NAN_RGB)
    return packed
