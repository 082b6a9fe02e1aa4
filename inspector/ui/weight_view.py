"""The Weights tab: any tensor drawn the way a person reads it, with a histogram and exact statistics.

The view is chosen by shape (:func:`inspector.core.render.view_kind`): a conv weight is one mosaic of its
filters (pyqtgraph ``ImageItem``; hover names filter, channel and value; zoom/pan from the ViewBox), a matrix a
heatmap with axes and a colour bar, a vector a bar or line plot, a scalar its value. Every picture is computed by
``inspector.core.render`` - the same arrays the ``filters`` verb writes - and this widget only draws them.

Reading a tensor and rendering it run on a worker thread (:class:`inspector.ui.worker.WorkerSlot`), then a
second job computes exact statistics and the histogram over every element, so a multi-GB tensor never blocks the
window. The tensor, once read, is kept for re-renders (normalisation, channel), which only redraw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.core import render
from inspector.core.checkpoint.packed_params import dequantized_note
from inspector.core.errors import InspectorError
from inspector.core.filter_layout import FittedMosaic, choose_grid, describe, fit_mosaic
from inspector.core.formatting import plural
from inspector.core.jobs import Progress
from inspector.ui.entry_details import stats_texts
from inspector.ui.tensor_image import TensorImage
from inspector.ui.worker import Deadline, WorkerSlot

if TYPE_CHECKING:
    from inspector.core.checkpoint.model import Checkpoint, TensorEntry

HEATMAP_MAX_SIDE = 1024  # a larger matrix is block-reduced (absmax) to this many pixels a side
SERIES_MAX_POINTS = 4096
STATS_CACHE_SIZE = 256  # (stats, histogram) pairs kept, so going back to a tensor shows them at once
ALL_CHANNELS_MAX_TILES = (
    64 * 64
)  # beyond, a conv opens on channel 0: 262144 tiles read as noise at first sight
NORMALIZATIONS = (("per filter", "filter"), ("global", "global"))
ABS_W = "|\u2060w\u2060|"  # |w| with word joiners: a wrapped caption never breaks after the first bar
ABS_V = "|\u2060v\u2060|"
COLORBAR_WIDTH = 70  # pixels of the canvas the colour bar and its labels take beside the picture


@dataclass
class Rendered:
    """What the render job returns: the view kind, its core object, and the tensor (kept for re-renders)."""

    kind: str
    picture: Any  # FilterGrid | Heatmap | Series | int | float | None
    tensor: Any


def _render_job(load: Callable[[], Any], kind: str, shape: tuple[int, ...], options: dict):
    """Made on the worker thread: reading (and importing torch) never happens on the GUI thread."""
    tensor = load()
    yield Progress(0, 1, "drawing")
    if kind == "filters":
        picture = render.filter_grid(tensor, **options)
    elif kind == "heatmap":
        picture = yield from render.iter_heatmap(tensor.reshape(render.matrix_shape(shape)), HEATMAP_MAX_SIDE)
    elif kind == "bars":
        picture = render.series_1d(tensor, SERIES_MAX_POINTS)
    elif kind == "scalar":
        picture = render.scalar_value(tensor)
    else:
        picture = None
    return Rendered(kind, picture, tensor)


def _summary_job(tensor):
    return render.iter_value_summary(tensor, render.bins_for(tensor.numel()))


def _grid_hover(grid: render.FilterGrid, row: int, col: int) -> str:
    pixel = grid.locate(row, col)
    if pixel is None:
        return ""
    where = f"filter {pixel.filter}" + ("" if pixel.channel is None else f", channel {pixel.channel}")
    where += f", y {pixel.y}, x {pixel.x}"
    if grid.composite:
        return f"{where}: RGB = ({', '.join(f'{v:.4g}' for v in pixel.values)})"
    return f"{where}: w{list(pixel.index)} = {pixel.values[0]:.6g}"


def _heatmap_hover(heat: render.Heatmap, row: int, col: int) -> str:
    found = heat.locate(row, col)
    if found is None:
        return ""
    rows, cols, value = found
    if heat.factor == (1, 1):
        return f"row {rows.start}, col {cols.start}: {value:.6g}"
    return f"rows {rows.start}-{rows.stop - 1}, cols {cols.start}-{cols.stop - 1}: {heat.method} {value:.6g}"


class WeightView(QWidget):
    """Shows one tensor: the picture its shape calls for, its histogram and its statistics.

    Signals:
        view_shown(str): a picture is on screen; the kind ("filters", "heatmap", "bars", "scalar", "empty").
        stats_shown(object): ``(TensorStats, Histogram)`` of the shown tensor is on screen.
        failed(str): reading, drawing or the statistics failed; the message is also shown in the view.
        exported(str): :meth:`export_png` wrote this path.
        filter_picked(int): a filter of the shown conv weight was clicked (its output channel).
    """

    view_shown = Signal(str)
    filter_picked = Signal(int)
    stats_shown = Signal(object)
    failed = Signal(str)
    exported = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._render_jobs = WorkerSlot("weight view")
        self._stats_jobs = WorkerSlot("weight stats")
        self._stats_cache: dict[str, Any] = {}
        self._checkpoint: Checkpoint | None = None
        self._source: tuple[str, Callable[[], Any], tuple[int, ...], str] | None = None
        self._tensor = None
        self._normalize = "filter"
        self.kind = "empty"
        self.picture: Any = None
        self.fitted: FittedMosaic | None = None  # a filter grid as drawn: re-flowed to the view's shape
        self._grid_rgb: np.ndarray | None = None  # the grid's own picture, re-flowed again on resize
        self.summary: tuple[Any, Any] | None = None

        bar = self._build_toolbar()
        self.pages = QStackedWidget()
        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pages.addWidget(self.message)
        self.pages.addWidget(self._build_image_page())
        self.pages.addWidget(self._build_plot_page())

        main = QWidget()
        main_layout = QVBoxLayout(main)
        main_layout.setContentsMargins(0, 0, 0, 0)
        main_layout.addWidget(self.title)
        main_layout.addLayout(bar)
        main_layout.addWidget(self.info)
        main_layout.addWidget(self.pages, 1)
        main_layout.addWidget(self.hover_label)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)  # never squeeze the statistics below their two lines
        splitter.addWidget(main)
        splitter.addWidget(self._build_histogram_panel())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([3000, 1000])  # the picture first: three quarters of the height
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.clear()

    # -- construction ----------------------------------------------------------------------------------------
    def _build_toolbar(self) -> QHBoxLayout:
        self.title = QLabel()
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setWordWrap(True)  # a long name must not widen the whole view
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.normalize_combo = QComboBox()
        for label, mode in NORMALIZATIONS:
            self.normalize_combo.addItem(label, mode)
        self.normalize_combo.setToolTip(
            f"Colour scale: each filter by its own max {ABS_W}, or all by the largest"
        )
        self.normalize_combo.currentIndexChanged.connect(self._on_normalize_changed)
        self.channel_combo = QComboBox()
        self.channel_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.channel_combo.setMinimumContentsLength(len("RGB composite"))
        for combo in (self.normalize_combo, self.channel_combo):
            combo.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.channel_combo.setToolTip("Input channel of each filter to show")
        self.channel_combo.currentIndexChanged.connect(self._on_channel_changed)
        self.export_button = QPushButton("Export PNG…")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.hover_label = QLabel(" ")
        self.hover_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        bar = QHBoxLayout()  # controls on a row of their own: a long title must not squeeze them
        for label, widget in (("Normalise:", self.normalize_combo), ("Channel:", self.channel_combo)):
            bar.addWidget(QLabel(label))
            bar.addWidget(widget)
        bar.addStretch(1)
        bar.addWidget(self.export_button)

        return bar

    def _build_image_page(self) -> QWidget:
        self.canvas = TensorImage()
        self.canvas.hover_text = self.hover_text
        self.canvas.hovered.connect(self._on_hovered)
        self.canvas.clicked.connect(self._on_canvas_clicked)
        self.canvas.installEventFilter(self)  # resizes re-flow a filter mosaic
        self.image_plot, self.image_item, self.colorbar = (
            self.canvas.plot,
            self.canvas.item,
            self.canvas.colorbar,
        )
        return self.canvas

    def _build_plot_page(self) -> QWidget:
        self.series_plot = pg.PlotWidget()
        self.series_plot.setLabel("bottom", "index")
        self.series_plot.setLabel("left", "value")
        self.series_plot.showGrid(x=False, y=True, alpha=0.3)
        self.series_plot.scene().sigMouseMoved.connect(self._on_series_mouse_moved)
        return self.series_plot

    def _build_histogram_panel(self) -> QWidget:
        box = QGroupBox("Values")
        self.histogram_plot = pg.PlotWidget()
        self.histogram_plot.setLabel("left", "count")
        self.histogram_plot.setMinimumHeight(120)
        self.histogram_curve = self.histogram_plot.plot(
            [0.0, 1.0], [0.0], stepMode="center", fillLevel=0, brush=(66, 147, 195, 160), pen=(33, 102, 172)
        )
        self.stats_label = QLabel()  # two fixed lines, no word wrap: its height is known to the splitter
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stats_progress = QProgressBar()
        self.stats_progress.setTextVisible(False)
        self.stats_progress.setMaximumHeight(8)
        layout = QVBoxLayout(box)
        layout.addWidget(self.histogram_plot, 1)
        layout.addWidget(self.stats_progress)
        layout.addWidget(self.stats_label)
        self.histogram_box = box
        return box

    # -- what to show ----------------------------------------------------------------------------------------
    def clear(self, hint: str = "Select a tensor to see its values.") -> None:
        self._render_jobs.cancel()
        self._stats_jobs.cancel()
        self._source, self._tensor, self.picture, self.summary, self.kind = None, None, None, None, "empty"
        self.fitted, self._grid_rgb = None, None
        self.title.setText("")
        self.values_note = ""
        self.info.setText("")
        self.hover_label.setText(" ")
        self._show_message(hint)
        self._set_controls("empty", ())
        self.histogram_box.hide()

    def set_tensor(self, checkpoint: Checkpoint, entry: TensorEntry) -> None:
        """Show ``entry`` of ``checkpoint`` (read on a worker thread)."""
        if checkpoint is not self._checkpoint:  # a new or reloaded file: cached stats belong to the old one
            self.forget_stats()
            self._checkpoint = checkpoint
        label = f"{entry.canonical_name or entry.name}  {list(entry.shape)} {entry.dtype}"
        values_note = dequantized_note(entry.dtype, entry.quantization) if entry.quantized else ""
        if values_note:
            label += f", shown {values_note}"
        key = f"{checkpoint.path}::{entry.key}"
        self.show_tensor(label, lambda: checkpoint.tensor(entry), tuple(entry.shape), key, values_note)

    def show_tensor(
        self, title: str, load: Callable[[], Any], shape: tuple[int, ...], key: str, values_note: str = ""
    ) -> None:
        """Show the tensor ``load()`` returns (called on a worker thread); ``key`` names it in the stats cache.
        ``values_note`` heads the statistics caption when the values are not the stored ones (a quantized
        weight: "dequantized from qint8 with scale ..., zero point ...").

        :class:`inspector.ui.diff_view.DiffView` shows differences ``a - b`` through this.
        """
        self.clear()
        self.values_note = values_note
        self._source = (title, load, tuple(shape), key)
        self.kind = render.view_kind(shape)
        self.title.setText(title)
        self._set_controls(self.kind, tuple(shape))
        self._show_message(f"Reading {title}…")
        self._start_render(load)

    def forget_stats(self) -> None:
        """Drop cached statistics (their tensors may have changed on disk)."""
        self._stats_cache.clear()

    def set_normalization(self, mode: str) -> None:
        """``"filter"`` or ``"global"``: how filter grids are coloured (kept across tensors)."""
        self.normalize_combo.setCurrentIndex(self.normalize_combo.findData(mode))

    def set_channel(self, choice: str | int) -> None:
        """``"rgb"``, ``"all"`` or an input channel number, as offered by the channel combo."""
        index = self.channel_combo.findData(choice)
        if index < 0:
            raise ValueError(f"channel {choice!r} is not offered for this tensor")
        self.channel_combo.setCurrentIndex(index)

    def grid_options(self) -> dict:
        """The :func:`inspector.core.render.filter_grid` arguments the controls stand for."""
        choice = self.channel_combo.currentData()
        options: dict[str, Any] = {"normalize": self._normalize}
        if choice == "all":
            options["composite"] = False
        elif isinstance(choice, int):
            options["channel"] = choice
        return options

    # -- jobs ------------------------------------------------------------------------------------------------
    def _start_render(self, load: Callable[[], Any]) -> None:
        _, _, shape, _ = self._source
        kind = self.kind
        options = self.grid_options() if kind == "filters" else {}
        self._render_jobs.start(
            lambda: _render_job(load, kind, shape, options), self._on_rendered, self._on_failed
        )

    def _on_rendered(self, result: Rendered) -> None:
        first = self._tensor is None
        self._tensor, self.picture = result.tensor, result.picture
        {"filters": self._draw_grid, "heatmap": self._draw_heatmap, "bars": self._draw_series}.get(
            result.kind, self._draw_value
        )(result.picture)
        self.view_shown.emit(result.kind)
        if first and result.kind not in ("scalar", "empty"):
            self._start_summary()

    def _start_summary(self) -> None:
        key = self._source[3]
        self.histogram_box.show()
        if key in self._stats_cache:
            self._show_summary(self._stats_cache[key])
            return
        tensor = self._tensor
        self.stats_label.setText("Computing statistics over every element…")
        self.stats_progress.show()
        self._stats_jobs.start(
            lambda: _summary_job(tensor), lambda summary: self._on_summary_done(key, summary),
            self._on_failed, self._on_summary_progress,
        )  # fmt: skip

    def _on_summary_progress(self, record) -> None:
        self.stats_progress.setRange(0, max(1, record.total))
        self.stats_progress.setValue(record.done)

    def _on_summary_done(self, key: str, summary) -> None:
        if len(self._stats_cache) >= STATS_CACHE_SIZE:
            self._stats_cache.pop(next(iter(self._stats_cache)))
        self._stats_cache[key] = summary
        self._show_summary(summary)

    def _show_summary(self, summary) -> None:
        stats, hist = summary
        self.summary = summary
        self.stats_progress.hide()
        self.histogram_curve.setData(hist.edges, hist.counts.astype(np.float64))
        texts = [f"{name} {value}" for name, value in stats_texts(stats).items()]
        caption = "   ".join(texts[:4]) + "\n" + "   ".join(texts[4:])
        if self.values_note:  # the numbers are of the dequantized values: say with which scale
            caption = f"Statistics of the values {self.values_note}:\n{caption}"
        self.stats_label.setText(caption)
        self.stats_shown.emit(summary)

    def _on_failed(self, message: str) -> None:
        self.stats_progress.hide()
        if self.picture is None:
            self._show_message(message)
        else:
            self.stats_label.setText(message)
        self.failed.emit(message)

    # -- drawing ---------------------------------------------------------------------------------------------
    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.pages.setCurrentIndex(0)

    def _draw_grid(self, grid: render.FilterGrid) -> None:
        lo, hi = (-1.0, 1.0) if grid.normalize == "filter" else grid.value_range
        self._grid_rgb = grid.to_rgb()
        self.fitted = fit_mosaic(grid, self._view_aspect(), self._grid_rgb)
        # a mosaic larger than the screen averages instead of aliasing
        self.canvas.show_rgb(self.fitted.rgb, (lo, hi), axes=False, downsample=True)
        self.pages.setCurrentIndex(1)
        # an RGB composite shows three channels in one colour: no single colour bar reads it, so it has none
        # and the caption says how its colours were scaled
        self.colorbar.setVisible(not grid.composite)
        scale = f"each filter scaled to ±1 by its max {ABS_W}" if grid.normalize == "filter" else f"±{hi:.4g}"
        if grid.composite:
            scale = f"RGB = input channels 0-2, grey = 0, {scale}"
        self.info.setText("; ".join(filter(None, [describe(grid, self.fitted), scale, grid.note])))

    def _view_aspect(self) -> float:
        """Width / height of the picture area (less the colour bar); 4:3 before the view has a size."""
        w, h = self.canvas.width() - COLORBAR_WIDTH, self.canvas.height()
        return w / h if self.canvas.isVisible() and w > 50 and h > 50 else 4 / 3

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.canvas and event.type() == QEvent.Type.Resize:
            self._refit_grid()
        return super().eventFilter(watched, event)

    def _refit_grid(self) -> None:
        """The view changed shape: re-flow the shown filter mosaic when another grid now fits it better."""
        grid, fitted = self.picture, self.fitted
        if not isinstance(grid, render.FilterGrid) or fitted is None or self._grid_rgb is None:
            return
        gaps = (fitted.gap_y, fitted.gap_x)
        wanted = choose_grid(fitted.units, fitted.unit_h, fitted.unit_w, gaps, fitted.margin,
                             self._view_aspect(), fitted.column_major)  # fmt: skip
        if wanted != (fitted.rows, fitted.cols):
            self._draw_grid(grid)

    def _draw_heatmap(self, heat: render.Heatmap) -> None:
        rows, cols = heat.shape
        # already absmax-reduced: averaging would hide outliers
        self.canvas.show_rgb(heat.to_rgb(), (-heat.clip, heat.clip), True, QRectF(0, 0, cols, rows), False)
        self.pages.setCurrentIndex(1)
        self.colorbar.setVisible(True)
        self.image_plot.setLabel("left", f"row (of {rows})")
        self.image_plot.setLabel("bottom", f"column (of {cols})")
        shape = self._source[2]
        text = f"{rows} x {cols} matrix" + (
            "" if len(shape) == 2 else f" (the {len(shape)}-D tensor reshaped)"
        )
        if heat.factor != (1, 1):
            h, w = heat.values.shape
            text += f"; drawn as {h} x {w}, each pixel the {heat.method} of a {heat.factor[0]}x{heat.factor[1]} block"
        if heat.clip < 0.9 * heat.vmax:  # only worth saying when an outlier set the max
            text += (f"; colours saturate beyond ±{heat.clip:.4g} ({render.ROBUST_PERCENTILE:g}th percentile of "
                     f"{ABS_V}, max {ABS_V} {heat.vmax:.4g})")  # fmt: skip
        self.info.setText(text)

    def _draw_series(self, series: render.Series) -> None:
        plot = self.series_plot
        plot.clear()
        if series.style == "bar":
            vmax = float(np.nanmax(np.abs(series.y))) if series.y.size else 1.0
            brushes = [pg.mkBrush(*rgb) for rgb in render.diverging_rgb(series.y, vmax)]
            plot.addItem(
                pg.BarGraphItem(x=series.x, height=series.y, width=0.8 * series.factor, brushes=brushes)
            )
        else:
            plot.plot(series.x, series.y, pen=pg.mkPen((33, 102, 172), width=1))
        plot.addLine(y=0, pen=pg.mkPen((150, 150, 150), style=Qt.PenStyle.DashLine))
        plot.autoRange()
        text = plural(series.length, "value")
        if series.factor > 1:
            text += f"; each point the {series.method} of {series.factor} consecutive values"
        self.info.setText(text)
        self.pages.setCurrentIndex(2)

    def _draw_value(self, value: float | None) -> None:
        if value is None:
            self._show_message("This tensor has no elements.")
        else:
            text = f"{value:.8g}" if isinstance(value, float) else str(value)
            self._show_message(f"{self._source[0]}\n\nvalue: {text}")
        self.info.setText("")

    # -- controls --------------------------------------------------------------------------------------------
    def _set_controls(self, kind: str, shape: tuple[int, ...]) -> None:
        self.channel_combo.blockSignals(True)
        self.channel_combo.clear()
        if kind == "filters":
            cin = shape[1]
            if cin == 3:
                self.channel_combo.addItem("RGB composite", "rgb")
            if cin > 1:
                self.channel_combo.addItem("All channels", "all")
            for c in range(cin):
                self.channel_combo.addItem(f"Channel {c}", c)
            if cin not in (1, 3) and shape[0] * cin > ALL_CHANNELS_MAX_TILES:
                self.channel_combo.setCurrentIndex(self.channel_combo.findData(0))
        self.channel_combo.blockSignals(False)
        self.channel_combo.setEnabled(self.channel_combo.count() > 1)
        self.normalize_combo.setEnabled(kind == "filters")
        self.export_button.setEnabled(kind not in ("empty", "scalar"))

    def _on_normalize_changed(self, _index: int) -> None:
        self._normalize = self.normalize_combo.currentData()
        self._rerender()

    def _on_channel_changed(self, _index: int) -> None:
        self._rerender()

    def _rerender(self) -> None:
        if self.kind == "filters" and self._tensor is not None:
            tensor = self._tensor
            self._start_render(lambda: tensor)

    # -- hover -----------------------------------------------------------------------------------------------
    def hover_text(self, row: int, col: int) -> str:
        """What the hover label says for image pixel ``(row, col)`` of the current picture."""
        if isinstance(self.picture, render.FilterGrid):
            source = self.fitted.source_pixel(row, col) if self.fitted is not None else (row, col)
            return _grid_hover(self.picture, *source) if source is not None else ""
        if isinstance(self.picture, render.Heatmap):
            return _heatmap_hover(self.picture, row, col)
        return ""

    def _on_hovered(self, text: str) -> None:
        if self.pages.currentIndex() == 1 and self.picture is not None:
            self.hover_label.setText(text or " ")

    def _on_canvas_clicked(self, row: int, col: int, _modifiers) -> None:
        """A click on a filter of a conv weight: that output channel is the one to ablate (``filter_picked``)."""
        if isinstance(self.picture, render.FilterGrid) and self._source is not None:
            source = self.fitted.source_pixel(row, col) if self.fitted is not None else (row, col)
            pixel = self.picture.locate(*source) if source is not None else None
            if pixel is not None:
                self.filter_picked.emit(pixel.filter)

    def _on_series_mouse_moved(self, scene_pos: QPointF) -> None:
        series = self.picture
        if not isinstance(series, render.Series) or self.pages.currentIndex() != 2:
            return
        x = self.series_plot.getPlotItem().vb.mapSceneToView(scene_pos).x()
        i = round(x / series.factor)
        if 0 <= i < len(series.y):
            span = f"[{i * series.factor}]" if series.factor == 1 else f"[{i * series.factor}…]"
            self.hover_label.setText(f"index {span}: {series.y[i]:.6g}")

    # -- export ----------------------------------------------------------------------------------------------
    def export_png(self, path: str) -> str:
        """Write the current picture as a PNG and return ``path``.

        Filter grids and heatmaps are written from the core arrays (tiles upscaled to be readable, exactly what
        ``inspector filters`` writes), independent of the window's size; plots are written as drawn.
        """
        if isinstance(self.picture, render.FilterGrid):
            grid = render.filter_grid(
                self._tensor,
                **self.grid_options(),
                min_tile_px=render.READABLE_TILE_PX,
                max_side=render.PNG_MAX_SIDE,
            )
            render.save_png(grid.to_rgb(), path)
        elif isinstance(self.picture, render.Heatmap):
            render.save_png(render.upscale(self.picture.to_rgb()), path)
        elif isinstance(self.picture, render.Series):
            if not self.series_plot.grab().save(str(path), "PNG"):
                raise InspectorError(f"{path}: cannot write the PNG; choose a writable path")
        else:
            raise InspectorError("nothing to export: select a tensor with values first")
        self.exported.emit(str(path))
        return str(path)

    def _on_export_clicked(self) -> None:
        name = (self._source[3].split("::")[-1] if self._source else "tensor").replace("/", "_")
        path, _ = QFileDialog.getSaveFileName(self, "Export PNG", f"{name}.png", "PNG images (*.png)")
        if path:
            try:
                self.export_png(path)
            except InspectorError as exc:
                self.failed.emit(exc.message)
                self.hover_label.setText(exc.message)

    def is_busy(self) -> bool:
        """True while a tensor is being read, drawn or summarised."""
        return self._render_jobs.is_busy() or self._stats_jobs.is_busy()

    # -- lifetime --------------------------------------------------------------------------------------------
    def shutdown(self, msecs: int = -1) -> bool:
        """Cancel and wait for this view's jobs, at most ``msecs`` in all (the owner calls it when it closes)."""
        self._render_jobs.shutdown(0)
        self._stats_jobs.shutdown(0)
        deadline = Deadline(msecs)
        ended = self._render_jobs.shutdown(deadline.remaining_ms())
        return self._stats_jobs.shutdown(deadline.remaining_ms()) and ended

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)
