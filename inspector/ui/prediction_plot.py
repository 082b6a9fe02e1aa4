"""The prediction as a bar chart: top-k classes by name, and before/after side by side when channels were zeroed."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

TOP_K = 5
BEFORE_BRUSH = (170, 170, 170)
AFTER_BRUSH = (214, 96, 77)
PLAIN_BRUSH = (67, 147, 195)


def _short(name: str, chars: int = 14) -> str:
    """A class name for an axis tick (ImageNet's can be long); the full name is in the caption above."""
    return name if len(name) <= chars else name[: chars - 1] + "…"


class PredictionPlot(pg.PlotWidget):
    """Horizontal bars of the top-k probabilities; :meth:`show_prediction` redraws in place (``setOpts``)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumHeight(110)
        self.setMouseEnabled(x=False, y=False)
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setLabel("bottom", "probability")
        self.setXRange(0, 1, padding=0.02)
        # three ticks: a narrow plot beside the input must not crowd "0.20.40.60.8" together
        self.getAxis("bottom").setTicks([[(v, f"{v:g}") for v in (0.0, 0.5, 1.0)], []])
        self.getPlotItem().invertY(True)
        self.before = pg.BarGraphItem(x0=[], y=[], height=0.38, width=[], brush=BEFORE_BRUSH)
        self.after = pg.BarGraphItem(x0=[], y=[], height=0.76, width=[], brush=PLAIN_BRUSH)
        self.addItem(self.before)
        self.addItem(self.after)
        self.rows: list[str] = []

    def show_prediction(self, prediction: dict, before: dict | None = None, truth: str | None = None) -> None:
        """``prediction``/``before`` as ``FeatureResult.prediction()`` gives them; rows are the top classes of
        the current prediction (and of the one before ablation)."""
        probs = np.asarray(prediction["probabilities"], dtype=np.float64)
        labels = [t["label"] for t in prediction["top"][:TOP_K]]
        if before is not None:
            labels += [t["label"] for t in before["top"][:TOP_K] if t["label"] not in labels]
        names = {t["label"]: t["name"] for t in prediction["top"]} | (
            {t["label"]: t["name"] for t in before["top"]} if before else {})  # fmt: skip
        ys = np.arange(len(labels), dtype=np.float64)
        offset = 0.2 if before is not None else 0.0
        self.after.setOpts(x0=np.zeros(len(ys)), y=ys + offset, width=probs[labels], height=0.38 if before else 0.76,
                           brush=AFTER_BRUSH if before is not None else PLAIN_BRUSH)  # fmt: skip
        if before is not None:
            old = np.asarray(before["probabilities"], dtype=np.float64)
            self.before.setOpts(x0=np.zeros(len(ys)), y=ys - offset, width=old[labels], height=0.38)
        else:
            self.before.setOpts(x0=[], y=[], width=[], height=0.38)
        self.rows = [f"{_short(str(names.get(i, i)))}{' ✓' if truth is not None and str(names.get(i, i)) == truth else ''}"
                     f"  {probs[i]:.1%}" for i in labels]  # fmt: skip
        self.getAxis("left").setTicks([list(zip(ys.tolist(), self.rows, strict=True))])
        self.setYRange(-0.6, len(ys) - 0.4, padding=0)
        # no title: its text sets the plot's minimum width, and in the narrow column beside the input the layout
        # grew past the widget, clipping the title, the bars and the axis label; the caption names the colours
        self.setTitle(None)

    def clear_prediction(self) -> None:
        self.before.setOpts(x0=[], y=[], width=[])
        self.after.setOpts(x0=[], y=[], width=[])
        self.rows = []
        self.getAxis("left").setTicks([[]])
