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

Each module has one job: ``colormap`` (the colours), ``shapes`` (which view suits a shape), ``conversion``
(any tensor to plain values), ``filter_grids``, ``heatmaps``, ``series``, ``histograms``, ``png`` (image files), ``figures`` (title and colour bar),
``plots`` (1-D bar and line plots) and ``tensor_figures`` (the ``filters`` verb's titled pictures). Everything is re-exported here, so callers write ``from inspector.core import render`` and
``render.filter_grid(...)`` whatever module a name lives in.

:data:`CHUNK_ELEMENTS` is imported by ``heatmaps`` and ``histograms``, each under its own name; a test that
shrinks it patches the module that reads it (``render.heatmaps``, ``render.histograms``), not this package.
"""

from __future__ import annotations

from inspector.core.analysis.stats import CHUNK_ELEMENTS
from inspector.core.jobs import Job, Progress, run_job
from inspector.core.render.colormap import (
    BACKGROUND_RGB,
    DIVERGING_LUT,
    LUT_SIZE,
    NAN_RGB,
    NEUTRAL_RGB,
    diverging_rgb,
)
from inspector.core.render.conversion import as_numpy32, scalar_value
from inspector.core.render.figures import ColourScale, Figure, figure
from inspector.core.render.filter_grids import (
    MAX_PIXELS,
    PNG_MAX_SIDE,
    READABLE_TILE_PX,
    FilterGrid,
    TilePixel,
    channel_range,
    filter_grid,
)
from inspector.core.render.heatmaps import (
    REDUCTIONS,
    ROBUST_PERCENTILE,
    Heatmap,
    heatmap_array,
    iter_heatmap,
    robust_range,
)
from inspector.core.render.histograms import (
    MAX_BINS,
    Histogram,
    bins_for,
    histogram,
    iter_histogram,
    iter_value_summary,
)
from inspector.core.render.plots import nice_ticks, series_picture
from inspector.core.render.png import (
    IMAGE_FORMATS,
    image_format,
    save_image,
    save_png,
    supported_suffixes,
    upscale,
)
from inspector.core.render.series import Series, series_1d
from inspector.core.render.shapes import MAX_KERNEL, is_conv_weight, matrix_shape, suggest_view, view_kind
from inspector.core.render.tensor_figures import grid_figure, heatmap_figure, series_figure, tensor_title

__all__ = [
    "tensor_title",
    "series_figure",
    "heatmap_figure",
    "grid_figure",
    "series_picture",
    "nice_ticks",
    "figure",
    "Figure",
    "ColourScale",
    "BACKGROUND_RGB",
    "CHUNK_ELEMENTS",
    "DIVERGING_LUT",
    "LUT_SIZE",
    "MAX_KERNEL",
    "MAX_PIXELS",
    "NAN_RGB",
    "NEUTRAL_RGB",
    "PNG_MAX_SIDE",
    "READABLE_TILE_PX",
    "REDUCTIONS",
    "ROBUST_PERCENTILE",
    "FilterGrid",
    "Heatmap",
    "Histogram",
    "IMAGE_FORMATS",
    "MAX_BINS",
    "bins_for",
    "Job",
    "Progress",
    "Series",
    "TilePixel",
    "as_numpy32",
    "channel_range",
    "diverging_rgb",
    "filter_grid",
    "heatmap_array",
    "histogram",
    "image_format",
    "is_conv_weight",
    "iter_heatmap",
    "iter_histogram",
    "iter_value_summary",
    "matrix_shape",
    "robust_range",
    "run_job",
    "save_image",
    "save_png",
    "scalar_value",
    "series_1d",
    "suggest_view",
    "supported_suffixes",
    "upscale",
    "view_kind",
]
