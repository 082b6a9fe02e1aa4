"""Pictures that keep their aspect ratio and take the room they are given.

``AspectImage`` draws an image scaled to the largest rectangle of its shape that fits the widget (a ``QLabel``
pixmap scaled once is cropped or left small when the label is resized later). ``SquarePair`` lays out two
pictures (the Features tab's input and the channel picked on the mosaic) as the largest pair of equal squares
that fits, side by side or one above the other, whichever gives the larger squares; the first takes the whole
square when the second is hidden.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QRect, QRectF, QSize
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

MIN_SIDE = 110


def fitted_rect(width: float, height: float, image_w: int, image_h: int) -> QRectF:
    """The largest rectangle of the image's shape inside ``width`` x ``height``, centred."""
    scale = min(width / max(image_w, 1), height / max(image_h, 1))
    w, h = image_w * scale, image_h * scale
    return QRectF((width - w) / 2, (height - h) / 2, w, h)


class AspectImage(QWidget):
    """An 8-bit grey or RGB array drawn to fit, pixels kept square (nearest, so 28x28 digits stay crisp)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(MIN_SIDE, MIN_SIDE)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self._image: QImage | None = None

    def set_array(self, image: np.ndarray) -> None:
        image = np.ascontiguousarray(image, dtype=np.uint8)
        h, w = image.shape[:2]
        fmt = QImage.Format.Format_Grayscale8 if image.ndim == 2 else QImage.Format.Format_RGB888
        self._image = QImage(image.data, w, h, image.strides[0], fmt).copy()
        self.update()

    def image_rect(self) -> QRectF:
        """Where the image is drawn, in widget coordinates (empty before an image is set)."""
        if self._image is None:
            return QRectF()
        return fitted_rect(self.width(), self.height(), self._image.width(), self._image.height())

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(48, 48, 48))
        if self._image is not None:
            painter.drawImage(self.image_rect(), self._image)
        painter.end()


class SquarePair(QWidget):
    """Two widgets as the largest equal squares that fit (see module docstring); re-laid out on resize and
    whenever the second is shown or hidden."""

    def __init__(self, first: QWidget, second: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.first, self.second = first, second
        for widget in (first, second):
            widget.setParent(self)
        second.installEventFilter(self)
        self.setMinimumSize(MIN_SIDE, MIN_SIDE)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(2 * MIN_SIDE, 2 * MIN_SIDE)

    def minimumSizeHint(self) -> QSize:
        return QSize(MIN_SIDE, MIN_SIDE)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.second and event.type() in (QEvent.Type.Show, QEvent.Type.Hide):
            self._arrange()
        return False

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._arrange()

    def _arrange(self) -> None:
        w, h = self.width(), self.height()
        if self.second.isHidden():
            side = min(w, h)
            self.first.setGeometry(QRect((w - side) // 2, (h - side) // 2, side, side))
            return
        beside, above = min(w // 2, h), min(w, h // 2)
        side = max(beside, above)
        if beside >= above:
            x0, y0, dx, dy = (w - 2 * side) // 2, (h - side) // 2, side, 0
        else:
            x0, y0, dx, dy = (w - side) // 2, (h - 2 * side) // 2, 0, side
        self.first.setGeometry(QRect(x0, y0, side, side))
        self.second.setGeometry(QRect(x0 + dx, y0 + dy, side, side))
