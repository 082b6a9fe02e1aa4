"""A 1-D tensor (a bias, a BatchNorm scale) as points for a bar or line plot.

It is a one-row heatmap underneath, so long vectors are reduced the same outlier-keeping way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspector.core.render.conversion import as_real_tensor
from inspector.core.render.heatmaps import heatmap_array


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
    flat = as_real_tensor(tensor).reshape(1, -1)
    heat = heatmap_array(flat, max_side=max_points, reduce=reduce)
    factor = heat.factor[1]
    y = heat.values[0]
    return Series(np.arange(len(y), dtype=np.float64) * factor, y, flat.shape[1], factor, heat.method)
