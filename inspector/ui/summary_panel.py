"""The torchsummary table of the open model, when its architecture is known.

A summary builds the model and runs a forward pass, so it is computed only when the panel is first shown
for a file, on a worker thread (:func:`inspector.core.models.summary.iter_model_summary`). When the architecture is
unknown the core explains why, and the panel shows that message instead.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QProgressBar, QVBoxLayout, QWidget

from inspector.core.errors import InspectorError
from inspector.ui.worker import WorkerSlot

if TYPE_CHECKING:
    from inspector.core.checkpoint.model import Checkpoint


def _summary_job(checkpoint: Checkpoint):
    """Made on the worker thread, so the summary module (and torch) is imported there."""
    try:
        from inspector.core.models.summary import iter_model_summary
    except ImportError as exc:
        raise InspectorError(f"summary not available ({exc})") from exc
    return iter_model_summary(checkpoint)


class SummaryPanel(QWidget):
    """Monospace summary text, computed lazily per file.

    Signals:
        summary_changed(str): the text now shown (the summary, or why there is none).
    """

    summary_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None, session=None):
        super().__init__(parent)
        if session is not None:  # the window's Session: follow the open file
            session.checkpoint_changed.connect(self.set_checkpoint)
        self._checkpoint: Checkpoint | None = None
        self._stale = False
        self._jobs = WorkerSlot("summary")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.progress.hide()
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.progress)
        layout.addWidget(self.text, 1)
        self.set_checkpoint(None)

    def set_checkpoint(self, checkpoint: Checkpoint | None) -> None:
        """Show ``checkpoint``'s summary the next time the panel is visible (now, if it is)."""
        self._jobs.cancel()
        self._checkpoint = checkpoint
        self.progress.hide()
        self.text.clear()
        self._stale = checkpoint is not None
        self.status.setText("No file open." if checkpoint is None else "")
        if self._stale and self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        """Compute the summary of the current file now."""
        if self._checkpoint is None:
            return
        self._stale = False
        self.status.setText("Building the model and running a summary pass…")
        self.progress.show()
        self._jobs.start(
            partial(_summary_job, self._checkpoint),
            on_finished=self._on_summary_computed,
            on_failed=self._on_summary_failed,
            on_progress=self._on_summary_progress_changed,
        )

    def is_busy(self) -> bool:
        return self._jobs.is_busy()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def _on_summary_progress_changed(self, record) -> None:
        if record.message:
            self.status.setText(record.message[:1].upper() + record.message[1:] + "…")

    def _on_summary_computed(self, text: str) -> None:
        self.progress.hide()
        architecture = self._checkpoint.architecture if self._checkpoint is not None else None
        self.status.setText(f"Architecture: {architecture}" if architecture else "")
        self.text.setPlainText(text)
        self.summary_changed.emit(text)

    def _on_summary_failed(self, message: str) -> None:
        self.progress.hide()
        self.status.setText(message)
        self.text.clear()
        self.summary_changed.emit(message)

    def shutdown(self, msecs: int = -1) -> bool:
        """Stop the summary job and wait for its thread, at most ``msecs`` (the owner calls this on close)."""
        return self._jobs.shutdown(msecs)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)
