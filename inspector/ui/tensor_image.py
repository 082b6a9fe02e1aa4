"""The image canvas every tensor picture is drawn on: weights (filter grids, heatmaps) and feature maps.

One pyqtgraph ``ImageItem`` in a plot with a colour bar of the app's diverging map; the ViewBox gives wheel zoom
and drag pan. The owner supplies what a pixel means (``hover_text``), the canvas reports hovers and clicks in
image coordinates and exports what it shows.

Signals:
    hovered(str): the text for the pixel under the mouse ("" outside the picture).
    clicked(int, int, object): image row, column and the Qt keyboard modifiers of a left click.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from inspector.core import render

COLOR_MAP = pg.ColorMap(np.linspace(0.0, 1.0, render.LUT_SIZE), render.DIVERGING_LUT)


class TensorImage(QWidget):
    """An RGB picture with a colour bar, zoom, pan, hover read-out and click (see module docstring)."""

    hovered = Signal(str)
    clicked = Signal(int, int, object)

    def __init__(self, parent: QWidget | None = None, colorbar: bool = True):
        """``colorbar=False``: the picture takes the whole width (a small view whose scale its caption gives)."""
        super().__init__(parent)
        self.hover_text: Callable[[int, int], str] = lambda row, col: ""
        self.graphics = pg.GraphicsLayoutWidget()
        self.plot = self.graphics.addPlot(row=0, col=0)
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.setMenuEnabled(False)
        self.item = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.item)
        self.colorbar = pg.ColorBarItem(values=(-1.0, 1.0), colorMap=COLOR_MAP, interactive=False, width=14)
        if colorbar:
            self.graphics.addItem(self.colorbar, row=0, col=1)
        else:
            self.graphics.ci.setContentsMargins(0, 0, 0, 0)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.overlays: list = []
        self._shown_rect: QRectF | None = None  # the extent of the picture on screen
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

    def show_rgb(self, rgb: np.ndarray, levels: tuple[float, float], axes: bool = False,
                 rect: QRectF | None = None, downsample: bool = True, keep_view: bool = False) -> None:  # fmt: skip
        """Draw ``rgb`` (uint8 HxWx3); ``levels`` label the colour bar; ``keep_view`` keeps zoom and pan (a new
        input for the same layer updates in place, without a jump) as long as the picture keeps its extent: a
        picture of another shape is always fitted, else it would sit small in a corner of the old range."""
        h, w = rgb.shape[:2]
        rect = QRectF(rect) if rect is not None else QRectF(0, 0, w, h)
        self.plot.setAspectLocked(not axes)  # tiles stay square; a matrix fills the view
        self.item.setImage(rgb, autoLevels=False, levels=(0, 255))
        self.item.setRect(rect)
        self.item.setAutoDownsample(downsample)
        for side in ("left", "bottom"):
            self.plot.showAxis(side, axes)
        self.colorbar.setLevels(levels)
        same_extent, self._shown_rect = rect == self._shown_rect, rect
        if not (keep_view and same_extent):
            self.fit()

    def fit(self) -> None:
        """Fit the view to the picture alone: overlays (selection marks of a previous picture) must not widen it."""
        self.plot.autoRange(padding=0.02, items=[self.item])

    def set_marks(self, rects: list[tuple[float, float, float, float]], colour=(255, 200, 0)) -> None:
        """Outline these (x, y, w, h) rectangles (selected channels) over the picture."""
        for item in self.overlays:
            self.plot.removeItem(item)
        self.overlays = []
        pen = pg.mkPen(colour, width=2)
        for x, y, w, h in rects:
            box = pg.QtWidgets.QGraphicsRectItem(x - 0.5, y - 0.5, w + 1, h + 1)
            box.setPen(pen)
            self.plot.addItem(box)
            self.overlays.append(box)

    def image_position(self, scene_pos: QPointF) -> tuple[int, int]:
        pos = self.item.mapFromScene(scene_pos)
        return math.floor(pos.y()), math.floor(pos.x())

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self.item.image is None:
            return
        row, col = self.image_position(scene_pos)
        self.hovered.emit(self.hover_text(row, col))

    def _on_mouse_clicked(self, event) -> None:
        if self.item.image is None or event.button() != Qt.MouseButton.LeftButton:
            return
        row, col = self.image_position(event.scenePos())
        h, w = self.item.image.shape[:2]
        if 0 <= row < h and 0 <= col < w:
            self.clicked.emit(row, col, event.modifiers())

    def grab_png(self, path: str) -> bool:
        return self.graphics.grab().save(str(path), "PNG")
