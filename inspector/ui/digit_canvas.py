"""Draw a digit with the mouse: a 28x28 canvas, white on black like MNIST, with Clear and Undo.

It starts with a digit rendered from a font by Qt (nothing copied from a data set), so a prediction can be shown
before the user has any data. The image is kept at 28x28; the widget only scales it up to draw.

Signals:
    changed(): a stroke ended, or the image was cleared, undone or replaced.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

SIDE = 28
PEN_WIDTH = 2.4  # in image pixels: about MNIST's stroke width
MAX_UNDO = 50


def font_digit(text: str = "3", side: int = SIDE) -> np.ndarray:
    """``text`` rendered by Qt as a white glyph on black, centred in a 20x20 box like MNIST's digits."""
    image = QImage(side, side, QImage.Format.Format_Grayscale8)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    font = QFont("DejaVu Sans")
    font.setPixelSize(int(side * 0.78))
    font.setBold(True)
    painter.setFont(font)
    painter.setPen(QColor(255, 255, 255))
    painter.drawText(QRectF(0, 0, side, side), Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return qimage_to_array(image)


def qimage_to_array(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    ptr = image.constBits()
    rows = np.frombuffer(ptr, dtype=np.uint8, count=image.bytesPerLine() * image.height())
    return rows.reshape(image.height(), image.bytesPerLine())[:, : image.width()].copy()


def array_to_qimage(array: np.ndarray) -> QImage:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    h, w = array.shape
    return QImage(array.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


class DigitCanvas(QWidget):
    """The drawing (see module docstring); :meth:`image` is the ``uint8`` ``[28, 28]`` array."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(110, 110)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw a digit with the mouse (white on black, like MNIST)")
        self._image = array_to_qimage(font_digit("3"))
        self._undo: list[np.ndarray] = []
        self._last: QPointF | None = None

    # -- the image ---------------------------------------------------------------------------------------
    def image(self) -> np.ndarray:
        return qimage_to_array(self._image)

    def set_image(self, array: np.ndarray) -> None:
        self._push_undo()
        self._image = array_to_qimage(array)
        self.update()
        self.changed.emit()

    def clear(self) -> None:
        self.set_image(np.zeros((SIDE, SIDE), dtype=np.uint8))

    def undo(self) -> bool:
        if not self._undo:
            return False
        self._image = array_to_qimage(self._undo.pop())
        self.update()
        self.changed.emit()
        return True

    def can_undo(self) -> bool:
        return bool(self._undo)

    def _push_undo(self) -> None:
        self._undo.append(self.image())
        del self._undo[:-MAX_UNDO]

    # -- drawing -----------------------------------------------------------------------------------------
    def _to_image(self, pos) -> QPointF:
        side = min(self.width(), self.height())
        x0, y0 = (self.width() - side) / 2, (self.height() - side) / 2
        return QPointF((pos.x() - x0) * SIDE / side, (pos.y() - y0) * SIDE / side)

    def stroke(self, points: list[tuple[float, float]]) -> None:
        """Draw a stroke through image coordinates (what the mouse does; tests call it directly)."""
        self._push_undo()
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(255, 255, 255), PEN_WIDTH, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        pts = [QPointF(x, y) for x, y in points]
        for a, b in zip(pts, pts[1:] or pts, strict=False):
            painter.drawLine(a, b)
        painter.end()
        self.update()
        self.changed.emit()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._push_undo()
            self._last = self._to_image(event.position())
            self._draw_to(self._last)

    def mouseMoveEvent(self, event) -> None:
        if self._last is not None:
            self._draw_to(self._to_image(event.position()))

    def mouseReleaseEvent(self, event) -> None:
        if self._last is not None:
            self._last = None
            self.changed.emit()

    def _draw_to(self, point: QPointF) -> None:
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(255, 255, 255), PEN_WIDTH, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.drawLine(self._last, point)
        painter.end()
        self._last = point
        self.update()

    def paintEvent(self, _event) -> None:
        side = min(self.width(), self.height())
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(48, 48, 48))
        target = QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)
        painter.drawImage(target, self._image)
        painter.end()
