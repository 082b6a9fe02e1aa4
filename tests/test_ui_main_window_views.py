"""The main window's Weights tab and File > Compare with…: wired to the tree, drawn only when shown."""

import pytest
import torch
from ui_fixtures import load_and_wait, tiny_state_dict

from inspector.core import render

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers")

TIMEOUT = 20_000


def show_weights_of(qtbot, window, name: str):
    """Select ``name`` with the Weights tab shown; wait until its picture and statistics are drawn."""
    view = window.weights_tab
    with qtbot.waitSignal(view.view_shown, timeout=TIMEOUT) as shown:
        window.tabs.setCurrentWidget(view)
        window.select_entry(name)
    qtbot.waitUntil(lambda: view.summary is not None, timeout=TIMEOUT)
    return shown.args[0]


def test_weights_tab_draws_nothing_while_hidden(qtbot, window, tiny_checkpoint):
    load_and_wait(qtbot, window, tiny_checkpoint)
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=TIMEOUT)
    assert window.tabs.currentWidget() is window.details
    assert window.weights_tab.kind == "empty" and window.weights_tab.picture is None


def test_selecting_a_conv_weight_shows_its_filter_grid(qtbot, window, tiny_checkpoint):
    load_and_wait(qtbot, window, tiny_checkpoint)
    assert show_weights_of(qtbot, window, "conv2.weight") == "filters"
    grid = window.weights_tab.picture
    assert isinstance(grid, render.FilterGrid)
    assert (grid.layout, grid.rows, grid.cols) == ("filters x channels", 3, 2)  # in != 3: every channel
    stats, _histogram = window.weights_tab.summary
    assert (stats.min, stats.max) == (1.0, 1.0)


def test_tab_switch_draws_the_entry_selected_meanwhile(qtbot, window, tiny_checkpoint):
    load_and_wait(qtbot, window, tiny_checkpoint)
    window.select_entry("fc.weight")  # Details shown: the Weights tab waits
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=TIMEOUT)
    assert window.weights_tab.picture is None
    with qtbot.waitSignal(window.weights_tab.view_shown, timeout=TIMEOUT) as shown:
        window.tabs.setCurrentWidget(window.weights_tab)
    assert shown.args == ["heatmap"]
    assert window.weights_tab.picture.values.shape == (4, 12)
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=TIMEOUT)


def test_bias_shows_bars_and_a_module_row_clears_the_view(qtbot, window, tiny_checkpoint):
    load_and_wait(qtbot, window, tiny_checkpoint)
    assert show_weights_of(qtbot, window, "conv1.bias") == "bars"
    assert list(window.weights_tab.picture.y) == [0.5, -0.5]
    window.tree.setCurrentIndex(window.proxy.index(0, 0))  # the "conv1" module row
    assert window.weights_tab.kind == "empty"


def test_reload_redraws_from_the_new_file(qtbot, window, tmp_path):
    path = tmp_path / "w.pth"
    torch.save(tiny_state_dict(), path)
    load_and_wait(qtbot, window, path)
    show_weights_of(qtbot, window, "fc.weight")
    changed = tiny_state_dict()
    changed["fc.weight"] = torch.full((4, 12), -2.0)
    torch.save(changed, path)
    with qtbot.waitSignal(window.weights_tab.view_shown, timeout=TIMEOUT):
        load_and_wait(qtbot, window, path)  # selects the first entry again, conv1.weight
    window.select_entry("fc.weight")
    qtbot.waitUntil(lambda: window.weights_tab.summary is not None, timeout=TIMEOUT)
    assert window.weights_tab.summary[0].max == -2.0


def test_compare_with_opens_a_diff_of_the_open_file(qtbot, window, tmp_path):
    before, after = tmp_path / "before.pth", tmp_path / "after.pth"
    weights = tiny_state_dict()
    torch.save(weights, before)
    weights["fc.bias"] = weights["fc.bias"] + 0.5
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in weights.items()}}, after)
    assert not window.compare_action.isEnabled()
    load_and_wait(qtbot, window, before)
    assert window.compare_action.isEnabled()
    diff = window.compare_with(str(after))
    with qtbot.waitSignal(diff.diff_finished, timeout=TIMEOUT) as done:
        pass
    result = done.args[0]
    assert [t.name for t in result.tensors if t.changed] == ["fc.bias"]
    assert result.only_in_a == [] and result.only_in_b == []
    assert diff.windowTitle().startswith("before.pth vs after.pth")
    assert window.diff_windows == [diff]
    window.close()  # closes its diff windows and waits for their jobs
    qtbot.waitUntil(lambda: window.diff_windows == [], timeout=TIMEOUT)
