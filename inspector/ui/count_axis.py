"""A pyqtgraph axis for counts (training steps, epochs): ticks only at whole numbers.

pyqtgraph picks tick spacings for real numbers, so a short run's step axis read 0.5, 1.5, 2.5: steps and epochs
have no halves. The spacing pyqtgraph chooses is kept where it is whole, and rounded up to 1 where it is not.
"""

from __future__ import annotations

import math

import pyqtgraph as pg


class CountAxis(pg.AxisItem):
    def tickValues(self, minVal, maxVal, size):  # noqa: N802 (pyqtgraph's name)
        levels = []
        for spacing, values in super().tickValues(minVal, maxVal, size):
            if spacing < 1:
                spacing = 1.0
                values = [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)]
            whole = [v for v in values if float(v).is_integer()]
            if whole and all(level[0] != spacing for level in levels):
                levels.append((spacing, whole))
        return levels
