"""The main window end to end on tiny files: open, filter, select, errors, trust, recent files, closing."""

import threading

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from ui_fixtures import endless_job, load_and_wait

import inspector.ui.main_window as main_window_module
from inspector.core.errors import TrustRequiredError
from inspector.ui.entry_tree_model import NAME, NUMEL
from inspector.ui.worker import running_workers

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers")


def top_names(window, parent=None):
    from PySide6.QtCore import QModelIndex

    parent = parent or QModelIndex()
    return [window.proxy.index(r, NAME, parent).data() for r in range(window.proxy.rowCount(parent))]


def test_window_starts_empty_with_a_hint(window):
    assert window.windowTitle() == "inspector"
    assert window.browser_stack.currentWidget() is window.empty_hint
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Details",
        "Weights",
        "Summary",
        "Metadata",
        "Features",
        "Fine-tune",
    ]
    assert not window.trust_action.isEnabled()
    assert window.open_action.shortcut().toString() == "Ctrl+O"


def test_open_shows_the_tree_title_and_first_entry(qtbot, window, tiny_checkpoint):
    with qtbot.waitSignal(window.details.stats_shown, timeout=20000):
        checkpoint = load_and_wait(qtbot, window, tiny_checkpoint)
    assert window.checkpoint is checkpoint
    assert window.windowTitle() == "tiny.pth — inspector"
    assert "untrusted" in window.trust_label.text().lower()
    assert window.browser_stack.currentWidget() is window.tree
    assert top_names(window) == ["conv1", "conv2", "fc"]
    assert top_names(window, window.proxy.index(0, 0)) == ["weight", "bias"]
    assert window.current_entry().name == "conv1.weight"  # the first entry is selected for the details
    assert window.details.stats_text("Max") == "7"
    assert window.counts_label.text().startswith("6 tensors · 89 elements")
    assert window.recent_files.paths() == [str(tiny_checkpoint)]
    assert not window.progress_bar.isVisibleTo(window)


def test_filter_box_filters_the_tree(qtbot, window, tiny_checkpoint):
    load_and_wait(qtbot, window, tiny_checkpoint)
    qtbot.keyClicks(window.filter_edit, "bias")
    assert [e.name for e in window.proxy.visible_entries()] == ["conv1.bias", "conv2.bias", "fc.bias"]
    assert top_names(window) == ["conv1", "conv2", "fc"]
    assert window.counts_label.text().startswith("3 of 6 tensors shown")
    window.filter_edit.setText("conv2")
    assert top_names(window) == ["conv2"]
    assert top_names(window, window.proxy.index(0, 0)) == ["weight", "bias"]
    window.filter_edit.clear()
    assert len(window.proxy.visible_entries()) == 6


def test_header_click_sorts_sizes_as_numbers(qtbot, window, tiny_checkpoint):
    load_and_wait(qtbot, window, tiny_checkpoint)
    window.tree.sortByColumn(NUMEL, Qt.SortOrder.DescendingOrder)
    assert top_names(window) == ["fc", "conv2", "conv1"]  # 52, 27, 10 elements


def test_selecting_an_entry_shows_details_and_stats(qtbot, window, tiny_checkpoint):
    load_and_wait(qtbot, window, tiny_checkpoint)
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=20000)
    with qtbot.waitSignal(window.entry_selected) as selected:
        assert window.select_entry("fc.weight")
    assert selected.args[0].name == "fc.weight"
    qtbot.waitUntil(lambda: window.details.stats_text("Mean") == "0.25", timeout=20000)
    details = window.details
    assert details.title.text() == "fc.weight"
    assert details.tensor_form.values["Shape"].text().startswith("4×12")
    assert details.tensor_form.values["Elements"].text() == "48"
    assert details.stats_text("Min") == "0.25" and details.stats_text("Std") == "0"
    assert details.stats_text("Zeros") == "0 (0.00%)"

    with qtbot.waitSignal(details.stats_shown, timeout=20000) as shown:
        window.select_entry("conv1.weight")
    assert shown.args[0].max == 7.0
    assert details.stats_text("Mean") == "3.5" and details.stats_text("Std") == "2.44949"
    assert details.stats_text("Zeros") == "1 (12.50%)"


def test_selecting_a_module_shows_its_totals(qtbot, window, tiny_checkpoint):
    load_and_wait(qtbot, window, tiny_checkpoint)
    with qtbot.waitSignal(window.entry_selected) as selected:
        window.tree.setCurrentIndex(window.proxy.index(1, 0))
    assert selected.args == [None]
    assert window.details.title.text() == "conv2"
    assert window.details.tensor_form.values["Elements"].text() == "27"
    assert not window.details.stats_form.isVisibleTo(window.details)


def test_training_checkpoint_shows_its_group_and_metadata(qtbot, window, training_checkpoint):
    load_and_wait(qtbot, window, training_checkpoint)
    assert top_names(window) == ["model_state_dict"]
    assert top_names(window, window.proxy.index(0, 0)) == ["conv1", "conv2", "fc"]
    assert window.current_entry().key == "model_state_dict/conv1.weight"
    metadata = window.metadata_panel.section_values("Metadata")
    assert metadata == {"epoch": "3", "loss": "0.125"}
    assert window.metadata_panel.section_values("File")["format"] == "training_checkpoint"


def test_bad_file_shows_an_error_and_keeps_the_open_file(qtbot, window, tiny_checkpoint, bad_file):
    load_and_wait(qtbot, window, tiny_checkpoint)
    with qtbot.waitSignal(window.error_shown, timeout=20000) as shown:
        window.open_file(str(bad_file))
    assert "bad.pth" in shown.args[0]
    assert window.last_error == shown.args[0]
    assert window.message_label.text().startswith("Error:")
    assert window.checkpoint.path == str(tiny_checkpoint)
    assert top_names(window) == ["conv1", "conv2", "fc"]
    assert window.windowTitle() == "tiny.pth — inspector"
    assert str(bad_file) not in window.recent_files.paths()


def test_missing_file_is_an_error_not_a_crash(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.load_failed, timeout=5000) as failed:
        window.open_file(str(tmp_path / "nope.pth"))
    assert "no such file" in failed.args[0]
    assert window.checkpoint is None


def test_progress_and_cancel_while_loading(qtbot, window, tiny_checkpoint, monkeypatch):
    started, closed = threading.Event(), threading.Event()
    monkeypatch.setattr(main_window_module, "_load_job", lambda path, trust: endless_job(started, closed))
    window.open_file(str(tiny_checkpoint))
    assert window.progress_bar.isVisibleTo(window) and window.cancel_button.isVisibleTo(window)
    qtbot.waitUntil(lambda: window.message_label.text() == "spinning…", timeout=15000)
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    assert not window.progress_bar.isVisibleTo(window)
    assert window.message_label.text() == "Loading cancelled."
    qtbot.waitUntil(lambda: not running_workers(), timeout=5000)
    assert closed.is_set() and window.checkpoint is None


def test_closing_while_loading_stops_the_thread(qtbot, window, tiny_checkpoint, monkeypatch):
    started, closed = threading.Event(), threading.Event()
    monkeypatch.setattr(main_window_module, "_load_job", lambda path, trust: endless_job(started, closed))
    window.open_file(str(tiny_checkpoint))
    qtbot.waitUntil(started.is_set, timeout=5000)
    assert running_workers()
    window.close()
    assert not running_workers()
    assert closed.is_set()


def test_dropping_a_file_opens_it(qtbot, window, tiny_checkpoint):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tiny_checkpoint))])
    event = QDropEvent(QPointF(QPoint(10, 10)), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
    with qtbot.waitSignal(window.checkpoint_loaded, timeout=20000):
        window.dropEvent(event)
    assert window.checkpoint.path == str(tiny_checkpoint)


def test_recent_files_menu_reopens(qtbot, window, tiny_checkpoint, training_checkpoint):
    load_and_wait(qtbot, window, tiny_checkpoint)
    load_and_wait(qtbot, window, training_checkpoint)
    actions = [a for a in window.recent_menu.actions() if a.toolTip().endswith(".pth")]
    assert [a.toolTip() for a in actions] == [str(training_checkpoint), str(tiny_checkpoint)]
    with qtbot.waitSignal(window.checkpoint_loaded, timeout=20000):
        actions[1].trigger()
    assert window.checkpoint.path == str(tiny_checkpoint)


def test_trust_and_reload_asks_first_and_reloads_with_trust(qtbot, window, tiny_checkpoint, monkeypatch):
    load_and_wait(qtbot, window, tiny_checkpoint)
    asked = []

    def answer(parent, path, globals_referenced, dangerous=()):
        asked.append(path)
        return answer.value

    monkeypatch.setattr(main_window_module.TrustDialog, "ask", staticmethod(answer))
    answer.value = False
    window.trust_action.trigger()
    assert asked == [str(tiny_checkpoint)] and not window.progress_bar.isVisibleTo(window)  # no reload

    answer.value = True
    with qtbot.waitSignal(window.checkpoint_loaded, timeout=20000) as loaded:
        window.trust_action.trigger()
    assert loaded.args[0].trusted
    assert window.windowTitle() == "tiny.pth [trusted] — inspector"
    assert window.trust_label.text().lower().startswith("trusted")
    assert not window.trust_action.isEnabled()  # already trusted


def test_trust_required_error_offers_trust(qtbot, window, tiny_checkpoint, monkeypatch):
    def needs_trust(path, trust):
        raise TrustRequiredError(f"{path}: needs its own code; use Trust and reload", ["mymodel.Net"])
        yield

    monkeypatch.setattr(main_window_module, "_load_job", needs_trust)
    with qtbot.waitSignal(window.load_failed, timeout=5000):
        window.open_file(str(tiny_checkpoint))
    assert window.trust_action.isEnabled()
    shown = []
    monkeypatch.setattr(main_window_module.TrustDialog, "ask",
                        staticmethod(lambda parent, path, g, d=(): shown.append(g) or False))  # fmt: skip
    window.trust_action.trigger()
    assert shown == [["mymodel.Net"]]


def test_demo_file_shows_module_classes_in_tree_and_details(qtbot, window):
    """The demo file is grouped (``model_state_dict/conv1``): the tree and Details still name each module's class."""
    import pathlib

    from inspector.ui.entry_tree_model import KIND

    demo = pathlib.Path(__file__).resolve().parents[1] / "resources" / "demo_mnist_cnn.pth"
    load_and_wait(qtbot, window, demo)
    group = window.proxy.index(0, 0)
    assert window.proxy.index(0, KIND).data() == "MnistCNN"
    classes = {
        window.proxy.index(r, NAME, group).data(): window.proxy.index(r, KIND, group).data()
        for r in range(window.proxy.rowCount(group))
    }
    assert classes == {
        "conv1": "Conv2d",
        "bn1": "BatchNorm2d",
        "conv2": "Conv2d",
        "fc1": "Linear",
        "fc2": "Linear",
    }
    assert window.current_entry().key == "model_state_dict/conv1.weight"
    assert window.details.tensor_form.values["Module"].text() == "conv1 (torch.nn.modules.conv.Conv2d)"
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=20000)
