"""Size a tree's or table's columns to what they hold, once per file, so no text is clipped on open.

Qt's ``ResizeToContents`` mode measures every row on every change (slow on big files) and takes the
columns away from the user; fixed widths in characters clip ``BatchNorm2d`` and ``num_batches_tracked``.
:func:`fit_columns` measures once (the delegate's size hints, fonts and tree indentation included), sets
each column to that width, bounded by ``max_width``, leaves it user-resizable (``Interactive``), and lets
the name column stretch over whatever room is left. It returns the width the view needs to show every
column unclipped, so a window can widen the pane that holds it. Only :data:`MEASURED_ROWS` rows are measured
(the visible ones first, then from both ends), so a huge file opens as fast as before.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QAbstractItemView, QHeaderView

MEASURED_ROWS = 200  # rows measured per column (the visible ones first): a 20k-row tree sizes in ~0.2 s
PADDING = 6  # beyond a cell's size hint: the text never touches the next column (header hints have room)


def content_width(view: QAbstractItemView, header: QHeaderView, column: int) -> int:
    """Width that shows column ``column``'s header and every measured cell without eliding."""
    return max(view.sizeHintForColumn(column) + PADDING, header.sectionSizeHint(column))


def fit_columns(view: QAbstractItemView, header: QHeaderView, stretch: int, max_width: int) -> int:
    """Size every column but ``stretch`` to its contents (at most ``max_width``); ``stretch`` takes the rest.

    Returns the viewport width at which the ``stretch`` column, too, shows its widest text.
    """
    header.setStretchLastSection(False)
    header.setResizeContentsPrecision(MEASURED_ROWS)
    others = 0
    for column in range(header.count()):
        if column == stretch or header.isSectionHidden(column):
            continue
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        width = min(content_width(view, header, column), max_width)
        header.resizeSection(column, width)
        others += width
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return others + content_width(view, header, stretch)


def chrome_width(view: QAbstractItemView) -> int:
    """What a view adds around its viewport: frame and vertical scroll bar."""
    scroll_bar = view.verticalScrollBar().sizeHint().width()
    return 2 * view.frameWidth() + scroll_bar


class NameStaysReadable(QObject):
    """Keeps the stretching name column readable when its view gets narrow (the Features and Fine-tune tabs
    take most of the window): below the room the fitted columns and ``min_chars`` of name need, the other
    columns give way in proportion, down to a few characters each; they get their fitted widths back as soon as
    the room returns. Without it the name column shrank to nothing ("Nam", no tensor name on any row) while
    shapes and dtypes kept their full widths.

    Call :meth:`remember` after each :func:`fit_columns` (the widths to return to)."""

    FLOOR_CHARS = 4

    def __init__(self, view: QAbstractItemView, header: QHeaderView, stretch: int, min_chars: int = 18):
        super().__init__(view)
        self.view, self.header, self.stretch, self.min_chars = view, header, stretch, min_chars
        self.fitted: dict[int, int] = {}
        self._applying = False
        view.viewport().installEventFilter(self)

    def remember(self) -> None:
        self.fitted = {
            column: self.header.sectionSize(column)
            for column in range(self.header.count())
            if column != self.stretch and not self.header.isSectionHidden(column)
        }
        self.apply()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Resize and not self._applying:
            self.apply()
        return False

    def apply(self) -> None:
        if not self.fitted:
            return
        char = self.view.fontMetrics().horizontalAdvance("0")
        name_needs = min(content_width(self.view, self.header, self.stretch), self.min_chars * char)
        room = self.view.viewport().width() - name_needs
        total = sum(self.fitted.values())
        scale = 1.0 if room >= total else max(room, 0) / total
        self._applying = True
        try:
            for column, width in self.fitted.items():
                self.header.resizeSection(
                    column, max(int(width * scale), min(width, self.FLOOR_CHARS * char))
                )
        finally:
            self._applying = False
