"""Exact histograms of every element of a tensor, read in chunks.

Counts are never sampled, so a handful of outliers or NaNs in a billion weights is still counted; the
chunked passes are jobs so the GUI can show progress and stop between chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inspector.core.analysis.stats import CHUNK_ELEMENTS, as_real_tensor, split_nonfinite
from inspector.core.jobs import Job, Progress, run_job


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


MAX_BINS = 128


def bins_for(numel: int, max_bins: int = MAX_BINS) -> int:
    """Rice's rule, ``2 n^(1/3)``, between 8 and ``max_bins``: 144 conv weights get 10 bins, not 128 spikes."""
    return int(min(max_bins, max(8, math.ceil(2 * max(numel, 1) ** (1 / 3)))))


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

    flat = as_real_tensor(tensor).reshape(-1)
    n = flat.numel()
    chunks = max(1, math.ceil(n / CHUNK_ELEMENTS))
    offset, total = (chunks, 2 * chunks) if value_range is None else (0, chunks)
    if value_range is None:
        lo, hi = math.inf, -math.inf
        for i in range(chunks):
            part, _, _ = split_nonfinite(flat[i * CHUNK_ELEMENTS : (i + 1) * CHUNK_ELEMENTS])
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
        part, part_nan, part_inf = split_nonfinite(flat[i * CHUNK_ELEMENTS : (i + 1) * CHUNK_ELEMENTS])
        nan, inf = nan + part_nan, inf + part_inf
        part = part.to(torch.float64)  # bins decided in float64, like the edges reported
        counts += torch.histc(part, len(counts), lo, hi).to(torch.float64)  # out of range: not counted
        yield Progress(offset + i + 1, total, "histogram")
    return Histogram(counts.numpy().round().astype(np.int64), edges, nan, inf)


def histogram(tensor, bins: int = 128, value_range: tuple[float, float] | None = None) -> Histogram:
    """:func:`iter_histogram` driven to the end on this thread."""
    return run_job(iter_histogram(tensor, bins, value_range))


def iter_value_summary(tensor, bins: int = 128):
    """Job returning ``(TensorStats, Histogram)``: the stats pass gives the histogram its range (2 passes)."""
    from inspector.core.analysis.stats import iter_tensor_stats

    stats = yield from iter_tensor_stats(tensor)
    hist = yield from iter_histogram(tensor, bins, (stats.min, stats.max))
    return stats, hist
