"""The window with odd paths and with a file that changes on disk while it is open."""

import os

import pytest
import torch
from faults_fixtures import ODD_FOLDER, ODD_NAME
from ui_fixtures import load_and_wait

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers")


@pytest.fixture
def odd_file(tmp_path):
    folder = tmp_path / ODD_FOLDER
    folder.mkdir(parents=True)
    path = folder / ODD_NAME
    torch.save({"fc.weight": torch.full((4, 3), 0.25), "fc.bias": torch.arange(4.0)}, path)
    return path


def test_a_path_with_spaces_and_non_ascii_opens_and_reads(qtbot, window, odd_file):
    ckpt = load_and_wait(qtbot, window, odd_file)
    assert ckpt.path == str(odd_file)
    assert window.windowTitle().startswith(ODD_NAME)
    assert window.select_entry("fc.bias")
    qtbot.waitUntil(lambda: window.details.stats_text("Max") == "3", timeout=20000)
    assert str(odd_file) in window.recent_files.paths()


def test_stats_of_a_file_replaced_on_disk_say_so_in_one_line(qtbot, window, odd_file):
    load_and_wait(qtbot, window, odd_file)
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=20000)
    torch.save({"fc.weight": torch.zeros(4, 3)}, odd_file)  # saved again by a training script
    with qtbot.waitSignal(window.details.stats_failed, timeout=20000) as failed:
        window.select_entry("fc.bias")
    assert failed.args == [f"{odd_file}: changed on disk since it was opened; reopen it"]
    assert "changed on disk" in window.details.stats_status.text()
    window.tabs.setCurrentWidget(window.weights_tab)
    os.remove(odd_file)
    with qtbot.waitSignal(window.weights_tab.failed, timeout=20000) as failed:
        window.select_entry("fc.weight")
    assert failed.args[0].endswith("changed on disk since it was opened (it is gone); reopen it")
    assert window.checkpoint is not None  # the app stays usable: the listing is still shown
    assert window.select_entry("fc.bias")
