"""The Fine-tune tab: choose what to freeze, the data and the settings, train off the GUI thread with live
curves, then check that frozen tensors did not move and save a new checkpoint.

A thin view over :mod:`inspector.core.training`: the run is the core generator ``iter_finetune`` driven by the
app's worker (progress, Cancel between two batches); the counts while typing come from
``freeze.count_by_names``; the command line the run repeats is ``FinetuneSettings.command``. Curves are
pyqtgraph items updated with ``setData`` at most ~10 times a second. Settings persist in ``QSettings``.
"""

from __future__ import annotations

import math
import os
import time

import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from inspector.core.formatting import plural
from inspector.ui.count_axis import CountAxis
from inspector.ui.entry_tree_model import BYTES, DTYPE, KIND, NAME, SHAPE
from inspector.ui.freeze_tree_model import FreezeTreeModel
from inspector.ui.worker import WorkerSlot

DATA_KINDS = ("mnist", "fashion-mnist", "folder")
PLOT_INTERVAL_MS = 100
CHANGES_TAB = 1
_NOT_BUILT = object()  # the freeze tree shows no checkpoint yet (not even "none")


class TrainingPanel(QWidget):
    """Follows ``session.checkpoint``; ``result`` holds the last finished run (a ``FinetuneResult``)."""

    def __init__(self, session, store: QSettings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self._store = store if store is not None else QSettings("inspector", "inspector")
        self.result = None
        self._run = None
        self._slot = WorkerSlot("finetune")
        self._losses: list[tuple[int, float]] = []
        self._vals: list[tuple[int, float]] = []
        self._dirty = False
        self._started_at = 0.0
        self._run_epochs = 0
        self.trained = self.change_result = None
        self._selected_change = ""
        self._before_after = None
        self._tree_shows = _NOT_BUILT
        self._freeze_from, self._freeze_from_run = "", False  # which file the freeze patterns were chosen for
        self._build()
        self._restore_settings()
        self._timer = QTimer(self, interval=PLOT_INTERVAL_MS, timeout=self._flush_curves)
        session.checkpoint_changed.connect(self._on_checkpoint_changed)
        self._on_checkpoint_changed(session.checkpoint)

    # -- layout -------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.freeze_model = FreezeTreeModel(self)
        self.freeze_model.toggled.connect(self._on_tree_toggled)
        self.freeze_tree = QTreeView(uniformRowHeights=True, alternatingRowColors=True, indentation=12)
        self.freeze_tree.setModel(self.freeze_model)
        for column in (SHAPE, DTYPE, BYTES, KIND):
            self.freeze_tree.setColumnHidden(column, True)
        header = self.freeze_tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        self.freeze_tree.setToolTip(
            "Tick a module or a parameter to freeze it (a frozen module keeps its buffers)"
        )
        # a fixed floor, not the counts line's length: that line grew after a run ("4,832 frozen") and widened
        # the whole tab past its page (a horizontal scroll bar); it wraps instead
        self.freeze_tree.setMinimumWidth(250)
        self.freeze_edit = QLineEdit(placeholderText="conv*, bn1.*, layer1.*  (glob patterns over names)")
        self.all_but_last = QSpinBox(minimum=-1, maximum=999, value=-1, specialValueText="off")
        self.counts_label = QLabel(wordWrap=True)  # wraps: a long count must not widen the tab
        # remembered freeze patterns were chosen for another file: said once under the counts, with a way out
        self.carried_label = QLabel(wordWrap=True)
        self.clear_freeze_button = QPushButton("Clear", clicked=self.clear_freeze)
        self.clear_freeze_button.setToolTip("Forget the remembered freeze patterns: nothing frozen")
        self.carried_note = QWidget(visible=False)
        carried_row = QHBoxLayout(self.carried_note)
        carried_row.setContentsMargins(0, 0, 0, 0)
        carried_row.addWidget(self.carried_label, 1)
        carried_row.addWidget(self.clear_freeze_button)
        self.data_kind = QComboBox()
        self.data_kind.addItems(DATA_KINDS)
        self.data_root = QLineEdit(placeholderText="data root (torchvision layout) or image folder")
        browse = QPushButton("Browse…", clicked=self._browse_data)
        data_row = QHBoxLayout()
        for w in (self.data_kind, self.data_root, browse):
            data_row.addWidget(w)
        self.epochs = QSpinBox(minimum=1, maximum=1000, value=1)
        self.lr = QDoubleSpinBox(decimals=6, minimum=1e-6, maximum=10.0, singleStep=1e-4, value=1e-3)
        self.batch = QSpinBox(minimum=1, maximum=65536, value=128)
        self.optimizer = QComboBox()
        self.optimizer.addItems(("adam", "adamw", "sgd"))
        self.schedule = QComboBox()
        self.schedule.addItems(("none", "step", "cosine"))
        self.device = QComboBox()
        self.device.addItems(("auto", "cpu", "cuda"))
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.limit = QSpinBox(minimum=0, maximum=10**8, value=0, specialValueText="all")
        self.new_head = QSpinBox(minimum=1, maximum=100000, value=1, specialValueText="keep")
        self.new_head.setToolTip("Replace the last Linear layer with a fresh one of this many classes, for data "
                                 "with another number of classes (it trains even when its old layer was frozen)")  # fmt: skip
        self.update_bn = QCheckBox("BatchNorm statistics of frozen layers update")
        self.update_bn.setToolTip("Off (the default): frozen BatchNorm layers stay in eval mode, so their running "
                                  "mean and variance do not move either.")  # fmt: skip
        self.tensorboard = QLineEdit(placeholderText="optional TensorBoard log folder")
        form = QFormLayout()
        form.addRow("Freeze", self.freeze_edit)
        form.addRow("or all but last N", self.all_but_last)
        form.addRow("Data", data_row)
        grid = QGridLayout()
        pairs = (("Epochs", self.epochs), ("Learning rate", self.lr), ("Batch size", self.batch),
                 ("Optimizer", self.optimizer), ("Schedule", self.schedule), ("Device", self.device),
                 ("Seed", self.seed), ("Images", self.limit), ("New head", self.new_head))  # fmt: skip
        for i, (label, w) in enumerate(pairs):
            grid.addWidget(QLabel(label), i // 2, 2 * (i % 2))
            grid.addWidget(w, i // 2, 2 * (i % 2) + 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        form.addRow(grid)
        form.addRow("", self.update_bn)
        form.addRow("TensorBoard", self.tensorboard)
        self.start_button = QPushButton("Start", clicked=self.start)
        self.cancel_button = QPushButton("Cancel", clicked=self.cancel, enabled=False)
        self.save_button = QPushButton("Save as…", clicked=self._ask_save, enabled=False)
        self.copy_button = QPushButton("Copy as command", clicked=self.copy_command)
        self.retry_cpu_button = QPushButton("Retry on CPU", clicked=self.retry_on_cpu, visible=False)
        self.retry_cpu_button.setToolTip("The GPU ran out of memory (it was released): train on the CPU")
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.save_button, self.copy_button):
            buttons.addWidget(b)
        buttons.addWidget(self.retry_cpu_button)
        self.progress = QProgressBar(textVisible=True)
        self.status = QLabel(wordWrap=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        tree_box = QWidget()
        tree_layout = QVBoxLayout(tree_box)
        tree_layout.setContentsMargins(0, 0, 0, 0)
        tree_layout.addWidget(self.freeze_tree, 1)
        tree_layout.addWidget(self.counts_label)
        tree_layout.addWidget(self.carried_note)
        settings_box = QWidget()
        settings_layout = QVBoxLayout(settings_box)
        settings_layout.setContentsMargins(0, 0, 0, 0)
        settings_layout.addLayout(form)
        settings_layout.addStretch(1)
        setup = QSplitter(Qt.Orientation.Horizontal)
        setup.addWidget(tree_box)
        setup.addWidget(settings_box)
        setup.setSizes([300, 340])
        self.results = QTabWidget()
        self.results.addTab(self._build_curves(), "Curves")
        self.results.addTab(self._build_changes(), "Changes")
        self.results.setTabEnabled(CHANGES_TAB, False)
        main = QSplitter(Qt.Orientation.Vertical)
        main.addWidget(setup)
        run_box = QWidget()
        run_layout = QVBoxLayout(run_box)
        run_layout.setContentsMargins(0, 0, 0, 0)
        run_layout.addLayout(buttons)
        run_layout.addWidget(self.progress)
        run_layout.addWidget(self.status)
        run_layout.addWidget(self.results, 1)
        main.addWidget(run_box)
        main.setSizes([330, 420])
        layout = QVBoxLayout(self)
        layout.addWidget(main)
        self.freeze_edit.textChanged.connect(self._update_counts)
        self.freeze_edit.textEdited.connect(self._freeze_chosen_here)
        self.all_but_last.valueChanged.connect(self._freeze_chosen_here)
        self.all_but_last.valueChanged.connect(self._update_counts)
        self.new_head.valueChanged.connect(self._update_counts)

    def _build_curves(self) -> QWidget:
        self.loss_plot = pg.PlotWidget(
            title="training loss (per batch)", axisItems={"bottom": CountAxis("bottom")}
        )
        self.loss_plot.setLabel("bottom", "step")
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen("#1f77b4", width=2))
        self.acc_plot = pg.PlotWidget(title="validation accuracy", axisItems={"bottom": CountAxis("bottom")})
        self.acc_plot.setLabel("bottom", "epoch")
        self.acc_curve = self.acc_plot.plot([], [], pen=pg.mkPen("#2ca02c", width=2), symbol="o")
        self.acc_plot.setYRange(0, 1)
        box = QWidget()
        plots = QHBoxLayout(box)
        plots.setContentsMargins(0, 0, 0, 0)
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.acc_plot)
        return box

    def _build_changes(self) -> QWidget:
        from inspector.ui.diff_view import DiffView

        self.changes = DiffView(show_difference=False)
        self.changes.row_selected.connect(self._on_change_selected)
        self.show_weights_button = QPushButton("Show in weights view: before | after", enabled=False,
                                               clicked=self.show_before_after)  # fmt: skip
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.changes, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.show_weights_button)
        layout.addLayout(row)
        return box

    # -- settings -----------------------------------------------------------------------------------------------
    def settings(self):
        from inspector.core.training.freeze import parse_patterns
        from inspector.core.training.settings import FinetuneSettings

        return FinetuneSettings(
            data=f"{self.data_kind.currentText()}:{self.data_root.text().strip()}",
            freeze=tuple(parse_patterns(self.freeze_edit.text())),
            all_but_last=None if self.all_but_last.value() < 0 else self.all_but_last.value(),
            epochs=self.epochs.value(), lr=self.lr.value(), batch_size=self.batch.value(),
            optimizer=self.optimizer.currentText(), schedule=self.schedule.currentText(),
            device=self.device.currentText(), seed=self.seed.value(), limit=self.limit.value() or None,
            update_frozen_bn=self.update_bn.isChecked(), tensorboard=self.tensorboard.text().strip() or None,
            new_head=self.new_head.value() if self.new_head.value() > 1 else None,
        )  # fmt: skip

    def _restore_settings(self) -> None:
        store = self._store
        self.freeze_edit.setText(str(store.value("finetune/freeze", "")))
        kind = str(store.value("finetune/data_kind", "mnist"))
        self.data_kind.setCurrentText(kind if kind in DATA_KINDS else "mnist")
        root = store.value("finetune/data_root", "")
        if not root:
            from inspector.core.data.data_root import last_data_root

            root = str(last_data_root() or "")
        self.data_root.setText(str(root))
        for key, widget, cast in (("epochs", self.epochs, int), ("batch", self.batch, int), ("seed", self.seed, int),
                                  ("lr", self.lr, float), ("limit", self.limit, int),
                                  ("new_head", self.new_head, int)):  # fmt: skip
            value = store.value(f"finetune/{key}")
            if value is not None:
                widget.setValue(cast(value))
        for key, combo in (
            ("optimizer", self.optimizer),
            ("schedule", self.schedule),
            ("device", self.device),
        ):
            value = store.value(f"finetune/{key}")
            if value:
                combo.setCurrentText(str(value))
        self.update_bn.setChecked(str(store.value("finetune/update_bn", "false")).lower() == "true")
        self.tensorboard.setText(str(store.value("finetune/tensorboard", "")))
        self._freeze_from = str(store.value("finetune/freeze_from", ""))  # the file the patterns were run on
        self._freeze_from_run = bool(self._freeze_from)

    def _store_settings(self) -> None:
        store = self._store
        store.setValue("finetune/freeze", self.freeze_edit.text())
        store.setValue("finetune/freeze_from", self._freeze_from)
        store.setValue("finetune/data_kind", self.data_kind.currentText())
        store.setValue("finetune/data_root", self.data_root.text())
        for key, widget in (
            ("epochs", self.epochs),
            ("batch", self.batch),
            ("seed", self.seed),
            ("lr", self.lr),
            ("limit", self.limit),
            ("new_head", self.new_head),
        ):
            store.setValue(f"finetune/{key}", widget.value())
        store.setValue("finetune/update_bn", self.update_bn.isChecked())
        store.setValue("finetune/tensorboard", self.tensorboard.text())
        for key, combo in (
            ("optimizer", self.optimizer),
            ("schedule", self.schedule),
            ("device", self.device),
        ):
            store.setValue(f"finetune/{key}", combo.currentText())

    # -- following the session ------------------------------------------------------------------------------------
    def _on_checkpoint_changed(self, checkpoint) -> None:
        self._slot.cancel()
        self._forget_run()
        self.start_button.setEnabled(checkpoint is not None)
        self._show_carried_note(checkpoint)
        self._tree_shows = _NOT_BUILT
        if self.isVisible():
            self._sync_tree()
        self._update_counts()

    def _show_carried_note(self, checkpoint) -> None:
        """Remembered patterns (an issue asked for them) that came from another file are said, not applied
        silently: a demo net's "conv1, bn1" would otherwise tick resnet18's conv1 and bn1."""
        origin = self._freeze_from
        carried = (checkpoint is not None and origin and self._has_freeze()
                   and os.path.abspath(origin) != os.path.abspath(checkpoint.path))  # fmt: skip
        if carried:
            where = (f"from the last run ({os.path.basename(origin)})" if self._freeze_from_run
                     else f"set for {os.path.basename(origin)}")  # fmt: skip
            self.carried_label.setText(f"freeze patterns {where}; Clear to start over")
        self.carried_note.setVisible(bool(carried))

    def _has_freeze(self) -> bool:
        return bool(self.freeze_edit.text().strip()) or self.all_but_last.value() >= 0

    def _freeze_chosen_here(self, *_) -> None:
        """The user changed what is frozen: the patterns now belong to the open file."""
        ckpt = self.session.checkpoint
        if ckpt is not None:
            self._freeze_from, self._freeze_from_run = ckpt.path, False
        self.carried_note.hide()

    def clear_freeze(self) -> None:
        """Start over: nothing frozen, no carried-over note."""
        self.freeze_edit.setText("")
        self.all_but_last.setValue(-1)
        self._freeze_chosen_here()

    def _sync_tree(self) -> None:
        """Build the freeze tree for the open file, once, when the tab is first shown (opening a big file
        does not pay for a tree nobody looks at)."""
        checkpoint = self.session.checkpoint
        if self._tree_shows is checkpoint:
            return
        self._tree_shows = checkpoint
        self.freeze_model.set_checkpoint(checkpoint)
        if len(self.freeze_model.parameter_names) <= 40:  # small models open with their parameters in view
            self.freeze_tree.expandToDepth(0)
        self._update_counts()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._sync_tree()

    def _forget_run(self) -> None:
        """Nothing of an earlier run stays on screen (a new file, or a new run starting)."""
        self.result, self.trained, self.change_result = None, None, None
        self._losses.clear()
        self._vals.clear()
        self._last_step = None
        self._flush_curves(force=True)
        self.progress.reset()
        self.progress.setFormat("%p%")
        self.status.setText("")
        self.save_button.setEnabled(False)
        self.results.setTabEnabled(CHANGES_TAB, False)
        self.results.setTabText(CHANGES_TAB, "Changes")
        self.show_weights_button.setEnabled(False)
        if self._before_after is not None:
            self._before_after.close()

    def _parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        ckpt = self.session.checkpoint
        if ckpt is None:
            return {}
        return {e.canonical_name: tuple(e.shape) for e in ckpt.model_entries() if e.kind == "parameter"}

    def _update_counts(self) -> None:
        from inspector.core.formatting import format_count
        from inspector.core.training.freeze import (
            count_by_names,
            frozen_by_names,
            new_head_sizes,
            parse_patterns,
        )

        shapes = self._parameter_shapes()
        sizes = {name: math.prod(shape) for name, shape in shapes.items()}
        if not sizes:
            self.counts_label.setText("open a checkpoint to see what trains")
            self.freeze_model.set_frozen(set())
            return
        n = self.all_but_last.value()
        patterns, last = parse_patterns(self.freeze_edit.text()), None if n < 0 else n
        head = new_head_sizes(shapes, self.new_head.value()) if self.new_head.value() > 1 else {}
        trainable, frozen = count_by_names(sizes, patterns, last, head)
        self.freeze_model.set_frozen(frozen_by_names(list(sizes), patterns, last) - set(head))
        both = " (the patterns and the last-N rule together)" if patterns and last is not None else ""
        module = next(iter(head), "").rpartition(".")[0]
        new = (f"; new head {module} ({self.new_head.value()} classes, {format_count(sum(head.values()))}, "
               "trains)" if head else "")  # fmt: skip
        self.counts_label.setText(
            f"{format_count(trainable)} trainable, {format_count(frozen)} frozen parameters{both}{new}"
        )

    def _on_tree_toggled(self, frozen: set) -> None:
        """A box was ticked: the pattern box takes the names that freeze exactly what is now ticked."""
        from inspector.core.training.freeze import patterns_for

        self.all_but_last.blockSignals(True)
        self.all_but_last.setValue(-1)
        self.all_but_last.blockSignals(False)
        self.freeze_edit.setText(", ".join(patterns_for(set(frozen), self.freeze_model.parameter_names)))
        self._freeze_chosen_here()

    def _browse_data(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Data root", self.data_root.text())
        if folder:
            self.data_root.setText(folder)

    # -- running ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        ckpt = self.session.checkpoint
        if ckpt is None:
            return
        settings = self.settings()
        self._freeze_from, self._freeze_from_run = ckpt.path, True
        self.carried_note.hide()
        self._store_settings()
        self._run_epochs = settings.epochs
        spec, trusted = self.session.model_class or None, self.session.model_class_trusted

        def make_job():
            from inspector.core.training.changes import iter_changes, trained_checkpoint
            from inspector.core.training.prepare import iter_guarded, prepare_run
            from inspector.core.training.tensorboard import iter_logged_finetune

            run = prepare_run(ckpt, settings, spec, trust_class=trusted)
            self._run = run
            result = yield from iter_guarded(iter_logged_finetune(run), run.device, settings.batch_size)
            trained = trained_checkpoint(result.module, ckpt.path)
            changes = yield from _full_bar(iter_changes(ckpt, trained))
            return result, trained, changes

        self._forget_run()
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.save_button.setEnabled(False)
        self.progress.setValue(0)
        self.status.setText("preparing the model and the data…")
        self._started_at = time.monotonic()
        self._timer.start()
        self.retry_cpu_button.hide()
        self._worker = self._slot.start(make_job, self._on_finished, self._on_failed, self._on_progress)

    def retry_on_cpu(self) -> None:
        """After running out of GPU memory: the same run with the device set to cpu."""
        self.device.setCurrentText("cpu")
        self.start()

    def cancel(self) -> None:
        self._slot.cancel()
        self._end_run()
        step = self._last_step  # the bar no longer counts down: where the run stopped, without an ETA
        self.progress.setFormat(f"cancelled at epoch {step.epoch}, batch {step.batch}" if step is not None
                                else "cancelled before training")  # fmt: skip
        self.status.setText("cancelled between two batches: the model holds whole optimizer steps; nothing saved, "
                            "the file is unchanged")  # fmt: skip

    def _on_progress(self, record) -> None:
        from inspector.core.training.loop import BaselineRecord, EpochRecord, StepRecord

        payload = record.payload
        if record.total:
            self.progress.setMaximum(record.total)
            self.progress.setValue(record.done)
            elapsed = time.monotonic() - self._started_at
            eta = elapsed / record.done * (record.total - record.done) if record.done else 0
            left = f" — ETA {eta:.0f} s" if 0 < record.done < record.total else ""
            self.progress.setFormat(f"{record.message}{left}")
        if isinstance(payload, StepRecord):
            self._last_step = payload
            if payload.loss is not None:
                self._losses.append((payload.step, payload.loss))
                self._dirty = True
        elif isinstance(payload, BaselineRecord):
            self._vals.insert(0, (0, payload.accuracy))  # plotted when measured, not when the run ends
            self._dirty = True
        elif isinstance(payload, EpochRecord):
            self._vals.append((payload.epoch, payload.val_accuracy))
            self._dirty = True
        self.status.setText(_phase(record, self._run_epochs))

    def _flush_curves(self, force: bool = False) -> None:
        if not (self._dirty or force):
            return
        self._dirty = False
        self.loss_curve.setData([s for s, _ in self._losses], [v for _, v in self._losses])
        self.acc_curve.setData([e for e, _ in self._vals], [v for _, v in self._vals])

    def _on_finished(self, outcome) -> None:
        result, self.trained, self.change_result = outcome
        self.result = result
        self.progress.setFormat(f"finished in {time.monotonic() - self._started_at:.1f} s")
        self._end_run()
        if not self._vals or self._vals[0][0] != 0:  # the baseline record normally drew it already
            self._vals.insert(0, (0, result.val_accuracy_before))
        self._flush_curves(force=True)
        check = ("every frozen tensor is bitwise unchanged" if result.frozen_unchanged
                 else f"frozen tensors CHANGED: {', '.join(result.frozen_changed)}")  # fmt: skip
        self.status.setText(
            f"validation accuracy {result.val_accuracy_before:.2%} → {result.val_accuracy_after:.2%}; {check} "
            f"({plural(len(result.checked), 'tensor')}{_updated(result)}); {result.samples_per_second:.0f} images/s on "
            f"{result.device}. Save as… writes a new checkpoint."
        )
        if self._run is not None:
            self.status.setText(f"{self.status.text()}\ndata: {self._run.data.note}")
        folder = self._run.settings.tensorboard if self._run is not None else None
        if folder:
            from inspector.core.training.tensorboard import open_command

            self.status.setText(
                f"{self.status.text()}\nTensorBoard log: {folder} (open with: {open_command(folder)})"
            )
        self.save_button.setEnabled(True)
        changed = len(self.change_result.changed)
        self.results.setTabText(
            CHANGES_TAB, f"Changes ({changed} of {plural(len(self.change_result.tensors), 'tensor')})"
        )
        self.results.setTabEnabled(CHANGES_TAB, True)
        self.changes.set_result(self.change_result, self.session.checkpoint, self.trained)

    def _on_change_selected(self, name: str) -> None:
        self.show_weights_button.setEnabled(self.trained is not None and self.change_result is not None
                                            and any(t.name == name and not t.shape_mismatch
                                                    for t in self.change_result.tensors))  # fmt: skip
        self._selected_change = name
        if (
            self._before_after is not None
            and self._before_after.isVisible()
            and self.show_weights_button.isEnabled()
        ):
            self._before_after.show_pair(name, self.session.checkpoint, self.trained)

    def show_before_after(self) -> None:
        """The selected changed tensor, before (base file) beside after (trained), in two weights views."""
        from inspector.ui.before_after_view import BeforeAfterWindow

        if self._before_after is None:
            self._before_after = BeforeAfterWindow(self)
        self._before_after.show_pair(self._selected_change, self.session.checkpoint, self.trained)
        self._before_after.show()
        self._before_after.raise_()

    def _on_failed(self, message: str) -> None:
        from inspector.core.errors import OutOfDeviceMemoryError

        self._end_run()
        self.status.setText(f"error: {message}")
        worker = getattr(self, "_worker", None)
        self.retry_cpu_button.setVisible(
            worker is not None and isinstance(worker.error, OutOfDeviceMemoryError)
        )

    def _end_run(self) -> None:
        self._timer.stop()
        self._flush_curves()
        self.start_button.setEnabled(self.session.checkpoint is not None)
        self.cancel_button.setEnabled(False)

    # -- saving and the command -----------------------------------------------------------------------------------
    def default_out(self) -> str:
        base = self.session.checkpoint.path
        stem, ext = os.path.splitext(base)
        return f"{stem}-finetuned{ext or '.pth'}"

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save fine-tuned checkpoint", self.default_out(),
                                              "Checkpoints (*.pth *.pt *.ckpt)")  # fmt: skip
        if path:
            self.save(path, confirm=True)

    def save(self, path: str, confirm: bool = False) -> str | None:
        """Write the run's checkpoint to ``path``; the base file only after a confirmation."""
        from inspector.core.errors import InspectorError
        from inspector.core.training.prepare import checkpoint_dict
        from inspector.core.training.saving import atomic_torch_save, check_target, sha256_of

        base = self.session.checkpoint.path
        overwrite = False
        same = os.path.exists(path) and os.path.samefile(path, base)
        if os.path.exists(path) and confirm:
            text = (
                "This is the file you are fine-tuning. Replace it?" if same else f"{path} exists. Replace it?"
            )
            answer = QMessageBox.question(
                self, "Replace file?", text, defaultButton=QMessageBox.StandardButton.No
            )
            overwrite = answer == QMessageBox.StandardButton.Yes
            if not overwrite:
                return None
        try:  # the core's one rule: the base file only with replace_base (confirmed here), others with overwrite
            rule = {"base": base, "overwrite": overwrite, "replace_base": overwrite and same}
            out = check_target(path, **rule)
            atomic_torch_save(
                checkpoint_dict(self.result, self._run, os.path.abspath(base), sha256_of(base)), out, **rule
            )
        except InspectorError as exc:
            self.status.setText(f"error: {exc.gui_message}")
            return None
        self.status.setText(f"{self.status.text()}\nsaved {out}")
        return out

    def command(self) -> str:
        ckpt = self.session.checkpoint
        path = ckpt.path if ckpt is not None else "FILE"
        return self.settings().command(path, self.default_out() if ckpt else "OUT.pth",
                                       self.session.model_class or None,
                                       self.session.trusted or self.session.model_class_trusted)  # fmt: skip

    def copy_command(self) -> None:
        QApplication.clipboard().setText(self.command())
        self.status.setText(f"copied: {self.command()}")

    def shutdown(self, msecs: int = 2000) -> bool:
        self.changes.shutdown()
        if self._before_after is not None:
            self._before_after.shutdown()
        return self._slot.shutdown(msecs)


def _phase(record, epochs: int) -> str:
    """The status line's phase for a progress record: the validation before, training epoch N of ``epochs``,
    the validation after epoch N, comparing tensors (the bar beside it carries the batch count and the ETA)."""
    from inspector.core.training.loop import StepRecord

    if isinstance(record.payload, StepRecord):
        return f"training: epoch {record.payload.epoch}/{epochs}"
    head, sep, tail = record.message.rpartition(": batch ")
    return head if sep and tail.replace("/", "").isdigit() else record.message


def _updated(result) -> str:
    n = len(result.updated_buffers)
    return f"; {n} BatchNorm statistics of frozen layers updated, as allowed" if n else ""


def _full_bar(job):
    """Pass ``job``'s messages on with a full bar: the training is done, the diff only reads tensors."""
    from inspector.core.jobs import Progress

    while True:
        try:
            record = next(job)
        except StopIteration as stop:
            return stop.value
        yield Progress(1, 1, record.message)
