"""Details of the selected tree row: what the entry is, and statistics of its values.

Statistics read every element, so they are computed by the core job
:func:`inspector.core.analysis.stats.iter_tensor_stats` on a worker thread, with progress; selecting another row
cancels the job before. Results are kept per entry, so going back to a row shows its stats at once.
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QProgressBar,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from inspector.core.checkpoint.entry_tree import EntryNode
from inspector.core.checkpoint.packed_params import describe_quantization
from inspector.core.formatting import format_bytes, format_count, format_shape, plural
from inspector.ui.worker import WorkerSlot

if TYPE_CHECKING:
    from inspector.core.analysis.stats import TensorStats
    from inspector.core.checkpoint.model import Checkpoint, TensorEntry

TENSOR_FIELDS = (
    "Key",
    "Group",
    "Module",
    "Shape",
    "Dtype",
    "Quantization",
    "Elements",
    "Size",
    "Kind",
    "Stored in",
    "Trainable",
    "Device",
)
STATS_FIELDS = ("Min", "Max", "Mean", "Std", "Zeros", "NaN", "Inf")


def _stats_job(checkpoint: Checkpoint, entry: TensorEntry):
    """Made on the worker thread: reading the tensor (and importing torch) stays off the GUI thread."""
    from inspector.core.analysis.stats import iter_tensor_stats

    return iter_tensor_stats(checkpoint.tensor(entry))


def format_float(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.6g}"


def stats_texts(stats: TensorStats) -> dict[str, str]:
    """What each statistics row shows."""
    return {
        "Min": format_float(stats.min),
        "Max": format_float(stats.max),
        "Mean": format_float(stats.mean),
        "Std": format_float(stats.std),
        "Zeros": f"{format_count(stats.zeros)} ({stats.zeros_pct:.2f}%)",
        "NaN": format_count(stats.nan),
        "Inf": format_count(stats.inf),
    }


class _Form(QGroupBox):
    """A titled form of read-only, selectable value labels."""

    def __init__(self, title: str, fields: tuple[str, ...]):
        super().__init__(title)
        layout = QFormLayout(self)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.values: dict[str, QLabel] = {}
        self._rows: dict[str, QLabel] = {}
        for name in fields:
            value = QLabel()
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            label = QLabel(f"{name}:")
            layout.addRow(label, value)
            self.values[name] = value
            self._rows[name] = label
        self.form = layout

    def set_values(self, texts: dict[str, str]) -> None:
        """Show ``texts``; rows not named there are hidden."""
        for name, value in self.values.items():
            visible = name in texts
            value.setText(texts.get(name, ""))
            value.setVisible(visible)
            self._rows[name].setVisible(visible)


class EntryDetails(QWidget):
    """Shows a tensor entry (with its statistics) or a group/module (with its totals).

    Signals:
        stats_shown(object): the ``TensorStats`` now on screen (after a job or from the cache).
        stats_failed(str): computing the statistics failed; the message is also shown in the panel.
    """

    stats_shown = Signal(object)
    stats_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None, session=None):
        super().__init__(parent)
        if session is not None:  # the window's Session: follow the open file
            session.checkpoint_changed.connect(self.set_checkpoint)
        self._checkpoint: Checkpoint | None = None
        self._entry: TensorEntry | None = None
        self._cache: dict[str, TensorStats] = {}
        self._stats_jobs = WorkerSlot("stats")

        self.title = QLabel()
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setWordWrap(True)
        self.tensor_form = _Form("Tensor", TENSOR_FIELDS + ("Class", "Tensors"))
        self.stats_form = _Form("Statistics", STATS_FIELDS)
        self.stats_status = QLabel()
        self.stats_status.setWordWrap(True)
        self.stats_progress = QProgressBar()
        self.stats_progress.setTextVisible(False)
        self.stats_progress.setMaximumHeight(8)
        self.stats_form.form.addRow(self.stats_progress)
        self.stats_form.form.addRow(self.stats_status)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.title)
        layout.addWidget(self.tensor_form)
        layout.addWidget(self.stats_form)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.clear()

    # -- what to show ------------------------------------------------------------------------------------
    def clear(self, hint: str | None = None) -> None:
        """Nothing selected; the hint says what to do next (open a file first, when none is open)."""
        self._stats_jobs.cancel()
        self._entry = None
        if hint is None:
            hint = (
                "Select a tensor to see its details and statistics."
                if self._checkpoint is not None
                else "Open a checkpoint (File › Open…, or drop a file here) to see its tensors."
            )
        self.title.setText(hint)
        self.tensor_form.hide()
        self.stats_form.hide()

    def set_checkpoint(self, checkpoint: Checkpoint | None) -> None:
        """A new file: forget cached statistics (they belong to the old file's tensors)."""
        if checkpoint is not self._checkpoint:
            self._cache.clear()
        self._checkpoint = checkpoint
        self.clear()

    def show_node(self, node: EntryNode | None) -> None:
        """Show the tree row ``node``: an entry with its stats, or a group/module with its totals."""
        if node is None or node.node_kind == "root":
            self.clear()
        elif node.entry is not None:
            self.show_entry(node.entry, module_class=self._module_class(node))
        else:
            self._show_container(node)

    def show_entry(self, entry: TensorEntry, module_class: str = "") -> None:
        self._stats_jobs.cancel()
        self._entry = entry
        name = entry.canonical_name or entry.name
        self.title.setText(f"{entry.state_label}   ({entry.name})" if entry.state_label else name)
        module = entry.module + (f" ({module_class})" if module_class else "")
        trainable = ("yes" if entry.requires_grad else "no") if entry.kind == "parameter" else "—"
        if entry.kind == "parameter" and entry.trainable_source == "frozen list":
            trainable += " (from the file's frozen list, written by fine-tuning)"
        if entry.kind == "parameter" and entry.trainable_source == "quantized":
            trainable += " (a quantized layer: nothing in it trains)"
        texts = {
            "Key": entry.key,
            "Group": entry.group or "—",
            "Module": module or "—",
            "Shape": f"{format_shape(entry.shape)}   {tuple(entry.shape)}",
            "Dtype": entry.dtype + (" (quantized)" if entry.quantized else ""),
            "Elements": format_count(entry.numel),
            "Size": f"{format_bytes(entry.nbytes)} ({format_count(entry.nbytes)} bytes)",
            "Kind": entry.kind
            + (" (estimated from its name)" if entry.kind_estimated else "")
            + (
                " (a plain tensor attribute of its module, not in its state_dict)"
                if entry.kind == "attribute"
                else ""
            )
            + (f", optimizer state of {entry.state_of}" if entry.state_of else ""),
            "Trainable": trainable,
            "Device": entry.device,
        }
        if entry.quantization:  # shown dequantized: stats and pictures are of the real values
            texts["Quantization"] = describe_quantization(entry.quantization) + "; values shown dequantized"
        if entry.packed_in:
            texts["Stored in"] = f"{entry.packed_in} (packed parameters of a quantized module)"
        self.tensor_form.setTitle("Tensor")
        self.tensor_form.set_values(texts)
        self.tensor_form.show()
        self.stats_form.show()
        cached = self._cache.get(entry.key)
        if cached is not None:
            self._show_stats(cached)
        else:
            self._start_stats(entry)

    def _show_container(self, node: EntryNode) -> None:
        self._stats_jobs.cancel()
        self._entry = None
        self.title.setText(node.path or node.name)
        texts = {
            "Class": node.class_name or "—",
            "Tensors": format_count(node.count),
            "Elements": format_count(node.numel),
            "Size": f"{format_bytes(node.nbytes)} ({format_count(node.nbytes)} bytes)",
        }
        self.tensor_form.setTitle("Group" if node.node_kind == "group" else "Module")
        self.tensor_form.set_values(texts)
        self.tensor_form.show()
        self.stats_form.hide()

    def _module_class(self, node: EntryNode) -> str:
        parent = node.parent
        return parent.class_name if parent is not None and parent.node_kind != "root" else ""

    # -- statistics --------------------------------------------------------------------------------------
    def is_busy(self) -> bool:
        return self._stats_jobs.is_busy()

    def current_entry(self) -> TensorEntry | None:
        return self._entry

    def _start_stats(self, entry: TensorEntry) -> None:
        self.stats_form.set_values({})
        if self._checkpoint is None:
            self.stats_status.setText("No file.")
            self.stats_status.show()
            self.stats_progress.hide()
            return
        numel = plural(entry.numel, "element", shown=format_count(entry.numel))
        self.stats_status.setText(f"Computing statistics over {numel}…")
        self.stats_status.show()
        self.stats_progress.setRange(0, 0)
        self.stats_progress.show()
        self._stats_jobs.start(
            partial(_stats_job, self._checkpoint, entry),
            on_finished=partial(self._on_stats_computed, entry.key),
            on_failed=self._on_stats_job_failed,
            on_progress=self._on_stats_progress_changed,
        )

    def _on_stats_progress_changed(self, record) -> None:
        if record.total > 1:
            self.stats_progress.setRange(0, record.total)
            self.stats_progress.setValue(record.done)

    def _on_stats_computed(self, key: str, stats: TensorStats) -> None:
        self._cache[key] = stats
        if self._entry is not None and self._entry.key == key:
            self._show_stats(stats)

    def _on_stats_job_failed(self, message: str) -> None:
        self.stats_progress.hide()
        self.stats_status.setText(f"Statistics failed: {message}")
        self.stats_status.show()
        self.stats_failed.emit(message)

    def _show_stats(self, stats: TensorStats) -> None:
        self.stats_progress.hide()
        self.stats_form.set_values(stats_texts(stats))
        self.stats_status.setText(
            "Min, max, mean and std are over finite values." if stats.nan or stats.inf else ""
        )
        self.stats_status.setVisible(bool(self.stats_status.text()))
        self.stats_shown.emit(stats)

    def stats_text(self, name: str) -> str:
        """The text of statistics row ``name`` (``Min``, ``Mean``…), as on screen."""
        return self.stats_form.values[name].text()

    def shutdown(self, msecs: int = -1) -> bool:
        """Stop the statistics job and wait for its thread, at most ``msecs`` (the owner calls this on close)."""
        return self._stats_jobs.shutdown(msecs)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)
