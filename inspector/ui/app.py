"""Start the GUI: ``python main.py [FILE] [--trust] [--select NAME] [--tab TAB] [--compare B] [--screenshot PNG]``.

(Also the ``inspector-gui`` script.) ``--select`` and ``--tab`` pick what the window shows once FILE is open,
so that a screenshot can show any view: ``--select conv1.weight --tab weights``.

The window is shown first and the file is opened from the event loop, so the window paints before the load
job imports torch on its worker thread. ``--screenshot`` waits until the file is shown and every job has
settled, saves a picture of the window and exits: it works offscreen (``QT_QPA_PLATFORM=offscreen``).
``--compare B`` opens the compare window (FILE against B, as File › Compare with… does); the screenshot is then
of that window, and ``--select`` picks its row.
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication

from inspector import __version__
from inspector.core.errors import InspectorError
from inspector.ui.main_window import APP_NAME, MainWindow
from inspector.ui.worker import wait_for_workers

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "resources" / "demo_mnist_cnn.pth"
SCREENSHOT_POLL_MS = 50
SCREENSHOT_TIMEOUT_MS = 120_000
TAB_NAMES = ("details", "weights", "summary", "metadata", "features", "finetune")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inspector-gui", description="Look inside a PyTorch checkpoint.")
    parser.add_argument(
        "file", nargs="?", help=f"checkpoint to open (default: {DEFAULT_CHECKPOINT.name} if present)"
    )
    parser.add_argument(
        "--trust", action="store_true", help="load FILE with its own code (runs code from it)"
    )
    parser.add_argument(
        "--screenshot", metavar="PNG", help="save a picture of the window once FILE is shown, then exit"
    )
    parser.add_argument("--select", metavar="NAME", help="select this tensor once FILE is open")
    parser.add_argument(
        "--tab",
        type=lambda name: name.lower().replace("-", ""),  # "Fine-tune" as the tab reads, or finetune
        choices=TAB_NAMES,
        help="show this tab once FILE is open (default: details)",
    )
    parser.add_argument(
        "--compare",
        metavar="B",
        help="open the compare window: FILE against B (--screenshot: of that window)",
    )
    parser.add_argument("--mnist-root", metavar="DIR", help="Features tab: read MNIST from this data root")
    parser.add_argument("--index", type=int, metavar="N", help="Features tab: show MNIST image N")
    parser.add_argument("--version", action="version", version=f"inspector {__version__}")
    return parser


class ScreenshotTaker(QObject):
    """Waits until ``window`` has opened its file (or failed) and is idle, saves it to ``path``, exits.

    The exit code is 0 when the file is shown, 1 when opening it failed or ``--select`` named no tensor of
    it (the picture shows the error; :meth:`fail` records it), 2 when nothing settled before the timeout.
    After :meth:`follow`, the picture is of a compare window, taken once its diff is shown.
    """

    def __init__(self, app: QApplication, window: MainWindow, path: str, expect_file: bool):
        super().__init__(window)
        self._app, self._window, self._path = app, window, path
        self._code = 0
        self._waiting_for_file = expect_file
        self._target = None  # a compare window to picture instead of the main window
        window.checkpoint_loaded.connect(self._on_checkpoint_loaded)
        window.load_failed.connect(self._on_load_failed)
        self._poll = QTimer(self, interval=SCREENSHOT_POLL_MS)
        self._poll.timeout.connect(self._on_poll_timeout)
        self._poll.start()
        QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, self._on_deadline_reached)

    def _on_checkpoint_loaded(self, _checkpoint) -> None:
        self._waiting_for_file = False

    def follow(self, diff_window) -> None:
        """Picture ``diff_window`` (a :class:`DiffWindow`) once its diff is shown, instead of the main window."""
        self._target = diff_window
        self._waiting_for_file = True
        diff_window.diff_finished.connect(self._on_checkpoint_loaded)
        diff_window.diff_failed.connect(self._on_load_failed)

    def _on_load_failed(self, message: str) -> None:
        """The picture shows the error box; the terminal gets the one line too (it exited 1 silently)."""
        print(f"error: {message}", file=sys.stderr)
        self._code = 1
        self._waiting_for_file = False

    def fail(self, message: str) -> None:
        """What was asked for cannot be shown: say it on stderr, and exit 1 after the picture."""
        print(f"error: {message}", file=sys.stderr)
        self._code = 1

    def _on_poll_timeout(self) -> None:
        busy = self._window.is_busy() or (self._target is not None and self._target.is_busy())
        if not self._waiting_for_file and not busy:
            self._save_and_exit(self._code)

    def _on_deadline_reached(self) -> None:
        if self._poll.isActive():
            print("error: timed out waiting for the window to settle", file=sys.stderr)
            self._save_and_exit(2)

    def _save_and_exit(self, code: int) -> None:
        self._poll.stop()
        self._app.processEvents()
        shown = self._target if self._target is not None else self._window
        if not shown.grab().save(self._path, "PNG"):
            print(f"error: cannot write {self._path}", file=sys.stderr)
            code = code or 1
        self._app.exit(code)  # main() closes the window once the loop is over


def _show_requested(window: MainWindow, name: str | None, tab: str | None, checkpoint) -> None:
    """Apply ``--select`` and ``--tab`` once the file is shown (a single-shot connection).

    A name that is not in the file is said in the window's words (the filter box), not the CLI's.
    """
    if name:
        try:
            window.select_entry(checkpoint.entry(name).key)
        except InspectorError:
            in_module = [e for e in checkpoint.entries if e.module == name]  # a layer: conv1, layer4.1.conv2
            if in_module:
                window.select_entry(in_module[0].key)  # its first tensor: the Features tab shows that layer
            else:
                message = missing_tensor_message(checkpoint.path, name)
                window.show_error(message)
                taker = getattr(window, "screenshot_taker", None)
                if taker is not None:
                    taker.fail(message)
    if tab:
        window.tabs.setCurrentIndex(TAB_NAMES.index(tab))


def _open_compare(window: MainWindow, path_b: str, name: str | None, _checkpoint) -> None:
    """Apply ``--compare`` (and its ``--select``) once FILE is shown (a single-shot connection)."""
    diff_window = window.compare_with(path_b)
    taker = getattr(window, "screenshot_taker", None)
    if taker is not None:
        taker.follow(diff_window)
    if name:

        def select_row(_result) -> None:
            if not diff_window.view.select(name):
                message = (
                    f"{os.path.basename(path_b)}: no compared tensor named '{name}'; pick a row in the table"
                )
                diff_window.status.setText(message)
                diff_window.status.setVisible(True)
                if taker is not None:
                    taker.fail(message)

        diff_window.diff_finished.connect(select_row, type=Qt.ConnectionType.SingleShotConnection)


def missing_tensor_message(path: str, name: str) -> str:
    return (
        f"{os.path.basename(path)}: no tensor or module named '{name}' (--select takes conv1.weight or conv1); "
        "type part of the name in the filter box (Ctrl+F) to find it in the tree"
    )


QT_NOISE = ("This plugin does not support propagateSizeHints()",)  # the offscreen platform, once per window


def _quiet_qt_noise() -> None:
    """Drop the offscreen platform's notice that it cannot resize native windows (printed for every window of a
    ``--screenshot`` run); every other Qt message still reaches stderr."""
    from PySide6.QtCore import qFormatLogMessage, qInstallMessageHandler

    def handler(kind, context, message: str) -> None:
        if message not in QT_NOISE:
            print(qFormatLogMessage(kind, context, message), file=sys.stderr)

    qInstallMessageHandler(handler)


def main(argv: list[str] | None = None, settings: QSettings | None = None) -> int:
    """Run the GUI until its window closes; ``settings`` replaces the user's ``QSettings`` (tests)."""
    args = build_parser().parse_args(argv)
    if QApplication.instance() is None:
        _quiet_qt_noise()
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(APP_NAME)
    app.setApplicationName(APP_NAME)
    window = MainWindow(settings)
    problem = ""
    if args.mnist_root or args.index is not None:  # a bad root or index is said, never dropped or clamped
        problem = window.features_tab.start_with_mnist(args.mnist_root, args.index)
        if problem:
            window.show_error(problem)
    path = args.file or (str(DEFAULT_CHECKPOINT) if DEFAULT_CHECKPOINT.is_file() else None)
    window.show()
    if path:
        select = None if args.compare else args.select  # with --compare, it picks the compare window's row
        if select or args.tab:
            window.checkpoint_loaded.connect(
                partial(_show_requested, window, select, args.tab),
                type=Qt.ConnectionType.SingleShotConnection,
            )
        if args.compare:
            window.checkpoint_loaded.connect(
                partial(_open_compare, window, args.compare, args.select),
                type=Qt.ConnectionType.SingleShotConnection,
            )
        QTimer.singleShot(0, lambda: window.open_file(os.fspath(path), trust=args.trust))
    if args.screenshot:
        window.screenshot_taker = ScreenshotTaker(app, window, args.screenshot, expect_file=bool(path))
        if problem:
            window.screenshot_taker.fail(problem)
    code = app.exec()
    window.close()  # after the loop, so closing the last window posts no quit event to a later loop
    window.shutdown()  # no job may outlive the event loop
    wait_for_workers()  # nor a thread that a time-limited close left to end on its own
    return code
