"""A matrix of any size as at most ``max_side`` x ``max_side`` values to draw.

Too large a matrix is block-reduced, by default to the signed value of largest magnitude in each block
(``absmax``), so a single changed or exploding weight stays visible; rows are read in chunks so memory stays
bounded whatever the size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inspector.core.analysis.stats import CHUNK_ELEMENTS, as_real_tensor
from inspector.core.errors import InspectorError
from inspector.core.jobs import Job, Progress, run_job
from inspector.core.render.colormap import diverging_rgb
from inspector.core.render.conversion import _finite_absmax

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
    t = as_real_tensor(matrix)
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
