"""The main window: open a checkpoint, browse its tensors, read details, summary and metadata.

Loading runs :func:`inspector.core.checkpoint.loader.iter_load_checkpoint` on a worker thread; the window shows its
progress with a Cancel button and keeps the previous file on screen until the new one is ready, so a bad
file costs nothing but an error message. This module imports neither torch nor the loader at import time:
the window paints first, the load job imports them on its thread.
"""

from __future__ import annotations

import os
import time
from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from inspector.core.checkpoint.model import totals_line
from inspector.core.errors import TrustRequiredError, UnsafeCheckpointError
from inspector.core.formatting import format_names, plural
from inspector.ui.column_sizing import NameStaysReadable, chrome_width, fit_columns
from inspector.ui.diff_view import DiffWindow
from inspector.ui.entry_details import EntryDetails
from inspector.ui.entry_tree_model import (
    BYTES,
    DAMAGED_TIP,
    DTYPE,
    ENTRY_ROLE,
    KIND,
    NAME,
    NODE_ROLE,
    NUMEL,
    SHAPE,
    TRAINABLE,
    EntryFilterProxyModel,
    EntryTreeModel,
    format_bytes,
    format_count,
)
from inspector.ui.feature_map_view import FeatureMapView
from inspector.ui.metadata_panel import MetadataPanel
from inspector.ui.recent_files import RecentFiles
from inspector.ui.session import Session
from inspector.ui.summary_panel import SummaryPanel
from inspector.ui.training_panel import TrainingPanel
from inspector.ui.trust_dialog import TrustDialog
from inspector.ui.verify_dialog import VerifyDialog, verify_job
from inspector.ui.weight_view import WeightView
from inspector.ui.worker import CLOSE_WAIT_MS, Deadline, JobWorker, WorkerSlot

if TYPE_CHECKING:
    from inspector.core.checkpoint.model import Checkpoint, TensorEntry

APP_NAME = "inspector"
FILE_FILTER = "PyTorch checkpoints (*.pt *.pth *.ckpt *.bin *.tar *.safetensors *.pkl);;All files (*)"
EMPTY_HINT = "No file open.\n\nOpen a PyTorch checkpoint with File › Open (Ctrl+O),\nor drop one here."
EXPAND_ALL_BELOW = 400  # expand the whole tree when it has fewer rows than this
COLUMN_CHARS = {SHAPE: 12, DTYPE: 8, NUMEL: 10, BYTES: 9, KIND: 10, TRAINABLE: 9}  # before a file is open
COLUMN_MAX_CHARS = 40  # no column but the name grows wider than this on open
TREE_SHARE = 0.62  # the tree's pane may widen to this share of the window to show its columns
AUTO_VERIFY_MAX_BYTES = 2 << 30  # files up to this size get their CRC-32s checked in the background on open


class _StatusText(QLabel):
    """The status bar's message: a long one is cut at the window's edge, so its tooltip holds all of it."""

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        super().setText(text)
        self.setToolTip(text)


def _load_job(path: str, trust: bool):
    """Made on the worker thread: the loader (and torch) is imported there, never on the GUI thread."""
    from inspector.core.checkpoint.loader import iter_load_checkpoint

    return iter_load_checkpoint(path, trust=trust)


class MainWindow(QMainWindow):
    """Tree of entries on the left; Details, Weights, Summary and Metadata tabs on the right.

    Signals:
        checkpoint_loaded(object): a ``Checkpoint`` is now shown.
        load_failed(str): opening a file failed; the message was shown, the previous file stays.
        entry_selected(object): the ``TensorEntry`` of the current row, or None for a group/module/nothing.
        error_shown(str): an error message was shown to the user.
    """

    checkpoint_loaded = Signal(object)
    load_failed = Signal(str)
    entry_selected = Signal(object)
    error_shown = Signal(str)

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.last_error = ""
        self.recent_files = RecentFiles(settings, self)
        self._settings = settings
        self._loads = WorkerSlot("load")
        self._background_verify = WorkerSlot("verify on open")
        self._load_worker: JobWorker | None = None
        self._load_started = 0.0
        self._failed_load: tuple[str, list[str], list[str]] | None = None  # path, globals, dangerous
        self.failed_path = (
            ""  # the file the last open failed on (File › Verify… checks it), "" after a success
        )
        self.error_verify_button: QPushButton | None = None  # the error box's Verify…, for a damaged file
        self._error_box: QMessageBox | None = None
        self._details_node = None  # the tree row (EntryNode) the Details tab shows
        self.diff_windows: list[DiffWindow] = []
        self.verify_dialog: VerifyDialog | None = None
        self.session = Session(self)

        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.resize(1280, 800)
        self._build_actions()
        self._build_menus()
        self.setCentralWidget(self._build_central())
        self._build_status_bar()
        self._on_recent_files_changed()
        self.recent_files.changed.connect(self._on_recent_files_changed)
        self._update_trust_state()

    @property
    def checkpoint(self) -> Checkpoint | None:
        """The open file: the session's, which every panel follows."""
        return self.session.checkpoint

    # -- construction ------------------------------------------------------------------------------------
    def _build_actions(self) -> None:
        self.open_action = QAction("&Open…", self, shortcut=QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self._on_open_triggered)
        self.reload_action = QAction("&Reload", self, shortcut=QKeySequence.StandardKey.Refresh)
        self.reload_action.triggered.connect(self.reload)
        self.trust_action = QAction("&Trust and reload…", self)
        self.trust_action.setStatusTip("Load the file again with its own code (asks first)")
        self.trust_action.triggered.connect(self._on_trust_triggered)
        self.compare_action = QAction("&Compare with…", self)
        self.compare_action.setStatusTip("Diff every tensor of the open file against a second checkpoint")
        self.compare_action.triggered.connect(self._on_compare_triggered)
        self.verify_action = QAction("&Verify…", self)
        self.verify_action.setStatusTip(
            "Check every record's CRC-32 and every tensor's bounds, in the background"
        )
        self.verify_action.triggered.connect(self._on_verify_triggered)
        self.quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.close)
        self.find_action = QAction("&Filter entries", self, shortcut=QKeySequence.StandardKey.Find)
        self.find_action.triggered.connect(self._on_find_triggered)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addAction(self.reload_action)
        file_menu.addAction(self.compare_action)
        file_menu.addAction(self.verify_action)
        file_menu.addSeparator()
        file_menu.addAction(self.trust_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.find_action)

    def _build_central(self) -> QSplitter:
        self.model = EntryTreeModel(self)
        self.proxy = EntryFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_browser())
        splitter.addWidget(self._build_tabs())
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([700, 580])
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter
        return splitter

    def _build_browser(self) -> QWidget:
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter entries: conv1, weight, layer*.bias…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._on_filter_text_changed)
        self.tree = QTreeView()
        self.tree.setModel(self.proxy)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setSortingEnabled(False)
        header = self.tree.header()
        header.setSortIndicatorClearable(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.tree.setSortingEnabled(True)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        char = self.tree.fontMetrics().horizontalAdvance("0")
        self.tree.setColumnWidth(NAME, 26 * char)
        for column, chars in COLUMN_CHARS.items():
            self.tree.setColumnWidth(column, chars * char)
        self.tree.selectionModel().currentChanged.connect(self._on_current_row_changed)
        self._name_readable = NameStaysReadable(self.tree, header, NAME)
        self.empty_hint = QLabel(EMPTY_HINT)
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setEnabled(False)
        self.browser_stack = QStackedWidget()
        self.browser_stack.addWidget(self.empty_hint)
        self.browser_stack.addWidget(self.tree)
        self.counts_label = QLabel()
        pane = QWidget()
        layout = QVBoxLayout(pane)
        layout.setContentsMargins(6, 6, 0, 6)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.browser_stack, 1)
        layout.addWidget(self.counts_label)
        return pane

    def _build_tabs(self) -> QTabWidget:
        self.details = EntryDetails(session=self.session)
        self.summary_panel = SummaryPanel(session=self.session)
        self.metadata_panel = MetadataPanel(session=self.session)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setObjectName("tabs")
        self.tabs.addTab(self.details, "Details")
        self.tabs.addTab(self._make_weights_tab(), "Weights")
        self.tabs.addTab(self.summary_panel, "Summary")
        self.tabs.addTab(self.metadata_panel, "Metadata")
        self._features_view: FeatureMapView | None = None  # built when first shown: start-up stays light
        page = QWidget()  # an explicit small minimum: the view's own must not squeeze the tree on other tabs
        page.setMinimumSize(320, 240)
        QVBoxLayout(page).setContentsMargins(0, 0, 0, 0)
        self.tabs.addTab(page, "Features")
        self._features_page = page
        self.training_panel = TrainingPanel(self.session, self._settings)
        self._training_page = QScrollArea()  # its wide form must not hold the tree narrow on other tabs
        self._training_page.setWidget(self.training_panel)
        self._training_page.setWidgetResizable(True)
        self._training_page.setFrameShape(QFrame.Shape.NoFrame)
        self.tabs.addTab(self._training_page, "Fine-tune")
        self._sizes_before_features: list[int] | None = None
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.weights_tab.filter_picked.connect(self._on_filter_picked)
        return self.tabs

    @property
    def features_tab(self) -> FeatureMapView:
        """The Features view, made on first use (it follows the session from then on)."""
        if self._features_view is None:
            self._features_view = FeatureMapView(self.session)
            self._features_page.layout().addWidget(self._features_view)
            if self.session.checkpoint is not None:
                self._features_view._on_checkpoint_changed(self.session.checkpoint)
        return self._features_view

    def _on_tab_changed(self, _index: int) -> None:
        """Room for the wide tabs while they are shown, given back after: most of the width for Features, its
        minimum for the Fine-tune form (it scrolls in its page, so the other tabs are not held to its width)."""
        page = self.tabs.currentWidget()
        if page is self._features_page or page is self._training_page:
            wide = self.features_tab if page is self._features_page else self.training_panel
            wide.show()
            if self._sizes_before_features is None:
                self._sizes_before_features = self.splitter.sizes()
            total = sum(self._sizes_before_features)
            share = 0.62 if page is self._features_page else 0.0  # the form needs its minimum width only
            wanted = max(wide.minimumSizeHint().width() + 20, int(total * share), self.splitter.sizes()[1])
            self.splitter.setSizes([max(total - wanted, 200), wanted])
        elif self._sizes_before_features is not None:
            self.splitter.setSizes(self._sizes_before_features)
            self._sizes_before_features = None

    def _on_filter_picked(self, channel: int) -> None:
        """A filter clicked in the weights view: offer its output channel for "Zero and re-run"."""
        entry = self.current_entry()
        if entry is not None and entry.module:
            self.features_tab  # noqa: B018  (made now, so that it hears the request)
            self.session.ablation_requested.emit(entry.module, channel)
            self.message_label.setText(
                f"{entry.module} channel {channel} picked: the Features tab can zero it"
            )

    def _make_weights_tab(self) -> WeightView:
        """The picture of the current entry; it is drawn only while its tab is shown (see ``_sync_weights``)."""
        self.weights_tab = WeightView()
        self._weights_shown: tuple[Checkpoint, TensorEntry] | None = None
        self.entry_selected.connect(self._sync_weights)
        self.tabs.currentChanged.connect(self._sync_weights)
        return self.weights_tab

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.message_label = _StatusText()
        bar.addWidget(self.message_label, 1)
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.trust_label = QLabel()
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.trust_label)
        self._set_loading(False)

    # -- opening files -----------------------------------------------------------------------------------
    def open_file(self, path: str, trust: bool = False) -> None:
        """Start loading ``path`` on a worker thread; the current file stays until it is ready."""
        path = os.path.abspath(os.path.expanduser(str(path)))
        if not os.path.isfile(path):
            self.recent_files.remove(path)
            self._fail(f"{path}: no such file")
            return
        self._load_started = time.monotonic()
        self._load_worker = self._loads.start(
            partial(_load_job, path, trust),
            on_finished=self._on_checkpoint_loaded,
            on_failed=partial(self._on_load_failed, path),
            on_progress=self._on_load_progress_changed,
        )
        self._set_loading(True, f"Opening {os.path.basename(path)}…")

    def reload(self) -> None:
        if self.checkpoint is not None:
            self.open_file(self.checkpoint.path, trust=self.checkpoint.trusted)

    def is_busy(self) -> bool:
        """True while a load, a statistics, a summary or a forward-pass job is under way."""
        parts = (self._loads, self.details, self.summary_panel, self.weights_tab, self._features_view)
        return any(part.is_busy() for part in parts if part is not None)

    def _on_open_triggered(self) -> None:
        start = os.path.dirname(self.checkpoint.path) if self.checkpoint is not None else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", start, FILE_FILTER)
        if path:
            self.open_file(path)

    def _on_cancel_clicked(self) -> None:
        self._loads.cancel()
        self._set_loading(False)
        self.message_label.setText("Loading cancelled.")

    def _on_load_progress_changed(self, record) -> None:
        if record.total:
            self.progress_bar.setRange(0, record.total)
            self.progress_bar.setValue(record.done)
        else:
            self.progress_bar.setRange(0, 0)
        if record.message:
            self.message_label.setText(f"{record.message}…")

    def _on_checkpoint_loaded(self, checkpoint: Checkpoint) -> None:
        seconds = time.monotonic() - self._load_started
        self.message_label.setStyleSheet("")
        self._set_loading(False)
        self._failed_load = None
        self.failed_path = ""
        self.recent_files.add(checkpoint.path)
        self.model.set_checkpoint(checkpoint)
        self.session.set_checkpoint(checkpoint)  # the panels follow the session
        self.browser_stack.setCurrentWidget(self.tree)
        self._show_tree()
        self._sync_weights()
        self._update_trust_state()
        totals = checkpoint.totals
        self.message_label.setText(
            f"Opened {os.path.basename(checkpoint.path)}: {totals_line(totals)} in {seconds:.1f} s"
        )
        self._verify_in_background(checkpoint)
        self.checkpoint_loaded.emit(checkpoint)

    def _verify_in_background(self, checkpoint: Checkpoint) -> None:
        """Check the CRC-32s of the file just opened (one read, ~0.5 s per GB), so flipped bytes inside tensor
        data are said and marked in the tree instead of shown as values; files over AUTO_VERIFY_MAX_BYTES are
        left to File › Verify…."""
        self.model.set_damaged(())
        try:
            size = os.path.getsize(checkpoint.path)
        except OSError:
            return
        if size > AUTO_VERIFY_MAX_BYTES:
            return
        self._background_verify.start(
            partial(verify_job, checkpoint.path),
            partial(self._on_verified_in_background, checkpoint),
            lambda _message: None,  # not readable for verify: the load said what there is to say
        )

    def _on_verified_in_background(self, checkpoint: Checkpoint, report) -> None:
        if checkpoint is not self.checkpoint or report.ok:
            return
        damaged = report.damaged_tensors
        self.model.set_damaged(damaged)
        shown = format_names(damaged, 3)
        what = f"{plural(len(damaged), 'tensor')} damaged on disk ({shown})" if damaged else "damaged on disk"
        self.message_label.setText(
            f"{os.path.basename(checkpoint.path)}: {what}: CRC-32 mismatch, its values are wrong; see File › Verify…"
        )
        self.message_label.setToolTip(f"{self.message_label.text()}\n\n{DAMAGED_TIP}")
        self.message_label.setStyleSheet("color: #b00020;")

    def _on_load_failed(self, path: str, message: str) -> None:
        self._set_loading(False)
        error = self._load_worker.error if self._load_worker is not None else None
        self._failed_load = None
        if isinstance(error, TrustRequiredError):
            self._failed_load = (path, list(error.globals_referenced), [])
        elif isinstance(error, UnsafeCheckpointError):
            self._failed_load = (path, [], list(error.dangerous))
        self._update_trust_state()
        self.failed_path = path
        damaged = self._failed_load is None and "re-download" in message  # truncated or corrupt, not refused
        self._fail(message, verify_path=path if damaged else "")

    def _fail(self, message: str, verify_path: str = "") -> None:
        self.load_failed.emit(message)
        self.show_error(message, verify_path)

    def show_error(self, message: str, verify_path: str = "") -> None:
        """Tell the user: the status bar, and a non-modal message box that never blocks the app; with
        ``verify_path`` (a damaged or truncated file) the box offers Verify… for it."""
        self.last_error = message
        self.message_label.setText(f"Error: {message}")
        if self._error_box is not None:
            self._error_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, APP_NAME, message, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(partial(self._on_error_box_finished, box))
        self.error_verify_button = None
        if verify_path:
            button = box.addButton("Verify…", QMessageBox.ButtonRole.ActionRole)
            button.setToolTip("Check which records and tensors of this file are damaged")
            button.clicked.connect(partial(self.verify_file, verify_path))
            self.error_verify_button = button
        self._error_box = box
        box.show()
        self.error_shown.emit(message)

    def _on_error_box_finished(self, box: QMessageBox, _result: int) -> None:
        if self._error_box is box:
            self._error_box = None

    def _set_loading(self, loading: bool, message: str = "") -> None:
        self.progress_bar.setVisible(loading)
        self.cancel_button.setVisible(loading)
        if loading:
            self.progress_bar.setRange(0, 0)
            self.message_label.setText(message)

    # -- comparing ------------------------------------------------------------------------------------------
    def _on_compare_triggered(self) -> None:
        if self.checkpoint is None:
            return
        start = os.path.dirname(self.checkpoint.path)
        path, _ = QFileDialog.getOpenFileName(self, "Compare with", start, FILE_FILTER)
        if path:
            self.compare_with(path)

    def compare_with(self, path: str) -> DiffWindow | None:
        """Open a window diffing the open file (A) against ``path`` (B).

        Both files are read without trust even when A was trusted: a diff needs tensors only, and trusting A
        says nothing about B.
        """
        if self.checkpoint is None:
            return None
        window = DiffWindow(self.checkpoint.path, os.path.abspath(path), trust=False)
        window.setWindowTitle(
            f"{os.path.basename(self.checkpoint.path)} vs {os.path.basename(path)} — {APP_NAME}"
        )
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.destroyed.connect(partial(self._on_diff_window_destroyed, window))
        self.diff_windows.append(window)
        window.show()
        return window

    def _on_diff_window_destroyed(self, window: DiffWindow, *_args) -> None:
        if window in self.diff_windows:
            self.diff_windows.remove(window)

    # -- verifying ------------------------------------------------------------------------------------------
    def _on_verify_triggered(self) -> None:
        """The file that just failed to open (what the user wants checked), else the open file, else ask."""
        path = self.failed_path or (self.checkpoint.path if self.checkpoint is not None else "")
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Verify checkpoint", "", FILE_FILTER)
        if path:
            self.verify_file(path)

    def verify_file(self, path: str) -> VerifyDialog:
        """Check ``path`` in the background in a non-modal dialog (one at a time: a new one replaces it)."""
        if self.verify_dialog is not None:
            self.verify_dialog.close()
        self.verify_dialog = VerifyDialog(os.path.abspath(path), self)
        self.verify_dialog.show()
        self.verify_dialog.start()
        return self.verify_dialog

    # -- trust ---------------------------------------------------------------------------------------------
    def _trust_target(self) -> tuple[str, list[str], list[str]] | None:
        """The file a trusted reload would open, with the globals to show and those flagged dangerous."""
        if self._failed_load is not None:
            return self._failed_load
        if self.checkpoint is not None and not self.checkpoint.trusted:
            return self.checkpoint.path, list(self.checkpoint.globals_referenced), []
        return None

    def _on_trust_triggered(self) -> None:
        target = self._trust_target()
        if target is None:
            return
        path, globals_referenced, dangerous = target
        if TrustDialog.ask(self, path, globals_referenced, dangerous):
            self.open_file(path, trust=True)

    def _update_trust_state(self) -> None:
        self.trust_action.setEnabled(self._trust_target() is not None)
        self.reload_action.setEnabled(self.checkpoint is not None)
        self.compare_action.setEnabled(self.checkpoint is not None)
        if self.checkpoint is None:
            self.setWindowTitle(APP_NAME)
            self.trust_label.setText("")
            return
        name = os.path.basename(self.checkpoint.path)
        trusted = self.checkpoint.trusted
        self.setWindowTitle(f"{name} [trusted] — {APP_NAME}" if trusted else f"{name} — {APP_NAME}")
        self.trust_label.setText("Trusted: file code allowed" if trusted else "Untrusted: weights only")
        self.trust_label.setToolTip(
            "Loaded with trust: the classes the file names were imported."
            if trusted
            else "Loaded without running code from the file. File › Trust and reload… to allow it."
        )

    # -- recent files ---------------------------------------------------------------------------------------
    def _on_recent_files_changed(self) -> None:
        self.recent_menu.clear()
        paths = self.recent_files.paths()
        for number, path in enumerate(paths, start=1):
            action = self.recent_menu.addAction(f"&{number % 10}  {os.path.basename(path)}")
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(partial(self.open_file, path))
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear Menu", self.recent_files.clear).setEnabled(bool(paths))
        self.recent_menu.setEnabled(bool(paths))

    # -- the tree --------------------------------------------------------------------------------------------
    def _show_tree(self) -> None:
        """Fresh tree after a load: re-apply the filter, expand, fit the name column, select an entry."""
        self.proxy.set_filter_text(self.filter_edit.text())
        self._expand()
        self._fit_columns()
        self._update_counts()
        first = self._first_entry_index()
        if first.isValid():
            self.tree.setCurrentIndex(first)
        else:
            self.details.clear()

    def _fit_columns(self) -> None:
        """Columns as wide as their text (bounded), the name column stretching over the rest; the tree's
        pane widens to fit them, up to ``TREE_SHARE`` of the window, so nothing is clipped on open."""
        char = self.tree.fontMetrics().horizontalAdvance("0")
        needed = fit_columns(self.tree, self.tree.header(), NAME, COLUMN_MAX_CHARS * char)
        self._name_readable.remember()
        if self._sizes_before_features is not None:  # the Features tab holds the room; leave it alone
            return
        sizes = self.splitter.sizes()
        total = sum(sizes)
        pane = self.splitter.widget(0)
        margins = pane.width() - self.tree.viewport().width() if pane.width() else 0
        wanted = min(needed + max(margins, chrome_width(self.tree)), int(total * TREE_SHARE))
        if total and wanted > sizes[0]:
            self.splitter.setSizes([wanted, total - wanted])

    def _expand(self) -> None:
        """Small files open fully; beside a model group, other groups (optimizer state...) stay closed."""
        checkpoint = self.model.checkpoint
        small = checkpoint is not None and len(checkpoint.model_entries()) * 2 < EXPAND_ALL_BELOW
        model_group = checkpoint.model_group if checkpoint is not None else None
        if small and not model_group:
            self.tree.expandAll()
            return
        self.tree.collapseAll()
        self.tree.expandToDepth(0)
        if small:
            for row in range(self.proxy.rowCount()):
                index = self.proxy.index(row, 0)
                node = index.data(NODE_ROLE)
                if node is not None and node.node_kind == "group" and node.name == model_group:
                    self.tree.expandRecursively(index)

    def _first_entry_index(self) -> QModelIndex:
        index = self.proxy.index(0, 0)
        while index.isValid() and index.data(ENTRY_ROLE) is None:
            index = self.proxy.index(0, 0, index)
        return index

    def _update_counts(self) -> None:
        if self.checkpoint is None:
            self.counts_label.setText("")
            return
        entries = self.checkpoint.entries
        visible = self.proxy.visible_entries() if self.proxy.filter_text() else entries
        shown = f"{len(visible)} of {plural(len(entries), 'tensor')} shown"
        numel, nbytes = sum(e.numel for e in visible), sum(e.nbytes for e in visible)  # follow the filter
        self.counts_label.setText(
            f"{shown if len(visible) != len(entries) else plural(len(entries), 'tensor')} · "
            f"{plural(numel, 'element', shown=format_count(numel))} · {format_bytes(nbytes)}"
        )

    def _on_filter_text_changed(self, text: str) -> None:
        self.proxy.set_filter_text(text)
        if text.strip():
            self.tree.expandAll()
        else:
            self._expand()
        self._update_counts()
        self._follow_filter()

    def _follow_filter(self) -> None:
        """Details never show what the filter hides: move to the first shown tensor, or show nothing."""
        current = self.tree.currentIndex()
        if current.isValid() and current.data(NODE_ROLE) is self._details_node:
            return
        first = self._first_entry_index()
        self.tree.setCurrentIndex(first)  # invalid when nothing matches
        current = self.tree.currentIndex()
        if (current.data(NODE_ROLE) if current.isValid() else None) is not self._details_node:
            self._on_current_row_changed(current, QModelIndex())

    def _on_find_triggered(self) -> None:
        self.filter_edit.setFocus()
        self.filter_edit.selectAll()

    def _on_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        node = current.data(NODE_ROLE) if current.isValid() else None
        self._details_node = node  # what Details shows: kept in step with the filter (_follow_filter)
        self.details.show_node(node)
        self.session.select(node.entry if node is not None else None)
        self.entry_selected.emit(node.entry if node is not None else None)

    def _sync_weights(self, *_args) -> None:
        """Draw the current entry in the Weights tab, only while that tab is shown: drawing costs time."""
        if self.tabs.currentWidget() is not self.weights_tab:
            return
        entry = self.current_entry()
        wanted = (self.checkpoint, entry) if self.checkpoint is not None and entry is not None else None
        shown = self._weights_shown
        if wanted is None and shown is None:
            return
        if wanted is not None and shown is not None and wanted[0] is shown[0] and wanted[1] is shown[1]:
            return
        self._weights_shown = wanted
        if wanted is None:
            self.weights_tab.clear()
        else:
            self.weights_tab.set_tensor(*wanted)

    def current_entry(self) -> TensorEntry | None:
        return self.tree.currentIndex().data(ENTRY_ROLE) if self.tree.currentIndex().isValid() else None

    def select_entry(self, key: str) -> bool:
        """Make the entry whose key is ``key`` current (clearing a filter that hides it); True if found."""
        source = self.model.index_for_key(key)
        if not source.isValid():
            return False
        index = self.proxy.mapFromSource(source)
        if not index.isValid():
            self.filter_edit.clear()
            index = self.proxy.mapFromSource(source)
        self.tree.scrollTo(index)
        self.tree.setCurrentIndex(index)
        return True

    # -- drag and drop ---------------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_file(paths[0])

    # -- closing -----------------------------------------------------------------------------------------------
    def shutdown(self, msecs: int = -1) -> bool:
        """Cancel every job this window started, then wait for their threads, at most ``msecs`` in all
        (``< 0``: no limit); True when all have ended. Every job is cancelled before any wait, so they stop
        side by side; one still running at the limit ends on its own (``worker.wait_for_workers``)."""
        parts = [self._loads, self._background_verify, self.details, self.summary_panel, self.weights_tab]
        parts += [self.training_panel]
        parts += [self._features_view] if self._features_view is not None else []
        parts += list(self.diff_windows)
        parts += [self.verify_dialog] if self.verify_dialog is not None else []
        for part in parts:
            part.shutdown(0)
        deadline = Deadline(msecs)
        ended = [part.shutdown(deadline.remaining_ms()) for part in parts]
        for window in list(self.diff_windows):
            window.close()  # its jobs are stopped already
        return all(ended)

    def closeEvent(self, event) -> None:
        self.shutdown(CLOSE_WAIT_MS)
        if self._error_box is not None:
            self._error_box.close()
        super().closeEvent(event)
