"""File › Verify…: the verify job in a non-modal dialog, off the GUI thread, with progress and Cancel."""

import threading
import zipfile

import pytest
import torch
from PySide6.QtCore import Qt
from test_verify import data_offset, flip_byte
from ui_fixtures import endless_job, load_and_wait, tiny_state_dict

import inspector.ui.verify_dialog as verify_dialog_module
from inspector.ui.worker import running_workers

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers")


def test_verify_the_open_file_from_the_file_menu(qtbot, window, tiny_checkpoint):
    load_and_wait(qtbot, window, tiny_checkpoint)
    file_menu = window.menuBar().actions()[0].menu()
    assert window.verify_action in file_menu.actions() and window.verify_action.text() == "&Verify…"
    window.verify_action.trigger()
    dialog = window.verify_dialog
    with qtbot.waitSignal(dialog.verified, timeout=20000) as blocker:
        pass
    report = blocker.args[0]
    assert report.ok and report.tensors_checked == 6
    assert dialog.status_label.text().startswith(f"{tiny_checkpoint}: ok: ")
    assert dialog.close_button.isVisibleTo(dialog) and not dialog.cancel_button.isVisibleTo(dialog)
    dialog.close()


def test_damaged_tensor_is_named_in_the_dialog(qtbot, window, tmp_path):
    path = tmp_path / "flipped.pth"
    torch.save(tiny_state_dict(), path)
    raw = tiny_state_dict()["conv1.weight"].numpy().tobytes()
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if z.read(i) == raw)
    flip_byte(path, data_offset(path, info) + 3)
    dialog = window.verify_file(str(path))
    with qtbot.waitSignal(dialog.verified, timeout=20000):
        pass
    text = dialog.result_text.toPlainText()
    assert dialog.result_text.isVisibleTo(dialog)
    assert text.startswith(f"{info.filename} (tensor conv1.weight): CRC-32 mismatch (stored {info.CRC:08x}, ")
    assert "1 damaged record" in dialog.status_label.text()
    assert dialog.status_label.text().endswith("re-download the file or restore it from a copy")


def test_unreadable_file_shows_the_one_line_error(qtbot, window, bad_file):
    dialog = window.verify_file(str(bad_file))
    with qtbot.waitSignal(dialog.failed, timeout=20000) as blocker:
        pass
    assert blocker.args[0].startswith(f"{bad_file}: not a PyTorch checkpoint")
    assert dialog.status_label.text() == f"Error: {blocker.args[0]}"


def test_progress_and_cancel(qtbot, window, tiny_checkpoint, monkeypatch):
    started, closed = threading.Event(), threading.Event()
    monkeypatch.setattr(verify_dialog_module, "_verify_job", lambda path: endless_job(started, closed))
    dialog = window.verify_file(str(tiny_checkpoint))
    assert dialog.progress_bar.isVisibleTo(dialog) and dialog.cancel_button.isVisibleTo(dialog)
    qtbot.waitUntil(lambda: dialog.status_label.text() == "spinning…", timeout=15000)
    with qtbot.waitSignal(dialog.cancelled, timeout=1000):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert dialog.status_label.text() == "Verification cancelled."
    qtbot.waitUntil(lambda: not running_workers(), timeout=5000)
    assert closed.is_set()


def test_closing_the_window_while_verifying_stops_the_thread(qtbot, window, tiny_checkpoint, monkeypatch):
    started, closed = threading.Event(), threading.Event()
    monkeypatch.setattr(verify_dialog_module, "_verify_job", lambda path: endless_job(started, closed))
    window.verify_file(str(tiny_checkpoint))
    qtbot.waitUntil(started.is_set, timeout=5000)
    assert running_workers()
    window.close()
    assert not running_workers() and closed.is_set()
