"""File › Verify…: the core verify job (:func:`inspector.core.checkpoint.verify.iter_verify`) in a small dialog.

The job runs on a worker thread (:class:`~inspector.ui.worker.WorkerSlot`) with a progress bar in bytes
checked and a Cancel button; the result is the report's summary line and one line per damaged record, naming
the tensors that use it (the same lines ``inspector verify`` prints). The dialog is non-modal: the window stays
usable while a large file is checked.
"""

from __future__ import annotations

import os
from functools import partial

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector.ui.worker import WorkerSlot

PROGRESS_STEPS = 1000  # the bar counts in thousandths: byte totals overflow a QProgressBar's int


def verify_job(path: str):
    """Made on the worker thread: the verifier (and torch) is imported there."""
    from inspector.core.checkpoint.verify import iter_verify

    return iter_verify(path)


class VerifyDialog(QDialog):
    """Verifies one file in the background and shows what it found.

    Signals:
        verified(object): the ``VerifyReport`` (shown in the dialog).
        failed(str): the file could not be read at all; the one-line message (shown in the dialog).
        cancelled(): the user stopped the check.
    """

    verified = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, path: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.path = path
        self.report = None
        self._jobs = WorkerSlot("verify")
        self.setWindowTitle(f"Verify {os.path.basename(path)}")
        self.resize(640, 320)
        self.status_label = QLabel(f"Checking {path}…")
        self.status_label.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 0)
        self.result_text = QPlainTextEdit(readOnly=True)
        self.result_text.setVisible(False)
        self.buttons = QDialogButtonBox()
        self.cancel_button = QPushButton("Cancel")
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.close_button.setVisible(False)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.close_button.clicked.connect(self.close)
        layout = QVBoxLayout(self)
        for widget in (self.status_label, self.progress_bar, self.result_text, self.buttons):
            layout.addWidget(widget)

    def start(self) -> None:
        self._jobs.start(
            partial(verify_job, self.path),
            on_finished=self._on_verified,
            on_failed=self._on_failed,
            on_progress=self._on_progress_changed,
        )

    def is_busy(self) -> bool:
        return self._jobs.is_busy()

    # -- job callbacks (GUI thread) ----------------------------------------------------------------------
    def _on_progress_changed(self, record) -> None:
        if record.total:
            self.progress_bar.setRange(0, PROGRESS_STEPS)
            self.progress_bar.setValue(int(PROGRESS_STEPS * record.done / record.total))
        if record.message:
            self.status_label.setText(f"{record.message}…")

    def _on_verified(self, report) -> None:
        self.report = report
        lines = [d.line() for d in report.damaged] + [f"note: {note}" for note in report.notes]
        lines += [f"not checked: {note}" for note in report.unchecked]
        from inspector.core.checkpoint.verify import verdict_line

        self._show_outcome(verdict_line(report), lines)
        self.verified.emit(report)

    def _on_failed(self, message: str) -> None:
        self._show_outcome(f"Error: {message}", [])
        self.failed.emit(message)

    def _on_cancel_clicked(self) -> None:
        self._jobs.cancel()
        self._show_outcome("Verification cancelled.", [])
        self.cancelled.emit()

    def _show_outcome(self, summary: str, lines: list[str]) -> None:
        self.status_label.setText(summary)
        self.progress_bar.setVisible(False)
        self.result_text.setPlainText("\n".join(lines))
        self.result_text.setVisible(bool(lines))
        self.cancel_button.setVisible(False)
        self.close_button.setVisible(True)
        if not lines:  # after the pending layout requests (Close was just shown): their sizes are current
            QTimer.singleShot(0, self._fit_height)

    def _fit_height(self) -> None:
        """Without a list (an ok check, no notes), shrink to the summary and Close: the 320-pixel box sized for
        a list of damaged records is otherwise one line in a large empty dialog. The width stays."""
        if self.result_text.isVisibleTo(self):
            return
        self.buttons.layout().activate()
        layout = self.layout()
        layout.invalidate()
        layout.activate()
        width = self.width()
        height = layout.heightForWidth(width) if layout.hasHeightForWidth() else -1
        self.resize(width, max(height, self.minimumSizeHint().height()))

    # -- closing ---------------------------------------------------------------------------------------------
    def shutdown(self, msecs: int = -1) -> bool:
        """Cancel the check and wait for its thread, at most ``msecs`` (``< 0``: no limit)."""
        return self._jobs.shutdown(msecs)

    def done(self, result: int) -> None:  # Escape and Close end here too: stop the job first
        self.shutdown()
        super().done(result)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)
