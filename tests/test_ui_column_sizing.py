"""Columns sized to their text on open: no clipped name, kind or shape in the tree or the compare window."""

import pathlib

import pytest
import torch
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QFontMetrics
from ui_fixtures import load_and_wait

from inspector.ui.diff_view import COLUMNS, DiffWindow
from inspector.ui.entry_tree_model import KIND, NAME, NODE_ROLE, SHAPE

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers")

DEMO = pathlib.Path(__file__).resolve().parents[1] / "resources" / "demo_mnist_cnn.pth"
TIMEOUT = 20_000


def find(model, text, parent=None):
    """The NAME-column index whose text is ``text`` (depth first)."""
    parent = parent if parent is not None else QModelIndex()
    for row in range(model.rowCount(parent)):
        index = model.index(row, NAME, parent)
        if index.data() == text:
            return index
        found = find(model, text, index)
        if found is not None:
            return found
    return None


def fits(view, index) -> bool:
    """The cell's rectangle is as wide as its text in its own font (plus the delegate's margins)."""
    font = index.data(Qt.ItemDataRole.FontRole) or view.font()
    return view.visualRect(index).width() >= QFontMetrics(font).horizontalAdvance(index.data()) + 6


@pytest.fixture
def shown_window(qtbot, window):
    window.show()
    qtbot.waitExposed(window)
    return window


def test_tree_columns_fit_names_kinds_and_shapes_on_open(qtbot, shown_window):
    window = shown_window
    load_and_wait(qtbot, window, DEMO)
    proxy, tree = window.proxy, window.tree
    counter = find(proxy, "num_batches_tracked")
    bn1 = find(proxy, "bn1")
    conv2_weight = find(proxy, "weight", find(proxy, "conv2"))
    assert counter is not None and bn1 is not None and conv2_weight is not None
    assert bn1.siblingAtColumn(KIND).data() == "BatchNorm2d"
    assert fits(tree, counter)  # was "num_batches…"
    assert fits(tree, bn1.siblingAtColumn(KIND))  # was "BatchNor…"
    assert fits(tree, conv2_weight.siblingAtColumn(SHAPE))
    group = find(proxy, "optimizer_state_dict")
    assert fits(tree, group)  # bold
    header = tree.header()
    assert header.sectionResizeMode(KIND) == header.ResizeMode.Interactive  # the user can still resize it
    assert header.sectionResizeMode(NAME) == header.ResizeMode.Stretch
    right = header.sectionViewportPosition(header.count() - 1) + header.sectionSize(header.count() - 1)
    assert right <= tree.viewport().width() + 1  # every column on screen, no horizontal scrolling
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=TIMEOUT)


def test_tree_tooltips_give_the_full_text(qtbot, window):
    load_and_wait(qtbot, window, DEMO)
    proxy = window.proxy
    counter = find(proxy, "num_batches_tracked")
    bn1 = find(proxy, "bn1")
    tip = Qt.ItemDataRole.ToolTipRole
    assert "model_state_dict/bn1.num_batches_tracked" in counter.data(tip)
    assert bn1.siblingAtColumn(KIND).data(tip).splitlines()[0] == "BatchNorm2d"
    conv2_weight = find(proxy, "weight", find(proxy, "conv2"))
    assert conv2_weight.siblingAtColumn(SHAPE).data(tip).splitlines()[0] == "32×16×3×3"
    assert bn1.data(NODE_ROLE).class_name.endswith("BatchNorm2d")
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=TIMEOUT)


@pytest.fixture
def demo_pair(tmp_path):
    """The demo file (B) against the same net freshly initialised, before any optimizer step (A)."""
    from inspector.core.models.demo import MnistCNN

    trained = torch.load(DEMO, weights_only=True)
    torch.manual_seed(0)
    net = MnistCNN()
    start = dict(trained, model_state_dict=net.state_dict(), epoch=0)
    start["optimizer_state_dict"] = torch.optim.Adam(net.parameters()).state_dict()
    torch.save(start, tmp_path / "start.pth")
    return tmp_path / "start.pth", DEMO


@pytest.fixture
def diff_window(qtbot):
    win = DiffWindow()  # its default size: what a user sees first
    qtbot.addWidget(win, before_close_func=lambda w: w.shutdown())
    win.show()
    qtbot.waitExposed(win)
    return win


def test_compare_window_columns_fit_names_and_shapes(qtbot, diff_window, demo_pair):
    with qtbot.waitSignal(diff_window.diff_finished, timeout=TIMEOUT):
        diff_window.compare(*map(str, demo_pair))
    qtbot.waitUntil(lambda: not diff_window.is_busy(), timeout=TIMEOUT)
    view = diff_window.view
    table, proxy = view.table, view.proxy
    assert proxy.rowCount() == 43
    for row in range(proxy.rowCount()):  # names were cut in the middle, Shape off-screen
        for column in (COLUMNS.index("Tensor"), COLUMNS.index("Shape"), COLUMNS.index("rel L2")):
            index = proxy.index(row, column)
            if index.data():
                assert fits(table, index), index.data()
    header = table.horizontalHeader()
    last = header.count() - 1
    assert header.sectionViewportPosition(last) + header.sectionSize(last) <= table.viewport().width() + 1
    name = proxy.index(0, 0)
    tip = name.data(Qt.ItemDataRole.ToolTipRole).splitlines()
    assert tip == [
        "fc1.weight",
        "parameter",
        "A: model_state_dict/fc1.weight",
        "B: model_state_dict/fc1.weight",
    ]
    assert proxy.index(0, COLUMNS.index("Shape")).data(Qt.ItemDataRole.ToolTipRole) == "64x1568"


def test_the_fine_tune_form_no_longer_holds_the_tree_narrow(qtbot, shown_window):
    """Its ~640 px form set the whole tab widget's minimum, so the tree's pane could not widen to its columns."""
    window = shown_window
    load_and_wait(qtbot, window, DEMO)
    assert window.tabs.minimumSizeHint().width() < 560
    before = window.splitter.sizes()
    window.tabs.setCurrentIndex(window.tabs.indexOf(window._training_page))
    assert window.splitter.sizes()[1] >= window.training_panel.minimumSizeHint().width()
    window.tabs.setCurrentIndex(0)
    assert window.splitter.sizes() == before
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=TIMEOUT)


def test_a_narrow_tree_keeps_its_names_readable(qtbot, window):
    """On the Fine-tune and Features tabs the tree's pane is narrow: the name column (the one that stretches)
    shrank to nothing while shape, dtype and size kept their widths. Now they give way; back on Details, they
    get their widths back."""
    window.resize(1280, 800)
    window.show()
    load_and_wait(qtbot, window, str(DEMO))
    tree, header = window.tree, window.tree.header()
    wide_shape = header.sectionSize(SHAPE)
    char = tree.fontMetrics().horizontalAdvance("0")
    window.splitter.setSizes([420, 860])
    qtbot.waitUntil(lambda: tree.viewport().width() < 420, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: header.sectionSize(NAME) >= 14 * char, timeout=TIMEOUT)
    assert header.sectionSize(SHAPE) < wide_shape
    window.splitter.setSizes([900, 380])
    qtbot.waitUntil(lambda: header.sectionSize(SHAPE) == wide_shape, timeout=TIMEOUT)
