"""Compare two checkpoints: a sortable table of what changed, and the difference of the selected tensor.

:class:`DiffWindow` loads both files and runs the core diff job (:func:`inspector.core.analysis.diff.iter_diff_files`)
on a worker thread with progress and Cancel, then hands the result to :class:`DiffView`. The table is a
``QAbstractTableModel`` over the core :class:`~inspector.core.analysis.diff.DiffResult` (behind a sort/filter proxy);
selecting a row draws ``a - b`` with the same :class:`~inspector.ui.weight_view.WeightView` the Weights tab uses
(filter grid, heatmap or bars, plus histogram and exact stats of the difference), coloured globally by default
so an unchanged filter stays neutral instead of being stretched to full colour.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from inspector.core.analysis.diff_order import (
    STATUS_RANK,
    ReviewRow,
    entry_kinds,
    relative_change,
    review_order,
)
from inspector.ui.column_sizing import NameStaysReadable, chrome_width, fit_columns
from inspector.ui.weight_view import WeightView
from inspector.ui.worker import CLOSE_WAIT_MS, Deadline, WorkerSlot

if TYPE_CHECKING:
    from inspector.core.analysis.diff import DiffResult
    from inspector.core.checkpoint.model import Checkpoint

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
COLUMNS = ("Tensor", "Status", "rel L2", "max |a−b|", "% changed", "Shape", "Dtype")
NUMBER_COLUMNS = (2, 3, 4)
REL_L2_COLUMN = COLUMNS.index("rel L2")
COLUMN_MAX_CHARS = 24  # no column but the tensor name grows wider than this on open
TABLE_SHARE = 0.65  # the table may take this share of the window's width to show its columns
_NO_PARENT = QModelIndex()
STATUS_COLORS = {
    "changed": "#f4a582",
    "shape mismatch": "#d6604d",
    "only in A": "#d1e5f0",
    "only in B": "#d1e5f0",
}


def _shape(shape) -> str:
    return "x".join(map(str, shape)) or "scalar"


def _number(x: float | None) -> str:
    return "" if x is None else f"{x:.4g}"


def _cell(row: ReviewRow, column: int) -> tuple[str, Any]:
    """(text, sort key) of one cell; missing numbers sort below every number."""
    d, name = row.diff, COLUMNS[column]
    if name == "Tensor":
        return (d.display_name if d is not None else row.name), row.name
    if name == "Status":
        return row.status, STATUS_RANK[row.status]
    if d is None:
        return "", -1.0
    if name == "Shape":
        text = _shape(d.shape_a) if not d.shape_mismatch else f"{_shape(d.shape_a)} vs {_shape(d.shape_b)}"
        return text, float(d.numel)
    if name == "max |a−b|":
        return _number(d.max_abs), -1.0 if d.max_abs is None else d.max_abs
    if name == "rel L2":
        rel = relative_change(d)
        text = "∞ (a = 0)" if rel == math.inf else _number(rel)
        return text, -1.0 if rel is None else rel
    if name == "% changed":
        pct = d.changed_pct
        return ("" if pct is None else f"{pct:.3g}%"), -1.0 if pct is None else pct
    return (d.dtype_a if d.dtype_a == d.dtype_b else f"{d.dtype_a} → {d.dtype_b}"), d.dtype_a


def _tooltip(row: ReviewRow, column: int) -> str:
    """The full text of a cell (names elide when the column is narrowed); the name adds kind and keys."""
    text = _cell(row, column)[0]
    if COLUMNS[column] != "Tensor":
        return text
    lines = [text] + ([row.kind] if row.kind else [])
    if row.diff is None and row.label:  # a name in one file only: whose optimizer state (kept out of the
        lines.append(row.label)  # cell, so the default window still shows every name whole)
    if row.diff is not None:
        lines += [f"A: {row.diff.key_a}", f"B: {row.diff.key_b}"]
    return "\n".join(lines)


class DiffTableModel(QAbstractTableModel):
    """The rows of a :class:`DiffResult` in :func:`review_order`; ``SORT_ROLE`` gives numbers for sorting.

    The rows' own order is the reading order (parameters before buffers, finite changes before ∞), so
    the proxy shows it whenever no column is sorted.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[ReviewRow] = []

    def set_result(self, result: DiffResult | None, kinds: dict[str, str] | None = None) -> None:
        """Show ``result``; ``kinds`` (match name -> parameter/buffer/...) decides the reading order."""
        self.beginResetModel()
        self._rows = review_order(result, kinds) if result is not None else []
        self.endResetModel()

    def diff_row(self, index: QModelIndex | int) -> ReviewRow:
        return self._rows[index if isinstance(index, int) else index.row()]

    def rowCount(self, parent=_NO_PARENT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=_NO_PARENT) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _cell(row, index.column())[0]
        if role == SORT_ROLE:
            return _cell(row, index.column())[1]
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(row, index.column())
        if role == Qt.ItemDataRole.BackgroundRole and index.column() == 1 and row.status in STATUS_COLORS:
            return QBrush(QColor(STATUS_COLORS[row.status]))
        if role == Qt.ItemDataRole.ForegroundRole and row.status == "unchanged":
            return QBrush(QColor("#808080"))
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in NUMBER_COLUMNS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class _DiffProxy(QSortFilterProxyModel):
    """Sorts by ``SORT_ROLE``; hides unchanged rows when asked."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.changed_only = False

    def set_changed_only(self, on: bool) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10, where invalidateFilter() is deprecated
            self.beginFilterChange()
            self.changed_only = on
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.changed_only = on
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:
        return not self.changed_only or self.sourceModel().diff_row(source_row).status != "unchanged"


class DiffView(QWidget):
    """The table of a diff result beside a :class:`WeightView` of the selected pair's difference ``a - b``.

    Signals:
        row_selected(str): the match name of the newly selected row.
    """

    row_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None, show_difference: bool = True):
        """``show_difference``: draw the selected pair's ``a - b`` beside the table (off: the table alone)."""
        super().__init__(parent)
        self._result: DiffResult | None = None
        self._checkpoints: tuple[Checkpoint, Checkpoint] | None = None
        self.model = DiffTableModel(self)
        self.proxy = _DiffProxy(self)
        self.proxy.setSourceModel(self.model)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.changed_only = QCheckBox("Changed only")
        self.changed_only.toggled.connect(self.proxy.set_changed_only)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # sized on each result: _fit_columns
        header.setSortIndicatorClearable(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self._name_readable = NameStaysReadable(self.table, header, 0, min_chars=30)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row_changed)
        self.weight_view = WeightView() if show_difference else None
        if self.weight_view is not None:
            self.weight_view.set_normalization("global")

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.changed_only)
        left_layout.addLayout(top)
        left_layout.addWidget(self.table, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        if self.weight_view is not None:
            splitter.addWidget(self.weight_view)
            splitter.setStretchFactor(0, 1)
            splitter.setStretchFactor(1, 1)
            splitter.setSizes([560, 640])
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    @property
    def result(self) -> DiffResult | None:
        return self._result

    def set_result(self, result: DiffResult, ckpt_a: Checkpoint, ckpt_b: Checkpoint) -> None:
        """Show ``result`` in reading order (:func:`review_order`, no column sorted) and select its first row."""
        self._result, self._checkpoints = result, (ckpt_a, ckpt_b)
        if self.weight_view is not None:
            self.weight_view.forget_stats()
        self.model.set_result(result, entry_kinds(result, ckpt_a, ckpt_b))
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # the model's own order
        self.summary.setText(result.summary_line())
        self._fit_columns()
        if self.proxy.rowCount():
            self.table.selectionModel().setCurrentIndex(
                self.proxy.index(0, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
            )
        elif self.weight_view is not None:
            self.weight_view.clear("The files hold no tensors.")

    def _fit_columns(self) -> None:
        """Columns as wide as their text (bounded), the name stretching; the table's side of the splitter
        widens to show them, up to ``TABLE_SHARE`` of the window."""
        char = self.table.fontMetrics().horizontalAdvance("0")
        needed = fit_columns(self.table, self.table.horizontalHeader(), 0, COLUMN_MAX_CHARS * char)
        self._name_readable.remember()
        sizes = self.splitter.sizes()
        total = sum(sizes)
        wanted = min(needed + chrome_width(self.table), int(total * TABLE_SHARE))
        if total and wanted > sizes[0]:
            self.splitter.setSizes([wanted, total - wanted])

    def visible_names(self) -> list[str]:
        """Match names in the table's current (sorted, filtered) order."""
        return [self.model.diff_row(self.proxy.mapToSource(self.proxy.index(r, 0))).name
                for r in range(self.proxy.rowCount())]  # fmt: skip

    def select(self, name: str) -> bool:
        """Select the row of ``name``; False when no visible row has it."""
        for r in range(self.proxy.rowCount()):
            index = self.proxy.index(r, 0)
            if self.model.diff_row(self.proxy.mapToSource(index)).name == name:
                flags = (
                    QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
                )
                self.table.selectionModel().setCurrentIndex(index, flags)
                return True
        return False

    def _on_current_row_changed(self, current: QModelIndex | QPersistentModelIndex, _previous) -> None:
        if not current.isValid() or self._checkpoints is None:
            return
        row = self.model.diff_row(self.proxy.mapToSource(current))
        self.row_selected.emit(row.name)
        if self.weight_view is None:
            return
        if not row.comparable:
            d = row.diff
            reason = (f"shape {list(d.shape_a)} in A, {list(d.shape_b)} in B: no elementwise difference"
                      if d is not None else f"{row.status}: nothing to compare it with")  # fmt: skip
            self.weight_view.clear(f"{row.name}\n\n{reason}")
            return
        from inspector.core.analysis.diff import difference_tensor

        ckpt_a, ckpt_b = self._checkpoints
        name, name_b = row.name, row.diff.name_b
        self.weight_view.show_tensor(
            f"{name}: a − b  {list(row.diff.shape_a)}", lambda: difference_tensor(ckpt_a, ckpt_b, name, name_b),
            row.diff.shape_a, f"diff::{ckpt_a.path}::{ckpt_b.path}::{name}",
        )  # fmt: skip

    def shutdown(self, msecs: int = -1) -> bool:
        return self.weight_view.shutdown(msecs) if self.weight_view is not None else True


class DiffWindow(QWidget):
    """A window comparing two files: loads both and diffs them off the GUI thread, with progress and Cancel.

    Signals:
        diff_finished(object): the :class:`DiffResult` now shown.
        diff_failed(str): loading or comparing failed (the message is shown in the window too).
    """

    diff_finished = Signal(object)
    diff_failed = Signal(str)

    def __init__(
        self, path_a: str | None = None, path_b: str | None = None, trust: bool = False, parent=None
    ):
        super().__init__(parent)
        self.setWindowTitle("Compare checkpoints")
        self.resize(1280, 800)  # the main window's size: the table's columns and a picture side by side
        self._jobs = WorkerSlot("diff")
        self.paths = QLabel()
        self.paths.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.view = DiffView()
        top = QHBoxLayout()
        top.addWidget(self.paths, 1)
        top.addWidget(self.progress)
        top.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(self.view, 1)
        self._set_busy(False)
        if path_a and path_b:
            self.compare(path_a, path_b, trust)

    def compare(self, path_a: str, path_b: str, trust: bool = False) -> None:
        """Load ``path_a`` and ``path_b`` and diff them on a worker thread."""
        self.paths.setText(f"A: {path_a}\nB: {path_b}")
        self.status.setText("Loading and comparing…")
        self.status.setVisible(True)
        self._set_busy(True)

        def make_job():
            from inspector.core.analysis.diff import iter_diff_files

            return iter_diff_files(str(path_a), str(path_b), trust)

        self._jobs.start(make_job, self._on_finished, self._on_failed, self._on_progress)

    def is_busy(self) -> bool:
        """True while the diff runs or the selected difference is being drawn."""
        weights = self.view.weight_view
        return self._jobs.is_busy() or (weights is not None and weights.is_busy())

    def cancel(self) -> None:
        if self._jobs.is_busy():
            self._jobs.cancel()
            self._set_busy(False)
            self.status.setText("Cancelled.")

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    def _on_progress(self, record) -> None:
        self.progress.setRange(0, max(1, record.total) if record.total else 0)
        self.progress.setValue(record.done)
        self.status.setText(record.message)

    def _on_finished(self, outcome) -> None:
        result, ckpt_a, ckpt_b = outcome
        self._set_busy(False)
        lines = [f"note: {n}" for n in result.notes] + [f"warning: {w}" for w in result.warnings]
        self.status.setText("\n".join(lines))
        self.status.setVisible(bool(lines))
        self.view.set_result(result, ckpt_a, ckpt_b)
        self.diff_finished.emit(result)

    def _on_failed(self, message: str) -> None:
        self._set_busy(False)
        self.status.setText(message)
        self.status.setVisible(True)
        self.diff_failed.emit(message)

    def shutdown(self, msecs: int = -1) -> bool:
        """Cancel and wait for every job this window started, at most ``msecs`` in all."""
        self._jobs.shutdown(0)
        self.view.shutdown(0)
        deadline = Deadline(msecs)
        ended = self._jobs.shutdown(deadline.remaining_ms())
        return self.view.shutdown(deadline.remaining_ms()) and ended

    def closeEvent(self, event) -> None:
        self.shutdown(CLOSE_WAIT_MS)
        super().closeEvent(event)
