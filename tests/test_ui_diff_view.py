"""DiffWindow/DiffView: the diff runs off the GUI thread, the table sorts, a row shows the difference a - b."""

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from inspector.core import render
from inspector.ui.diff_view import COLUMNS, SORT_ROLE, DiffWindow

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers")

TIMEOUT = 15_000


@pytest.fixture
def before_after(tmp_path):
    g = torch.Generator().manual_seed(0)
    a = {
        "conv.weight": torch.randn(4, 3, 3, 3, generator=g),
        "fc.weight": torch.randn(5, 6, generator=g),
        "fc.bias": torch.randn(5, generator=g),
        "head.weight": torch.randn(2, 6, generator=g),
        "old": torch.ones(3),
    }
    b = {k: v.clone() for k, v in a.items() if k != "old"}
    b["conv.weight"][1, 2, 0, 0] += 1.0
    b["fc.weight"] = a["fc.weight"] * 1.5
    b["head.weight"] = torch.randn(3, 6, generator=g)
    b["new"] = torch.zeros(2)
    torch.save({"model_state_dict": a, "epoch": 1}, tmp_path / "a.pth")  # groups and prefixes are matched
    torch.save({f"module.{k}": v for k, v in b.items()}, tmp_path / "b.pth")
    return tmp_path / "a.pth", tmp_path / "b.pth", a, b


@pytest.fixture
def window(qtbot):
    win = DiffWindow()
    win.resize(1100, 700)
    qtbot.addWidget(win, before_close_func=lambda w: w.shutdown())
    return win


def compare(qtbot, window, path_a, path_b):
    with qtbot.waitSignal(window.diff_finished, timeout=TIMEOUT) as done:
        window.compare(str(path_a), str(path_b))
    qtbot.waitUntil(lambda: window.view.weight_view.summary is not None, timeout=TIMEOUT)
    return done.args[0]


def column_texts(view, name):
    col = COLUMNS.index(name)
    return [view.proxy.index(r, col).data() for r in range(view.proxy.rowCount())]


def test_table_lists_every_tensor_changed_first_and_sorts_by_relative_change(qtbot, window, before_after):
    path_a, path_b, _, _ = before_after
    result = compare(qtbot, window, path_a, path_b)
    view = window.view
    assert {t.name for t in result.changed} == {"conv.weight", "fc.weight", "head.weight"}
    assert view.visible_names()[:2] == ["fc.weight", "conv.weight"]  # rel L2 0.5, then a single element
    statuses = dict(zip(view.visible_names(), column_texts(view, "Status"), strict=True))
    assert statuses == {"fc.weight": "changed", "conv.weight": "changed", "fc.bias": "unchanged",
                        "head.weight": "shape mismatch", "old": "only in A", "new": "only in B"}  # fmt: skip
    assert view.visible_names() == ["fc.weight", "conv.weight", "head.weight", "old", "new", "fc.bias"]
    view.table.sortByColumn(COLUMNS.index("rel L2"), Qt.SortOrder.DescendingOrder)
    rel = [view.proxy.index(r, COLUMNS.index("rel L2")).data(SORT_ROLE) for r in range(view.proxy.rowCount())]
    assert rel == sorted(rel, reverse=True)
    assert "2x6 vs 3x6" in column_texts(view, "Shape")
    assert (
        view.summary.text()
        == "4 tensors compared: 3 changed (1 shape mismatch), 1 unchanged; 1 only in A, 1 only in B"
    )


def test_sorting_by_name_and_changed_only_filter(qtbot, window, before_after):
    path_a, path_b, _, _ = before_after
    compare(qtbot, window, path_a, path_b)
    view = window.view
    view.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert view.visible_names() == sorted(view.visible_names())
    view.changed_only.setChecked(True)
    assert "fc.bias" not in view.visible_names() and "fc.weight" in view.visible_names()


def test_selecting_a_row_shows_the_difference(qtbot, window, before_after):
    path_a, path_b, a, b = before_after
    compare(qtbot, window, path_a, path_b)
    wv = window.view.weight_view
    assert wv.kind == "heatmap"  # the first row, fc.weight, is a matrix
    np.testing.assert_allclose(wv.picture.values, (a["fc.weight"] - b["fc.weight"]).numpy(), rtol=1e-6)
    with qtbot.waitSignal(wv.view_shown, timeout=TIMEOUT):
        assert window.view.select("conv.weight")
    grid = wv.picture
    assert (
        isinstance(grid, render.FilterGrid) and grid.normalize == "global"
    )  # unchanged filters stay neutral
    diff = (a["conv.weight"] - b["conv.weight"]).numpy()
    np.testing.assert_allclose(grid._weight, diff)
    y, x = grid.tile_origin(0, 1)  # filter 1 (composite: R = input channel 0 ... B = channel 2)
    assert wv.hover_text(*wv.fitted.display_pixel(y, x)).startswith("filter 1, y 0, x 0: RGB = (0, 0, -1)")
    qtbot.waitUntil(lambda: wv.summary is not None, timeout=TIMEOUT)
    stats, _ = wv.summary
    assert (stats.min, stats.max, stats.zeros) == (-1.0, 0.0, diff.size - 1)


def test_rows_without_a_difference_explain_why(qtbot, window, before_after):
    path_a, path_b, _, _ = before_after
    compare(qtbot, window, path_a, path_b)
    view = window.view
    view.select("head.weight")
    assert "shape [2, 6] in A, [3, 6] in B" in view.weight_view.message.text()
    view.select("old")
    assert "only in A" in view.weight_view.message.text()


def test_a_bad_file_fails_with_its_message(qtbot, window, before_after, tmp_path):
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with qtbot.waitSignal(window.diff_failed, timeout=TIMEOUT) as failed:
        window.compare(str(before_after[0]), str(tmp_path / "bad.pth"))
    assert "bad.pth" in failed.args[0] and window.status.text() == failed.args[0]
    assert not window.is_busy()


def test_cancel_stops_the_job(qtbot, window, before_after):
    window.compare(str(before_after[0]), str(before_after[1]))
    assert window.is_busy()
    window.cancel()
    assert not window.is_busy() and window.status.text() == "Cancelled."
    window.shutdown()


def test_default_order_puts_changed_parameters_before_zero_started_buffers(qtbot, window, tmp_path):
    """BatchNorm rows that start at 0 (rel L2 ∞) no longer bury the conv weight that really changed."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Linear(4, 3))
    a = {k: v.clone() for k, v in net.state_dict().items()}
    b = {k: v.clone() for k, v in a.items()}
    b["0.weight"] += 0.01  # a small real change
    b["2.weight"] *= 2.0  # a large one
    b["1.bias"] += 0.5  # starts at 0: ∞
    b["1.running_mean"] += 0.1
    b["1.num_batches_tracked"] += 100
    b["1.running_var"] *= 1.1
    torch.save({"model_state_dict": a, "epoch": 0}, tmp_path / "a.pth")
    torch.save({"model_state_dict": b, "epoch": 1}, tmp_path / "b.pth")
    compare(qtbot, window, tmp_path / "a.pth", tmp_path / "b.pth")
    view = window.view
    assert view.visible_names() == [
        "2.weight", "0.weight", "1.bias",  # parameters: by rel L2, then ∞ (a = 0)
        "1.running_var", "1.running_mean", "1.num_batches_tracked",  # buffers: finite, then ∞
        "0.bias", "1.weight", "2.bias",  # unchanged
    ]  # fmt: skip
    assert column_texts(view, "rel L2")[2] == "∞ (a = 0)"
    assert view.table.horizontalHeader().sortIndicatorSection() == -1  # no column sorted: the reading order
    view.table.sortByColumn(COLUMNS.index("rel L2"), Qt.SortOrder.DescendingOrder)
    assert view.visible_names()[:3] == ["1.bias", "1.running_mean", "1.num_batches_tracked"]  # still on offer


def test_renumbered_optimizer_rows_show_both_keys_and_labels_and_the_note(qtbot, window, tmp_path):
    from inspector.core.analysis.diff import FRESH_OPTIMIZER_NOTE
    from tests.test_diff import write_base_and_renumbered_finetune

    path_a, path_b = write_base_and_renumbered_finetune(tmp_path)
    compare(qtbot, window, path_a, path_b)
    names = column_texts(window.view, "Tensor")
    assert "optimizer_state_dict/state.4.step ↔ state.0.step (step of fc.weight)" in names
    view = window.view
    only_a = names.index("optimizer_state_dict/state.0.step")  # only in A: its label in the tooltip
    tip = view.proxy.index(only_a, 0).data(Qt.ItemDataRole.ToolTipRole).splitlines()
    assert "step of conv.weight" in tip
    assert f"note: {FRESH_OPTIMIZER_NOTE}" in window.status.text()
    with qtbot.waitSignal(window.view.weight_view.view_shown, timeout=TIMEOUT):
        assert window.view.select("optimizer_state_dict/state.4.exp_avg")
    assert "no tensor matches" not in window.view.weight_view.message.text()
