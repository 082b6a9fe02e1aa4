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
