"""The Features tab: run an input through the model and see every layer's output, the prediction, and what
zeroing chosen channels does to it.

Input: a digit drawn on a canvas (it starts with one rendered from a font, so no data is needed), an MNIST image
from a data root (by index, by label, at random; the true label is shown) or an image file. The model is the
session's runnable module (a known architecture, the file's own module when trusted, or a model class the user
chose); the preprocessing it implies is shown and can be edited. Every run (building the model, preprocessing,
the forward pass with hooks) happens on a worker thread with progress and Cancel; a new input redraws the open
layer in place. Channels picked on the mosaic (click; Ctrl+click for more) are zeroed by "Zero and re-run", and
the prediction shows before and after side by side.

Signals:
    result_shown(object): a ``FeatureResult`` is on screen.
    failed(str): building or running failed; the message is shown in the view.
"""

from __future__ import annotations

import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.errors import InspectorError
from inspector.ui.aspect_image import AspectImage, SquarePair
from inspector.ui.digit_canvas import DigitCanvas
from inspector.ui.prediction_plot import PredictionPlot
from inspector.ui.tensor_image import TensorImage
from inspector.ui.worker import WorkerSlot

SOURCES = (("Drawn digit", "canvas"), ("MNIST", "mnist"), ("Image file", "image"))
DEVICES = ("auto", "cpu", "cuda")
NORMALIZATIONS = (("shared scale", "shared"), ("per channel", "channel"))


def _run_job(cached, make_model, sample, ablate, preprocess, want_before):
    """Made on the worker thread: the model is built there (imports torch/torchvision), then one or two runs."""
    from inspector.core.activations.features import iter_run

    model = cached if cached is not None else (yield from make_model())
    before = (yield from iter_run(model, sample, None, preprocess)) if want_before else None
    result = yield from iter_run(model, sample, ablate, preprocess)
    return model, result, before


def _floats(text: str, channels: int, what: str) -> tuple[float, ...]:
    """``"0.1307"`` or ``"0.485, 0.456, 0.406"`` as one value per channel."""
    try:
        values = tuple(float(v) for v in text.replace(";", ",").split(",") if v.strip())
    except ValueError:
        raise InspectorError(f"{what}: write numbers separated by commas") from None
    if len(values) == 1:
        values *= channels
    if len(values) != channels:
        raise InspectorError(f"{what}: give 1 or {channels} values")
    return values


def zeroed_text(ablated: dict[str, list[int]]) -> str:
    """``{"conv1": [3, 5]}`` as "conv1 channels 3, 5" (unit for a Linear layer's outputs reads the same)."""
    return "; ".join(
        f"{layer} channel{'s' if len(channels) > 1 else ''} {', '.join(map(str, channels))}"
        for layer, channels in ablated.items()
    )


class FeatureMapView(QWidget):
    """See module docstring."""

    result_shown = Signal(object)
    failed = Signal(str)

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.model = None  # FeatureModel of the last run
        self.result = None  # FeatureResult on screen
        self.before = None  # FeatureResult without ablation, when the one on screen has some
        self.layer_name = ""
        self.mosaic = None
        self.selected: list[int] = []
        self.samples = None  # MnistSamples
        self.image_sample = None  # InputImage from a file
        self.preprocess = None  # edited preprocessing, or None for the model's own
        self._jobs = WorkerSlot("features")
        self._run_worker = None  # the JobWorker of the last run: its error says whether to offer the CPU
        self._last_ablate: dict[str, list[int]] = {}
        self._pending = False
        self._pending_pick: tuple[str, int] | None = None  # a filter picked in the weights view before a run
        self._build()
        session.checkpoint_changed.connect(self._on_checkpoint_changed)
        session.model_class_changed.connect(lambda _spec: self._on_checkpoint_changed(session.checkpoint))
        session.selection_changed.connect(self._on_selection_changed)
        session.ablation_requested.connect(self._on_ablation_requested)
        if session.entry is not None:  # made after a tensor was picked (the tab is built on first show)
            self._on_selection_changed(session.entry)

    # -- construction --------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.source_combo = QComboBox()
        for label, key in SOURCES:
            self.source_combo.addItem(label, key)
        self.source_combo.currentIndexChanged.connect(self._on_source_changed)
        self.root_button = QPushButton("Data root…")
        self.root_button.clicked.connect(self._on_root_clicked)
        self.index_spin = QSpinBox()
        self.index_spin.setRange(0, 0)
        self.index_spin.setPrefix("#")
        self.index_spin.valueChanged.connect(self._on_index_changed)
        self.label_combo = QComboBox()
        self._fill_label_combo(tuple(str(digit) for digit in range(10)))
        self.label_combo.activated.connect(self._on_label_chosen)
        self.random_button = QPushButton("Random")
        self.random_button.clicked.connect(self._on_random_clicked)
        self.image_button = QPushButton("Open image…")
        self.image_button.clicked.connect(self._on_image_clicked)
        self.device_combo = QComboBox()
        self.device_combo.addItems(DEVICES)
        self.device_combo.setToolTip("Where the model runs; asking for CUDA without a GPU is an error")
        self.device_combo.currentIndexChanged.connect(lambda _i: self.run())
        self.class_button = QPushButton("Choose model class…")
        self.class_button.setToolTip(
            "The Python class that defines a bare state dict's model (runs its file)"
        )
        self.class_button.clicked.connect(self._on_class_clicked)
        top = QHBoxLayout()
        for widget in (QLabel("Input:"), self.source_combo, self.root_button, self.index_spin, self.label_combo,
                       self.random_button, self.image_button):  # fmt: skip
            top.addWidget(widget)
        top.addStretch(1)

        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_label, 1)
        model_row.addWidget(QLabel("Device:"))
        model_row.addWidget(self.device_combo)
        model_row.addWidget(self.class_button)
        self.mean_edit, self.std_edit = QLineEdit(), QLineEdit()
        for edit, tip in ((self.mean_edit, "mean per channel"), (self.std_edit, "std per channel")):
            edit.setToolTip(f"Normalisation {tip}, comma-separated; Enter re-runs")
            edit.setMaximumWidth(130)
            edit.editingFinished.connect(self._on_preprocess_edited)
        self.invert_check = QCheckBox("invert")
        self.invert_check.setToolTip("Black digit on white: invert to MNIST's white on black")
        self.invert_check.toggled.connect(self._on_preprocess_edited)
        self.preprocess_label = QLabel()
        self.preprocess_label.setWordWrap(True)
        self.preprocess_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        pre = QHBoxLayout()
        for widget in (QLabel("Preprocess:"), QLabel("mean"), self.mean_edit, QLabel("std"), self.std_edit,
                       self.invert_check):  # fmt: skip
            pre.addWidget(widget)
        pre.addWidget(self.preprocess_label, 1)

        # left: the input and the prediction
        self.canvas = DigitCanvas()
        self.canvas.changed.connect(self._on_canvas_changed)
        self.input_view = AspectImage()  # drawn to fit on every resize: never cropped, never squeezed
        self.input_stack = QStackedWidget()
        self.input_stack.addWidget(self.canvas)
        self.input_stack.addWidget(self.input_view)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.canvas.clear)
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.canvas.undo)
        for button in (self.clear_button, self.undo_button):  # as wide as their word: the caption beside them
            button.setFixedWidth(button.fontMetrics().horizontalAdvance(button.text()) + 24)  # stays one line
        self.input_caption = QLabel()
        self.input_caption.setWordWrap(True)
        self.channel_view = TensorImage(
            colorbar=False
        )  # its scale is in the caption: the picture gets the room
        self.channel_view.setMinimumSize(0, 0)
        self.channel_view.hide()  # until a channel is picked
        self.channel_caption = QLabel()
        self.channel_caption.setWordWrap(True)
        self.prediction_plot = PredictionPlot()
        self.prediction_label = QLabel()
        self.prediction_label.setWordWrap(True)
        font = self.prediction_label.font()
        font.setBold(True)
        self.prediction_label.setFont(font)
        self.ablate_button = QPushButton(
            "Zero and re-run"
        )  # enabled, with its tooltip, by _update_ablation_controls
        self.ablate_button.clicked.connect(self._on_ablate_clicked)
        self.restore_button = QPushButton("Restore")
        self.restore_button.clicked.connect(self._on_restore_clicked)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.input_pair = SquarePair(self.input_stack, self.channel_view)
        left_layout.addWidget(self.input_pair, 3)
        buttons = QHBoxLayout()
        for widget in (self.clear_button, self.undo_button):
            buttons.addWidget(widget)
        buttons.addWidget(self.input_caption, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.channel_caption)
        ablation = QHBoxLayout()
        ablation.addWidget(self.ablate_button)
        ablation.addWidget(self.restore_button)
        ablation.addStretch(1)
        left_layout.addLayout(ablation)
        left_layout.addWidget(self.prediction_label)
        left_layout.addWidget(self.prediction_plot, 2)

        # right: layers and the picture of one
        self.layer_list = QListWidget()
        self.layer_list.setMinimumWidth(190)
        self.layer_list.setMaximumWidth(260)
        self.layer_list.currentRowChanged.connect(self._on_layer_row_changed)
        self.normalize_combo = QComboBox()
        for label, mode in NORMALIZATIONS:
            self.normalize_combo.addItem(label, mode)
        self.normalize_combo.setToolTip(
            "Colour scale: one for all channels, or each channel by its own max |v|"
        )
        self.normalize_combo.currentIndexChanged.connect(lambda _i: self._draw_layer(keep_view=False))
        self.scale_check = QCheckBox("scale before zeroing")
        self.scale_check.setChecked(True)
        self.scale_check.hide()  # until there is a zeroed run (shown by _draw_layer)
        self.scale_check.setToolTip(
            "After Zero and re-run: colour the maps on the scale of the run before zeroing, so that before and "
            "after compare colour for colour (unticked: the zeroed run's own scale)"
        )
        self.scale_check.toggled.connect(lambda _on: self._draw_layer())
        self.export_button = QPushButton("Export PNG…")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.layer_title = QLabel()
        self.layer_title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        tools = QHBoxLayout()  # below the picture, beside the hover read-out: the title above keeps its width
        for widget in (self.scale_check, self.normalize_combo, self.export_button):
            tools.addWidget(widget)
        self.map_view = TensorImage()
        self.map_view.hover_text = self.hover_text
        self.map_view.hovered.connect(lambda text: self.hover_label.setText(text or " "))
        self.map_view.clicked.connect(self._on_map_clicked)
        self.bar_plot = pg.PlotWidget()
        self.bar_plot.setLabel("bottom", "unit")
        self.bar_plot.setLabel("left", "output")
        self.bar_plot.scene().sigMouseClicked.connect(self._on_bars_clicked)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8)
        self.bar_plot.addItem(self.bars)
        self.picture_stack = QStackedWidget()
        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        for widget in (self.message, self.map_view, self.bar_plot):
            self.picture_stack.addWidget(widget)
        self.hover_label = QLabel(" ")
        self.hover_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        tools.insertWidget(0, self.hover_label, 1)
        picture = QWidget()
        picture_layout = QVBoxLayout(picture)
        picture_layout.setContentsMargins(0, 0, 0, 0)
        picture_layout.addWidget(self.layer_title)
        picture_layout.addWidget(self.picture_stack, 1)
        picture_layout.addLayout(tools)
        right = QSplitter(Qt.Orientation.Horizontal)
        right.addWidget(self.layer_list)
        right.addWidget(picture)
        right.setStretchFactor(1, 1)
        right.setSizes([190, 600])

        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(left)
        body.addWidget(right)
        body.setStretchFactor(0, 2)
        body.setStretchFactor(1, 5)
        body.setSizes([260, 640])

        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(10)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel()
        self.retry_cpu_button = QPushButton("Retry on CPU")
        self.retry_cpu_button.setToolTip(
            "The GPU ran out of memory (it was released): run this input on the CPU"
        )
        self.retry_cpu_button.clicked.connect(self.retry_on_cpu)
        self.retry_cpu_button.hide()  # shown after an out-of-memory failure
        self.notice = QLabel()  # a start-up option that could not be used: stays until the input changes
        self.notice.setWordWrap(True)
        self.notice.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.notice.setStyleSheet("color: #b00020;")
        self.notice.hide()
        status = QHBoxLayout()
        status.addWidget(self.status, 1)
        status.addWidget(self.retry_cpu_button)
        status.addWidget(self.progress)
        status.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(model_row)
        layout.addLayout(pre)
        layout.addWidget(body, 1)
        layout.addWidget(self.notice)
        layout.addLayout(status)
        self._set_busy(False)
        self._update_source_controls()
        self._update_ablation_controls()
        self._show_message("Open a checkpoint to run an input through its model.")

    # -- inputs --------------------------------------------------------------------------------------------
    def source(self) -> str:
        return self.source_combo.currentData()

    def current_sample(self):
        from inspector.core.activations.features import InputImage

        if self.source() == "mnist" and self.samples is not None:
            return self.samples.sample(self.index_spin.value())
        if self.source() == "image" and self.image_sample is not None:
            return self.image_sample
        return InputImage(self.canvas.image(), "drawn digit")

    def set_source(self, key: str) -> None:
        self.source_combo.setCurrentIndex(self.source_combo.findData(key))

    def set_data_root(self, root) -> bool:
        """Read MNIST from ``root``; True when it had a split (else the message says why)."""
        from inspector.core.activations.features import MnistSamples
        from inspector.core.data.data_root import remember_data_root

        try:
            self.samples = MnistSamples(root)
        except InspectorError as exc:
            self.samples = None
            self.status.setText(exc.gui_message)
            self._update_source_controls()
            return False
        remember_data_root(root)
        self._fill_label_combo(self.samples.classes)
        self.source_combo.setItemText(self.source_combo.findData("mnist"), self.samples.name)
        self.index_spin.blockSignals(True)
        self.index_spin.setRange(0, len(self.samples) - 1)
        self.index_spin.blockSignals(False)
        self._update_source_controls()
        return True

    def _fill_label_combo(self, classes) -> None:
        """The data set's own class names ("Trouser" for Fashion-MNIST, "label 7" for a digit)."""
        self.label_combo.clear()
        self.label_combo.addItem("any label", -1)
        for label, name in enumerate(classes):
            self.label_combo.addItem(f"label {name}" if name.isdigit() else name, label)

    def start_with_mnist(self, root=None, index: int | None = None) -> str:
        """``main.py --mnist-root DIR [--index N]``: MNIST from ``root`` (default: the last one used), image
        ``index``. Returns "" or the message (also shown in the tab) that says which option was not used and
        what to do instead: a bad root or an index out of range is never dropped or clamped silently."""
        from inspector.core.activations.features import MnistSamples
        from inspector.core.data.data_root import resolve_data_root

        resolved = resolve_data_root(root)
        try:
            MnistSamples(resolved)
        except InspectorError as exc:
            option = (
                f"--mnist-root {root}" if root else f"--index {index} (no --mnist-root: the last data root)"
            )
            return self.show_notice(f"{option} not used: {exc.gui_message}; or choose one with Data root… "
                                    "(Features tab, input MNIST)")  # fmt: skip
        self.set_data_root(resolved)
        self.set_source("mnist")
        if index is None:
            return ""
        try:
            self.samples.sample(index)
        except InspectorError as exc:
            return self.show_notice(f"--index {index} not used: {exc.gui_message}; showing "
                                    f"#{self.index_spin.value()}: pick another in the # box")  # fmt: skip
        self.index_spin.setValue(index)
        return ""

    def show_notice(self, text: str) -> str:
        """A message that stays above the status line until the input changes (the status line is rewritten
        by every run); "" hides it. Returns ``text``."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))
        return text

    def _try_default_root(self) -> None:
        from inspector.core.data.data_root import resolve_data_root
        from inspector.core.data.mnist import available_splits

        root = resolve_data_root()
        if self.samples is None and available_splits(root):
            self.set_data_root(root)

    def _update_source_controls(self) -> None:
        mnist, image = self.source() == "mnist", self.source() == "image"
        for widget in (self.index_spin, self.label_combo, self.random_button):
            widget.setVisible(mnist)
            widget.setEnabled(self.samples is not None)
        self.root_button.setVisible(mnist)
        self.image_button.setVisible(image)
        self.input_stack.setCurrentIndex(0 if self.source() == "canvas" else 1)
        for widget in (self.clear_button, self.undo_button):
            widget.setVisible(self.source() == "canvas")

    def _on_source_changed(self, _index: int) -> None:
        if self.source() == "mnist" and self.samples is None:
            self._try_default_root()
            if self.samples is None:
                self.status.setText(
                    "No MNIST data yet: choose a data root (torchvision's layout, MNIST/raw/…)."
                )
        self._update_source_controls()
        self.run()

    def _on_root_clicked(self) -> None:
        root = QFileDialog.getExistingDirectory(self, "MNIST data root (holds MNIST/raw)")
        if root and self.set_data_root(root):
            self.show_notice("")
            self.run()

    def _on_index_changed(self, _value: int) -> None:
        self.show_notice("")
        self.run()

    def _on_label_chosen(self, _index: int) -> None:
        label = self.label_combo.currentData()
        if self.samples is None or label < 0:
            return
        try:
            self.index_spin.setValue(self.samples.index_of_label(label, self.index_spin.value()))
        except InspectorError as exc:
            self.status.setText(exc.gui_message)

    def _on_random_clicked(self) -> None:
        """A random image; of the chosen label when one is chosen (browse by label)."""
        if self.samples is None:
            return
        label = self.label_combo.currentData()
        try:
            index = self.samples.random_index(
                label=label if label >= 0 else None, avoid=self.index_spin.value()
            )
        except InspectorError as exc:
            self.status.setText(exc.gui_message)
            return
        self.index_spin.setValue(index)

    def _on_image_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Input image", "", "Images (*.png *.jpg *.jpeg *.bmp);;All (*)"
        )
        if path:
            self.open_image(path)

    def open_image(self, path: str) -> None:
        from inspector.core.activations.features import image_input

        try:
            self.image_sample = image_input(path)
        except InspectorError as exc:
            self._fail(exc.gui_message)
            return
        self.set_source("image")
        self.run()

    def _on_canvas_changed(self) -> None:
        self.undo_button.setEnabled(self.canvas.can_undo())
        if self.source() == "canvas":
            self.run()

    # -- model ---------------------------------------------------------------------------------------------
    def _on_checkpoint_changed(self, _checkpoint) -> None:
        self._jobs.cancel()
        self.model = self.result = self.before = None
        self.selected, self._pending_pick = [], None
        self.preprocess = None
        self.layer_list.clear()
        self.prediction_plot.clear_prediction()
        self.prediction_label.setText("")
        self.model_label.setText("")
        self._update_ablation_controls()
        self._show_message("Running the model…" if self.isVisible() else "")
        if self.isVisible():
            self.run()
        else:
            self._pending = True

    def _on_class_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Python file that defines the model", "", "Python (*.py)")
        if not path:
            return
        name, ok = QInputDialog.getText(self, "Model class", f"Class in {os.path.basename(path)}:")
        if not ok or not name.strip():
            return
        if not name.strip().isidentifier():
            self.status.setText(f"'{name.strip()}' is not a Python class name; choose the file again and type "
                                "the name of the class, e.g. MyNet")  # fmt: skip
            return
        answer = QMessageBox.warning(
            self, "Run this file?",
            f"Using {name} imports {path}, which runs its code. Only continue if you trust that file.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
        )  # fmt: skip
        if answer == QMessageBox.StandardButton.Yes:
            self.session.set_model_class(f"{path}:{name.strip()}", trusted=True)

    def device(self) -> str:
        return self.device_combo.currentText()

    def _on_preprocess_edited(self, *_args) -> None:
        """Mean, std or invert changed: run again with the edited preprocessing (the model's own as the base)."""
        if self.model is None:
            return
        base = self.model.preprocess
        try:
            mean = _floats(self.mean_edit.text(), base.channels, "mean")
            std = _floats(self.std_edit.text(), base.channels, "std")
        except InspectorError as exc:
            self.status.setText(exc.gui_message)
            return
        if any(v == 0 for v in std):
            self.status.setText("std must not be 0")
            return
        edited = base.with_changes(mean=mean, std=std, invert=self.invert_check.isChecked())
        if edited != (self.preprocess or base):
            self.preprocess = None if edited == base else edited
            self.preprocess_label.setText(edited.describe())
            self.run()

    # -- running -------------------------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._pending or (
            self.result is None and self.session.checkpoint is not None and not self.is_busy()
        ):
            self._pending = False
            self.run()

    def run(self, ablate: dict[str, list[int]] | None = None) -> None:
        """Run the current input (with ``ablate`` zeroed) on a worker thread; only while the tab is shown."""
        if self.session.checkpoint is None:
            return
        if not self.isVisible():
            self._pending = True
            return
        device = self.device()
        cached = self.session.cached_model(device)
        try:
            sample = self.current_sample()
        except InspectorError as exc:
            self._fail(exc.gui_message)
            return
        self._show_input(sample)
        self._set_busy(True, "building the model…" if cached is None else "running…")
        ablate = ablate or {}
        self.retry_cpu_button.hide()
        self._last_ablate = ablate
        self._run_worker = self._jobs.start(
            lambda: _run_job(cached, lambda: self.session.model_job(device), sample, ablate, self.preprocess,
                             bool(ablate)),
            lambda out: self._on_run_done(device, sample, *out), self._on_run_failed, self._on_progress,
        )  # fmt: skip

    def _on_run_failed(self, message: str) -> None:
        """Out of GPU memory (released by then) offers the same run on the CPU; any other failure is shown."""
        from inspector.core.errors import OutOfDeviceMemoryError

        error = self._run_worker.error if self._run_worker is not None else None
        self.retry_cpu_button.setVisible(isinstance(error, OutOfDeviceMemoryError))
        self._fail(message)

    def retry_on_cpu(self) -> None:
        """Run the last input (and ablation) again on the CPU; the device list says cpu from now on."""
        self.retry_cpu_button.hide()
        self.session.forget_models(keep="cpu")  # a model cached on the GPU holds GPU memory
        self.device_combo.blockSignals(True)  # one run, not one for the device change and one here
        self.device_combo.setCurrentText("cpu")
        self.device_combo.blockSignals(False)
        self.run(self._last_ablate)

    def cancel(self) -> None:
        self._jobs.cancel()
        self._set_busy(False, "cancelled")

    def is_busy(self) -> bool:
        return self._jobs.is_busy()

    def _on_progress(self, record) -> None:
        if record.message:
            self.status.setText(f"{record.message}…")

    def _on_run_done(self, device: str, sample, model, result, before) -> None:
        self.session.keep_model(device, model)
        first_model = self.model is not model
        self.model, self.result, self.before = model, result, before
        self._set_busy(False, f"ran on {result.device} in {result.forward_ms:.2f} ms on the device "
                              f"({result.total_ms:.1f} ms in all)")  # fmt: skip
        if first_model:
            self._show_model(model)
        self._show_layers(result)
        self._show_prediction(sample)
        self._draw_layer(keep_view=not first_model)
        pick, self._pending_pick = self._pending_pick, None
        if pick is not None and self.select_layer(pick[0]):
            self.toggle_channel(pick[1])
        self.result_shown.emit(result)

    def _fail(self, message: str) -> None:
        self._set_busy(False, message)
        self._update_ablation_controls()
        if self.result is None:
            self._show_message(message)
        self.failed.emit(message)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.progress.setVisible(busy)
        self.progress.setRange(0, 0)
        self.cancel_button.setVisible(busy)
        if text:
            self.status.setText(text)

    # -- showing -------------------------------------------------------------------------------------------
    def _show_model(self, model) -> None:
        self.model_label.setText(
            f"Model: {model.resolved.description}"
            + (
                f"; ignored keys: {', '.join(model.resolved.unexpected_keys[:4])}"
                if model.resolved.unexpected_keys
                else ""
            )
        )
        pre = self.preprocess or model.preprocess
        for edit, values in ((self.mean_edit, pre.mean), (self.std_edit, pre.std)):
            edit.setText(", ".join(f"{v:g}" for v in values))
        self.preprocess_label.setText(pre.describe())

    def _show_input(self, sample) -> None:
        truth = "" if sample.true_label is None else f", true label {self._label_name(sample.true_label)}"
        self.input_caption.setText(f"{sample.source}{truth}")
        if self.source() != "canvas":
            self.input_view.set_array(sample.image)

    def _label_name(self, label: int) -> str:
        """A data set's label by the data set's own class name (Fashion-MNIST's "Trouser"), whatever the model
        predicts."""
        classes = self.samples.classes if self.samples is not None else ()
        return classes[label] if 0 <= label < len(classes) else str(label)

    def _classes_differ(self) -> str:
        """ " — the model predicts ImageNet classes, not digits" when the model's classes are not the data's
        (a prediction beside the true label is then no comparison), else ""."""
        model = tuple(self.model.preprocess.labels) if self.model is not None else ()
        data = tuple(self.samples.classes) if self.samples is not None else ()
        if not model or not data or model == data:
            return ""
        return f" — the model predicts {class_set(model)}, not {class_set(data)}"

    def _show_layers(self, result) -> None:
        names = [layer.name for layer in result.layers]
        if [
            self.layer_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.layer_list.count())
        ] != names:
            self.layer_list.blockSignals(True)
            self.layer_list.clear()
            for layer in result.layers:
                shape = "x".join(map(str, layer.output.shape))
                self.layer_list.addItem(f"{layer.name}  {layer.type}  {shape}")
                self.layer_list.item(self.layer_list.count() - 1).setData(
                    Qt.ItemDataRole.UserRole, layer.name
                )
            self.layer_list.blockSignals(False)
        if self.layer_name not in names:
            convs = [layer.name for layer in result.layers if layer.output.ndim == 3]
            self.layer_name = convs[0] if convs else (names[0] if names else "")
        self.layer_list.blockSignals(True)
        self.layer_list.setCurrentRow(names.index(self.layer_name) if self.layer_name in names else -1)
        self.layer_list.blockSignals(False)

    def _show_prediction(self, sample) -> None:
        labels = self.model.preprocess.labels
        prediction = self.result.prediction(labels)
        before = self.before.prediction(labels) if self.before is not None else None
        truth = None if sample.true_label is None else self._label_name(sample.true_label)
        differ = self._classes_differ() if truth is not None else ""
        self.prediction_plot.show_prediction(prediction, before, None if differ else truth)
        text = f"Prediction: {prediction['name']} ({prediction['top'][0]['probability']:.1%})"
        if before is not None:
            text = (f"Before (grey): predicts {before['name']} ({before['top'][0]['probability']:.1%})  →  "
                    f"after zeroing {zeroed_text(self.result.ablated)} (red): predicts {prediction['name']} "
                    f"({prediction['top'][0]['probability']:.1%})")  # fmt: skip
        if truth is not None:
            text += f"   (true: {truth}{differ})"
        self.prediction_label.setText(text)

    def select_layer(self, name: str) -> bool:
        if self.result is None or name not in [layer.name for layer in self.result.layers]:
            return False
        if name != self.layer_name:
            self.layer_name = name
            self.selected = []
            self._show_layers(self.result)
            self._draw_layer(keep_view=False)
        return True

    def _on_layer_row_changed(self, row: int) -> None:
        if row >= 0 and self.result is not None:
            self.select_layer(self.layer_list.item(row).data(Qt.ItemDataRole.UserRole))

    def _on_selection_changed(self, entry) -> None:
        """A tensor picked in the tree: show its module's layer (``conv1.weight`` -> ``conv1``)."""
        if entry is not None and entry.module and not self.select_layer(entry.module) and self.result is None:
            self.layer_name = entry.module  # nothing ran yet: the first result opens on it

    def _draw_layer(self, keep_view: bool = True) -> None:
        if self.result is None or not self.layer_name:
            return
        from inspector.core.render.feature_maps import feature_mosaic

        layer = self.result.layer(self.layer_name)
        out = layer.output
        shape = "x".join(map(str, out.shape))
        self.layer_title.setText(f"{layer.name} · {layer.type} · {shape}")
        self.layer_title.setToolTip(f"{layer.name} ({layer.type}) output {shape}")
        if out.ndim <= 1:
            self.mosaic = None
            values = out.reshape(-1).float().numpy()
            from inspector.core.render import diverging_rgb

            reference = self._reference_output()
            scale_from = values if reference is None else reference.reshape(-1).float().numpy()
            vmax = float(np.abs(scale_from).max()) if scale_from.size else 1.0
            brushes = [pg.mkBrush(*rgb) for rgb in diverging_rgb(values, vmax)]
            for i in self.selected:
                if i < len(brushes):
                    brushes[i] = pg.mkBrush(255, 200, 0)
            self.bars.setOpts(x=np.arange(values.size), height=values, width=0.8, brushes=brushes)
            if not keep_view:
                self.bar_plot.autoRange()
            self.picture_stack.setCurrentWidget(self.bar_plot)
        else:
            mosaic = feature_mosaic(out, self.normalize_combo.currentData(), self._view_aspect(),
                                    scale_from=self._reference_output())  # fmt: skip
            keep = keep_view and self.mosaic is not None and self.mosaic.values.shape == mosaic.values.shape
            self.mosaic = mosaic
            vmax = float(mosaic.scales.max()) if mosaic.channels else 1.0
            levels = (-1.0, 1.0) if mosaic.normalize == "channel" else (-vmax, vmax)
            self.map_view.show_rgb(mosaic.rgb(), levels, keep_view=keep)
            self._mark_selection()
            self.picture_stack.setCurrentWidget(self.map_view)
        self._update_ablation_controls()
        self.scale_check.setVisible(self.before is not None)
        self._show_channel()

    def _reference_output(self):
        """The shown layer's output in the run before zeroing, when its scale is to colour the zeroed run."""
        if self.before is None or not self.scale_check.isChecked():
            return None
        try:
            reference = self.before.layer(self.layer_name).output
        except InspectorError:
            return None
        return reference if reference.shape == self.result.layer(self.layer_name).output.shape else None

    def _view_aspect(self) -> float:
        """Width / height of the picture area (less the colour bar), so the mosaic's tiles fill it; 4:3 before
        the view has a size. Clamped: a very wide or tall window still gets a readable grid."""
        plot = self.map_view.graphics
        w, h = plot.width() - 70, plot.height()
        if not self.map_view.isVisible() or w <= 0 or h <= 0:
            w, h = self.picture_stack.width() - 70, self.picture_stack.height()
        return min(max(w / h, 0.4), 4.0) if w > 50 and h > 50 else 4 / 3

    def _mark_selection(self) -> None:
        if self.mosaic is None:
            return
        rects = []
        for c in self.selected:
            if c < self.mosaic.channels:
                y, x = self.mosaic.tile_origin(c)
                rects.append((x, y, self.mosaic.tile_w, self.mosaic.tile_h))
        self.map_view.set_marks(rects)

    def _show_channel(self) -> None:
        if self.mosaic is None or not self.selected:
            self.channel_view.item.clear()
            self.channel_view.hide()
            self.channel_caption.setText("Click a channel to see it large; Ctrl+click picks more.")
            return
        self.channel_view.show()
        from inspector.core.render import diverging_rgb

        channel = self.selected[-1]
        values = self.result.layer(self.layer_name).output[channel].float().numpy()
        largest = float(np.abs(values).max()) if values.size else 0.0  # 0 for a zeroed channel: say so
        reference = self._reference_output()
        kept = float(reference[channel].abs().max()) if reference is not None else None
        vmax = (kept if kept is not None else largest) or 1.0  # the colour scale must not be 0
        self.channel_view.show_rgb(diverging_rgb(values, vmax), (-vmax, vmax))
        before = f" (before zeroing {kept:.4g})" if kept is not None and kept != largest else ""
        self.channel_caption.setText(f"{self.layer_name} channel {channel}: max |v| {largest:.4g}{before}; "
                                     f"selected: {', '.join(map(str, self.selected))}")  # fmt: skip

    def hover_text(self, row: int, col: int) -> str:
        if self.mosaic is None:
            return ""
        found = self.mosaic.channel_at(row, col)
        if found is None:
            return ""
        channel, y, x = found
        value = float(self.result.layer(self.layer_name).output[channel, y, x])
        return f"channel {channel}, y {y}, x {x}: {value:.6g}"

    # -- ablation ------------------------------------------------------------------------------------------
    def _ablation_blocker(self) -> str:
        """Why "Zero and re-run" cannot run now ("" when it can): it re-runs the input on screen with the picked
        channels zeroed, so it needs a model that ran and channels picked on the shown layer."""
        if self.session.checkpoint is None:
            return "Open a checkpoint first: there is no model to run"
        if self.result is None:
            return "The model has not run yet (see the message): zeroing needs a run to compare with"
        if not self.selected:
            return "Click channels on the map first (Ctrl+click picks more), then zero them and run again"
        return ""

    def _update_ablation_controls(self) -> None:
        """Enable "Zero and re-run" / "Restore" only when they can do something; the tooltip says why not."""
        blocker = self._ablation_blocker()
        self.ablate_button.setEnabled(not blocker)
        self.ablate_button.setToolTip(
            blocker or "Zero the selected channels' outputs (the weights stay) and run again"
        )
        zeroed = self.before is not None and self.result is not None
        self.restore_button.setEnabled(zeroed)
        self.restore_button.setToolTip(
            "Run the input again without zeroing" if zeroed
            else "Nothing is zeroed: Restore undoes Zero and re-run"
        )  # fmt: skip

    def toggle_channel(self, channel: int, add: bool = False) -> None:
        """Select ``channel`` (``add``: keep the others, toggling this one)."""
        if add:
            self.selected = [c for c in self.selected if c != channel] + (
                [] if channel in self.selected else [channel]
            )
        else:
            self.selected = [channel]
        self._draw_layer()

    def _on_map_clicked(self, row: int, col: int, modifiers) -> None:
        found = self.mosaic.channel_at(row, col) if self.mosaic is not None else None
        if found is not None:
            self.toggle_channel(found[0], bool(modifiers & Qt.KeyboardModifier.ControlModifier))

    def _on_bars_clicked(self, event) -> None:
        if self.result is None or self.mosaic is not None:
            return
        x = round(self.bar_plot.getPlotItem().vb.mapSceneToView(event.scenePos()).x())
        if 0 <= x < self.result.layer(self.layer_name).output.numel():
            self.toggle_channel(x, bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier))

    def ablate_selected(self) -> None:
        """Zero the selected channels of the shown layer and run again; the prediction shows before/after."""
        if not self._ablation_blocker() and self.layer_name:
            self.run({self.layer_name: list(self.selected)})

    def _on_ablate_clicked(self) -> None:
        self.ablate_selected()

    def _on_restore_clicked(self) -> None:
        if self.before is not None:
            self.run()

    def _on_ablation_requested(self, layer: str, channel: int) -> None:
        """A filter clicked in the weights view: that layer's output channel, ready to zero."""
        if self.select_layer(layer):
            self.toggle_channel(channel)
        elif self.result is None:  # the tab has not run yet: pick it when the first result is shown
            self.layer_name, self._pending_pick = layer, (layer, channel)

    # -- export and lifetime -------------------------------------------------------------------------------
    def export_png(self, path: str) -> str:
        """The shown layer as a PNG: the mosaic from core arrays (upscaled), bars as drawn."""
        from inspector.core.render import save_png, upscale

        if self.mosaic is not None:
            save_png(upscale(self.mosaic.rgb(), 256, 2048), path)
        elif self.result is not None:
            if not self.bar_plot.grab().save(str(path), "PNG"):
                raise InspectorError(f"{path}: cannot write the PNG; choose a writable path")
        else:
            raise InspectorError("nothing to export yet: run an input first")
        return str(path)

    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export PNG", f"{self.layer_name or 'features'}.png",
                                              "PNG images (*.png)")  # fmt: skip
        if path:
            try:
                self.export_png(path)
            except InspectorError as exc:
                self.status.setText(exc.gui_message)

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.picture_stack.setCurrentWidget(self.message)

    def shutdown(self, msecs: int = -1) -> bool:
        return self._jobs.shutdown(msecs)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)


def class_set(labels: tuple[str, ...]) -> str:
    """What a list of class names is, in a few words: digits, Fashion-MNIST classes, ImageNet classes."""
    from inspector.core.data.preprocess import DIGITS, FASHION

    if labels == DIGITS:
        return "digits"
    if labels == FASHION:
        return "Fashion-MNIST classes"
    if len(labels) == 1000 and labels[0].lower() == "tench":  # torchvision's ImageNet categories
        return "ImageNet classes"
    return f"{len(labels)} classes of its own"
