"""One tensor before and after fine-tuning, side by side, each drawn by the Weights tab's own view.

The left view reads the base file's tensor, the right one the trained weights still in memory; both are
:class:`~inspector.ui.weight_view.WeightView` (mosaic, heatmap or bars, histogram, exact stats), so a filter that
moved is seen in the same picture the user already knows. Each view reads and renders on its own worker.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from inspector.ui.weight_view import WeightView


class BeforeAfterWindow(QWidget):
    """A window with ``before`` and ``after`` views of one tensor; :meth:`show_pair` changes the tensor."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.resize(1200, 640)
        self.before = WeightView()
        self.after = WeightView()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.before)
        splitter.addWidget(self.after)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.name = ""

    def show_pair(self, name: str, base, trained) -> None:
        """``name`` (a canonical model name) from checkpoint ``base`` beside the same name in ``trained``."""
        self.name = name
        self.setWindowTitle(f"{name}: before and after fine-tuning")
        for view, ckpt, label in ((self.before, base, "before"), (self.after, trained, "after")):
            entry = next(e for e in ckpt.model_entries() if e.canonical_name == name)
            view.forget_stats()
            view.show_tensor(f"{label}: {name}  {list(entry.shape)}", lambda c=ckpt, e=entry: c.tensor(e),
                             tuple(entry.shape), f"{label}::{ckpt.path}::{entry.key}")  # fmt: skip

    def is_busy(self) -> bool:
        return self.before.is_busy() or self.after.is_busy()

    def shutdown(self) -> None:
        self.before.shutdown()
        self.after.shutdown()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)
