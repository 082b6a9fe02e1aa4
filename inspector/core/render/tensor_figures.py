"""Figures of a tensor's pictures for files: the filter mosaic, the heatmap and the 1-D plot, titled.

The title names the file, the tensor and its shape; the line under it says what is shown (which channel, how
many filters, how values were scaled or reduced), in the words of the GUI's Weights tab, so that a PNG passed
around on its own still says what it is. The colour bar spans the scale the colours were computed with (an RGB composite has none: see
:func:`grid_figure`).
"""

from __future__ import annotations

import numpy as np

from inspector.core.formatting import plural
from inspector.core.render.figures import ColourScale, Figure, figure
from inspector.core.render.filter_grids import FilterGrid
from inspector.core.render.heatmaps import ROBUST_PERCENTILE, Heatmap
from inspector.core.render.plots import series_picture
from inspector.core.render.png import upscale
from inspector.core.render.series import Series

SEP = " · "


def tensor_title(source: str, name: str, shape, values_note: str = "") -> str:
    """'resnet18.pth · conv1.weight [64, 3, 7, 7]'; '... · dequantized' when ``values_note`` says the values
    are not the stored ones (a quantized weight: ``packed_params.dequantized_note``)."""
    title = f"{source}{SEP}{name} {list(shape)}"
    return f"{title}{SEP}dequantized" if values_note else title


def _subtitle(values_note: str, description: str) -> str:
    """The values note (scale and zero point of a quantized weight) first: it changes what every number means."""
    return SEP.join(filter(None, [values_note, description]))


def grid_description(grid: FilterGrid) -> str:
    """Which filters and channels the mosaic shows, and how each was scaled."""
    total = grid.filters_total
    if grid.filters_shown == total:
        filters = plural(total, "filter")
    elif grid.filters_shown == 1:
        filters = f"filter 0 of {total}"
    else:
        filters = f"filters 0-{grid.filters_shown - 1} of {total}"
    cin = grid.weight_shape[1]
    if grid.composite:
        what = "RGB = input channels 0, 1, 2 (grey = 0)"
    elif grid.channel is not None:
        what = f"input channel {grid.channel} of {cin}"
    else:
        what = f"row = filter, column = input channel (0-{cin - 1})"
    if grid.normalize == "filter":
        lo, hi = (
            float(grid.scales[: grid.filters_shown].min()),
            float(grid.scales[: grid.filters_shown].max()),
        )
        scale = f"each filter scaled to ±1 by its own max |w| ({lo:.3g} to {hi:.3g})"
    else:
        scale = f"one scale for all filters, ±{grid.value_range[1]:.4g}"
    return SEP.join(filter(None, [f"{filters} in {grid.rows}x{grid.cols} tiles", what, scale, grid.note]))


def grid_figure(grid: FilterGrid, name: str, source: str, values_note: str = "") -> Figure:
    """The mosaic exactly as :meth:`FilterGrid.to_rgb` draws it, titled, with its colour scale.

    An RGB composite has no colour bar: its colours are three channels at once, which no single ramp reads,
    and the subtitle already says how (``RGB = input channels 0, 1, 2 (grey = 0)``, each filter scaled to ±1
    by its own max |w|, or one scale for all), as the Weights tab hides its bar for one."""
    hi = 1.0 if grid.normalize == "filter" else grid.value_range[1]
    scale = None if grid.composite else ColourScale(-hi, hi)
    title = tensor_title(source, name, grid.weight_shape, values_note)
    return figure(grid.to_rgb(), title, _subtitle(values_note, grid_description(grid)), scale)


def heatmap_description(heat: Heatmap, shape) -> str:
    rows, cols = heat.shape
    text = f"{rows} x {cols} matrix" + ("" if len(shape) == 2 else f" (the {len(shape)}-D tensor reshaped)")
    if heat.factor != (1, 1):
        h, w = heat.values.shape
        text += (
            f", drawn as {h} x {w}: each pixel the {heat.method} of a {heat.factor[0]}x{heat.factor[1]} block"
        )
    limit = heat.clip or heat.vmax
    if heat.clip and heat.clip < 0.9 * heat.vmax:  # only worth saying when an outlier set the max
        text += f"{SEP}colours saturate beyond ±{limit:.4g} ({ROBUST_PERCENTILE:g}th percentile of |v|, max {heat.vmax:.4g})"
    return text


def heatmap_figure(heat: Heatmap, name: str, source: str, shape, values_note: str = "") -> Figure:
    """The heatmap upscaled to be seen (cells stay square), titled, with its ±clip colour scale."""
    limit = heat.clip or heat.vmax or 1.0
    return figure(
        upscale(heat.to_rgb()), tensor_title(source, name, shape, values_note),
        _subtitle(values_note, heatmap_description(heat, shape)), ColourScale(-limit, limit),
    )  # fmt: skip


def series_description(series: Series) -> str:
    text = plural(series.length, "value")
    if series.factor > 1:
        text += f"{SEP}each point the {series.method} of {series.factor} consecutive values"
    if series.style == "bar":
        text += f"{SEP}bars coloured by sign and size (±{_absmax(series.y):.4g} the darkest)"
    return text


def _absmax(values) -> float:
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size else 0.0


def series_figure(series: Series, name: str, source: str, shape, values_note: str = "") -> Figure:
    """A bias or any vector as the GUI's bar (or, beyond 256 values, line) plot; the y axis is its scale."""
    title = tensor_title(source, name, shape, values_note)
    return figure(series_picture(series), title, _subtitle(values_note, series_description(series)), None)
