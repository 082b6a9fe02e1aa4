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
    monkeypatch.setattr(verify_dialog_module, "verify_job", lambda path: endless_job(started, closed))
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
    monkeypatch.setattr(verify_dialog_module, "verify_job", lambda path: endless_job(started, closed))
    window.verify_file(str(tiny_checkpoint))
    qtbot.waitUntil(started.is_set, timeout=5000)
    assert running_workers()
    window.close()
    assert not running_workers() and closed.is_set()


def _failed_open(qtbot, window, path):
    with qtbot.waitSignal(window.load_failed, timeout=20000):
        window.open_file(str(path))


def test_verify_after_a_failed_open_checks_the_file_that_failed(qtbot, window, tiny_checkpoint, tmp_path):
    """File › Verify… after a truncated file failed to open verified the file still open (the previous one),
    or in a fresh window asked for a file; it must check the file that just failed."""
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(tiny_checkpoint.read_bytes()[:-10])
    _failed_open(qtbot, window, truncated)  # a fresh window: no file open
    window.verify_action.trigger()
    assert window.verify_dialog is not None and window.verify_dialog.path == str(truncated)
    with qtbot.waitSignal(window.verify_dialog.verified, timeout=20000) as blocker:
        pass
    assert not blocker.args[0].ok
    window.verify_dialog.close()
    load_and_wait(qtbot, window, tiny_checkpoint)
    _failed_open(qtbot, window, truncated)
    window.verify_action.trigger()
    assert window.verify_dialog.path == str(truncated)  # not the file still open
    with qtbot.waitSignal(window.verify_dialog.verified, timeout=20000):
        pass
    window.verify_dialog.close()
    load_and_wait(qtbot, window, tiny_checkpoint)  # a good open: Verify… is for the open file again
    window.verify_action.trigger()
    assert window.verify_dialog.path == str(tiny_checkpoint)
    with qtbot.waitSignal(window.verify_dialog.verified, timeout=20000):
        pass
    window.verify_dialog.close()


def test_error_box_of_a_damaged_file_offers_verify(qtbot, window, tiny_checkpoint, tmp_path, bad_file):
    truncated = tmp_path / "half.pth"
    truncated.write_bytes(tiny_checkpoint.read_bytes()[: tiny_checkpoint.stat().st_size // 2])
    _failed_open(qtbot, window, truncated)
    button = window.error_verify_button
    assert button is not None and button.text() == "Verify…" and button.isVisibleTo(window._error_box)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dialog = window.verify_dialog
    assert dialog is not None and dialog.path == str(truncated)
    with qtbot.waitSignal(dialog.verified, timeout=20000) as blocker:
        pass
    assert [d.record for d in blocker.args[0].damaged][0] == "central directory"
    dialog.close()
    _failed_open(qtbot, window, bad_file)  # not a checkpoint at all: nothing to verify in it
    assert window.error_verify_button is None


def test_an_ok_check_shrinks_the_dialog_to_its_line_and_close(qtbot, window, tiny_checkpoint):
    dialog = window.verify_file(str(tiny_checkpoint))
    assert dialog.height() == 320  # room for a list of damaged records while it checks
    with qtbot.waitSignal(dialog.verified, timeout=20000) as blocker:
        pass
    assert blocker.args[0].ok and not blocker.args[0].notes
    assert not dialog.result_text.isVisibleTo(dialog)  # no empty list
    qtbot.waitUntil(lambda: dialog.height() < 160, timeout=5000)
    assert dialog.width() == 640
    qtbot.waitUntil(lambda: dialog.height() >= dialog.minimumSizeHint().height(), timeout=5000)  # Close fits
    qtbot.waitUntil(lambda: dialog.buttons.geometry().bottom() < dialog.height(), timeout=5000)
    dialog.close()
