"""The Features tab: draw a digit, run it, pick layers, zero channels, browse MNIST (offscreen, no sleeps)."""

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, Qt
from ui_fixtures import FEATURES_TIMEOUT as TIMEOUT
from ui_fixtures import load_and_wait, run_and_wait

from inspector.core.checkpoint.loader import load_checkpoint
from inspector.ui.feature_map_view import FeatureMapView
from inspector.ui.session import Session

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers", "private_dirs")

DEMO = "resources/demo_mnist_cnn.pth"


def test_first_run_shows_model_prediction_and_the_first_conv(view):
    assert view.result.device == "cpu" and view.source() == "canvas"
    assert "mnist_cnn" in view.model_label.text().lower() or "MnistCNN" in view.model_label.text()
    assert view.prediction_label.text().startswith("Prediction: ")
    assert len(view.prediction_plot.rows) == 5
    names = [view.layer_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(view.layer_list.count())]
    assert names == ["conv1", "bn1", "pool", "conv2", "pool#2", "fc1", "fc2"]
    assert view.layer_name == "conv1" and view.mosaic.channels == 16
    assert view.picture_stack.currentWidget() is view.map_view
    assert view.map_view.item.image.shape[:2] == view.mosaic.values.shape
    assert "ran on cpu" in view.status.text() and not view.is_busy()


def test_drawing_on_the_canvas_runs_again_and_updates_in_place(qtbot, view):
    first = view.result
    item, mosaic_shape = view.map_view.item, view.mosaic.values.shape
    view.canvas.clear()  # runs once; the one after the stroke is the one we look at
    qtbot.waitUntil(lambda: not view.is_busy(), timeout=TIMEOUT)
    side = min(view.canvas.width(), view.canvas.height())
    x0, y0 = (view.canvas.width() - side) // 2, (view.canvas.height() - side) // 2

    def at(ix, iy):
        return QPoint(x0 + int(ix * side / 28), y0 + int(iy * side / 28))

    def draw_a_one():
        qtbot.mousePress(view.canvas, Qt.MouseButton.LeftButton, pos=at(14, 4))
        for iy in range(6, 25, 2):
            qtbot.mouseMove(view.canvas, at(14, iy))
        qtbot.mouseRelease(view.canvas, Qt.MouseButton.LeftButton, pos=at(14, 24))

    drawn = run_and_wait(qtbot, view, draw_a_one)
    image = view.canvas.image()
    assert image[4:25, 13:16].mean() > 100 and image[:, :8].max() == 0  # a vertical stroke, nothing else
    assert drawn is view.result and not torch.equal(drawn.logits, first.logits)
    assert view.map_view.item is item and view.mosaic.values.shape == mosaic_shape  # same item, new picture
    assert np.array_equal(view.mosaic.values[:28, :28], drawn.layer("conv1").output[0].numpy())
    assert view.prediction_plot.rows and view.prediction_label.text().startswith("Prediction: ")
    assert view.canvas.undo() and view.undo_button.isEnabled()


def test_picking_another_layer(view):
    rows = {view.layer_list.item(i).data(Qt.ItemDataRole.UserRole): i for i in range(view.layer_list.count())}
    view.layer_list.setCurrentRow(rows["conv2"])
    assert view.layer_name == "conv2" and view.mosaic.channels == 32
    assert view.layer_title.text() == "conv2 · Conv2d · 32x14x14"
    view.layer_list.setCurrentRow(rows["fc1"])
    assert view.mosaic is None and view.picture_stack.currentWidget() is view.bar_plot
    heights = view.bars.opts["height"]
    assert len(heights) == 64 and np.allclose(heights, view.result.layer("fc1").output.numpy())


def test_normalisation_switch_changes_the_scales(view):
    shared = view.mosaic.scales.copy()
    view.normalize_combo.setCurrentIndex(view.normalize_combo.findData("channel"))
    assert view.mosaic.normalize == "channel"
    assert np.allclose(view.mosaic.scales, view.result.layer("conv1").output.abs().amax(dim=(1, 2)).numpy())
    assert np.all(shared == shared.max()) and not np.all(view.mosaic.scales == view.mosaic.scales.max())


def test_clicking_a_channel_shows_it_large_and_ablation_shows_before_and_after(qtbot, view):
    view.select_layer("conv2")
    y, x = view.mosaic.tile_origin(3)
    view.map_view.clicked.emit(y + 2, x + 2, Qt.KeyboardModifier.NoModifier)
    assert view.selected == [3] and view.ablate_button.isEnabled() and not view.channel_view.isHidden()
    assert "conv2 channel 3" in view.channel_caption.text()
    large = view.channel_view.item.image
    assert large.shape[:2] == (14, 14)
    y, x = view.mosaic.tile_origin(5)
    view.map_view.clicked.emit(y, x, Qt.KeyboardModifier.ControlModifier)
    assert view.selected == [3, 5]

    before_logits = view.result.logits
    view.resize(790, 660)  # the tab's size in the window at its default size: the left column is ~220 px
    after = run_and_wait(qtbot, view, view.ablate_button.click)
    assert after.ablated == {"conv2": [3, 5]} and view.before is not None
    assert torch.equal(view.before.logits, before_logits)
    assert float(after.layer("conv2").output[[3, 5]].abs().max()) == 0.0
    assert view.prediction_label.text().startswith("Before (grey): predicts ")
    assert "→  after zeroing conv2 channels 3, 5 (red): predicts " in view.prediction_label.text()
    plot = (
        view.prediction_plot.getPlotItem()
    )  # its title made it wider than its widget: title and bars clipped
    qtbot.waitUntil(lambda: plot.sceneBoundingRect().width() <= view.prediction_plot.viewport().width() + 1,
                    timeout=5000)  # fmt: skip
    assert len(view.prediction_plot.before.opts["width"]) >= 5  # grey bars beside the red ones
    assert view.restore_button.isEnabled()

    restored = run_and_wait(qtbot, view, view.restore_button.click)
    assert restored.ablated == {} and view.before is None and torch.equal(restored.logits, before_logits)
    assert view.prediction_label.text().startswith("Prediction: ")


def test_ablating_every_channel_of_the_last_conv_changes_the_prediction(qtbot, view):
    view.select_layer("conv2")
    view.selected = list(range(32))
    before = view.result.probabilities
    after = run_and_wait(qtbot, view, view.ablate_selected)
    assert not torch.allclose(after.probabilities, before, atol=1e-3)


def test_export_png_writes_the_mosaic(view, tmp_path):
    from PIL import Image

    path = view.export_png(str(tmp_path / "conv1.png"))
    assert Image.open(path).size[0] >= 256
    view.select_layer("fc2")
    bars = view.export_png(str(tmp_path / "fc2.png"))
    assert Image.open(bars).size[0] > 0


def test_cancel_stops_the_run_and_keeps_the_last_result(qtbot, view):
    shown = view.result
    view.canvas.clear()  # starts a run; its result cannot arrive before the event loop runs
    assert view.is_busy() and not view.cancel_button.isHidden()
    view.cancel_button.click()
    assert not view.is_busy() and view.cancel_button.isHidden() and view.status.text() == "cancelled"
    qtbot.waitUntil(lambda: not any(w.is_running() for w in view._jobs._started), timeout=TIMEOUT)
    assert view.result is shown  # what the cancelled run computed was dropped


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_an_error_in_the_view(qtbot, view):
    with qtbot.waitSignal(view.failed, timeout=TIMEOUT) as blocker:
        view.device_combo.setCurrentText("cuda")
    assert "CUDA" in blocker.args[0] and "CUDA" in view.status.text()
    assert view.result is not None  # the last good result stays on screen


def test_mnist_browse_by_index_label_and_random(qtbot, view, mnist_root):
    assert view.set_data_root(mnist_root)
    shown = run_and_wait(qtbot, view, lambda: view.set_source("mnist"))
    assert shown.input_shape == (1, 1, 28, 28) and view.input_stack.currentWidget() is view.input_view
    assert view.input_caption.text() == "MNIST test #0, true label 7"
    assert "(true: 7)" in view.prediction_label.text()
    run_and_wait(qtbot, view, lambda: view.index_spin.setValue(1))
    assert view.input_caption.text() == "MNIST test #1, true label 2"

    def choose_label_zero():
        view.label_combo.setCurrentIndex(view.label_combo.findData(0))
        view.label_combo.activated.emit(view.label_combo.currentIndex())

    run_and_wait(qtbot, view, choose_label_zero)
    index = view.index_spin.value()
    assert index > 1 and view.samples.labels[index] == 0 and "true label 0" in view.input_caption.text()
    last = len(view.samples.labels) - 1  # any index but the current one, so it runs
    view.samples.random_index = lambda rng=None, label=None, avoid=-1: last
    run_and_wait(qtbot, view, view.random_button.click)
    assert view.input_caption.text() == f"MNIST test #{last}, true label {int(view.samples.labels[last])}"


def write_flat_fashion(root):
    """A flat folder of Fashion-MNIST-named files (like /usr/share/datasets/fashion-mnist), known by its labels."""
    from finetune_fixtures import write_idx

    labels = [9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 0, 3]  # Fashion-MNIST test split's first labels, then two more
    images = torch.randint(
        0, 256, (len(labels), 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    root.mkdir(parents=True)
    write_idx(root / "t10k-images-idx3-ubyte.gz", images)
    write_idx(root / "t10k-labels-idx1-ubyte.gz", torch.tensor(labels, dtype=torch.uint8))
    return root


def test_fashion_mnist_is_named_with_its_own_classes_and_a_digit_model_says_so(qtbot, view, tmp_path):
    from inspector.core.data.preprocess import FASHION

    assert view.set_data_root(write_flat_fashion(tmp_path / "data"))
    run_and_wait(qtbot, view, lambda: view.set_source("mnist"))
    run_and_wait(qtbot, view, lambda: view.index_spin.setValue(2))
    assert view.input_caption.text() == "Fashion-MNIST test #2, true label Trouser"
    assert view.source_combo.currentText() == "Fashion-MNIST"
    assert [view.label_combo.itemText(i) for i in range(view.label_combo.count())] == ["any label", *FASHION]
    assert view.prediction_label.text().endswith(
        "(true: Trouser — the model predicts digits, not Fashion-MNIST classes)"
    )  # the demo net's digits are no comparison with a trouser: said once, no ✓ on a bar
    assert not any(row.endswith(" ✓") for row in view.prediction_plot.rows)

    def choose_sandal():
        view.label_combo.setCurrentIndex(view.label_combo.findText("Sandal"))
        view.label_combo.activated.emit(view.label_combo.currentIndex())

    run_and_wait(qtbot, view, choose_sandal)
    assert view.index_spin.value() == 8 and "true label Sandal" in view.input_caption.text()


def test_class_sets_are_named():
    from inspector.core.data.preprocess import DIGITS, FASHION
    from inspector.ui.feature_map_view import class_set

    imagenet = ("tench", *(f"c{i}" for i in range(999)))
    assert [class_set(DIGITS), class_set(FASHION), class_set(imagenet), class_set(("a", "b"))] == [
        "digits", "Fashion-MNIST classes", "ImageNet classes", "2 classes of its own"]  # fmt: skip


def test_window_filter_pick_waits_for_the_features_tab_and_tree_selection_picks_the_layer(qtbot, window):
    """A filter clicked in the Weights tab before the Features tab ever ran is still picked when it opens."""
    window.show()
    load_and_wait(qtbot, window, DEMO)
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=TIMEOUT)
    assert window.select_entry("model_state_dict/conv2.weight")
    window.weights_tab.filter_picked.emit(7)
    view = window.features_tab
    with qtbot.waitSignal(view.result_shown, timeout=TIMEOUT):
        window.tabs.setCurrentWidget(window._features_page)
    assert view.layer_name == "conv2" and view.selected == [7] and view.ablate_button.isEnabled()
    assert window.select_entry("model_state_dict/fc1.weight") and view.layer_name == "fc1"
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Features"


TINY_MODEL = """
import torch
from torch import nn

class TinyConvNet(nn.Module):
    def __init__(self, width=2):
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        self.head = nn.Linear(width * 28 * 28, 10)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).flatten(1))
"""


def test_unknown_architecture_says_what_to_do_then_a_chosen_class_runs(qtbot, tmp_path, monkeypatch):
    """A bare state dict no architecture matches: the view says so; "Choose model class…" asks before it runs
    the file, and the model label then names the class as the source."""
    from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

    source = tmp_path / "tiny_model.py"
    source.write_text(TINY_MODEL)
    namespace: dict = {}
    exec(TINY_MODEL, namespace)
    torch.manual_seed(0)
    path = tmp_path / "tiny.pth"
    torch.save(namespace["TinyConvNet"]().state_dict(), path)  # width 2, the default
    session = Session()
    view = FeatureMapView(session)
    qtbot.addWidget(view)
    session.set_checkpoint(load_checkpoint(path))
    with qtbot.waitSignal(view.failed, timeout=TIMEOUT) as failed:
        view.show()
    assert "model class" in failed.args[0].lower() and len(failed.args[0].splitlines()) == 1
    assert view.message.text() == failed.args[0] and view.picture_stack.currentWidget() is view.message

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(source), "")))
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("TinyConvNet", True)))
    asked = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(
        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No))  # fmt: skip
    view.class_button.click()
    assert asked and "runs its code" in asked[0] and session.model_class == ""  # No: nothing imported
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes))
    result = run_and_wait(qtbot, view, view.class_button.click)
    assert session.model_class == f"{source}:TinyConvNet"
    assert view.model_label.text().startswith("Model: model class TinyConvNet")
    assert [layer.name for layer in result.layers] == ["conv", "head"] and view.mosaic.channels == 2
    view.shutdown()


def test_model_label_names_the_architecture(view):
    assert view.model_label.text().startswith("Model: known architecture mnist_cnn")


def test_tensor_selected_before_the_tab_is_made_opens_its_layer(qtbot, window):
    """``--select layer1.0.conv1.weight --tab features``: the tab is built after the selection, and follows it."""
    window.show()
    load_and_wait(qtbot, window, DEMO)
    assert window.select_entry("model_state_dict/conv2.weight")
    with qtbot.waitSignal(window.features_tab.result_shown, timeout=TIMEOUT):
        window.tabs.setCurrentWidget(window._features_page)
    assert window.features_tab.layer_name == "conv2" and window.features_tab.mosaic.channels == 32


def fitted(image_view) -> float:
    """How many times the picture fits in the view's range along its tighter axis: ~1 when the view is fitted."""
    (x0, x1), (y0, y1) = image_view.plot.vb.viewRange()
    h, w = image_view.item.image.shape[:2]
    return min((x1 - x0) / w, (y1 - y0) / h)


def test_another_layer_after_marked_channels_fits_the_view(qtbot, view, mnist_root):
    """Channels marked on conv1, then fc1 (bars), then pool#2: the old marks must not widen the fitted range
    (the mosaic sat tiny in a corner), and a new input of the same layer keeps the fitted view."""
    view.toggle_channel(3)
    view.toggle_channel(5, add=True)
    run_and_wait(qtbot, view, view.ablate_selected)
    view.select_layer("fc1")
    view.select_layer("pool#2")
    assert fitted(view.map_view) < 1.1
    assert view.set_data_root(mnist_root)
    run_and_wait(qtbot, view, lambda: view.set_source("mnist"))
    assert view.layer_name == "pool#2" and fitted(view.map_view) < 1.1


def test_a_picture_of_another_shape_is_fitted_even_when_the_view_is_kept(qtbot):
    from inspector.ui.tensor_image import TensorImage

    image = TensorImage()
    qtbot.addWidget(image)
    image.resize(400, 400)
    image.show()
    image.show_rgb(np.zeros((100, 100, 3), np.uint8), (-1.0, 1.0))
    image.show_rgb(np.zeros((20, 10, 3), np.uint8), (-1.0, 1.0), keep_view=True)
    assert fitted(image) < 1.1


def test_the_large_channel_and_the_input_keep_their_shape_and_take_the_room(qtbot, view, mnist_root):
    """The picked channel was a ~40 px thumbnail beside a colour bar, and the MNIST digit was cropped to a
    tall strip once the channel view took half the width: both are squares now, as large as the room allows."""
    assert view.set_data_root(mnist_root)
    run_and_wait(qtbot, view, lambda: view.set_source("mnist"))
    view.toggle_channel(3)
    qtbot.waitUntil(lambda: view.channel_view.isVisible(), timeout=TIMEOUT)
    pair, vb = view.input_pair, view.channel_view.plot.vb

    def square_and_large():  # the graphics layout follows the widget's new size on the next events
        box = vb.sceneBoundingRect()
        return abs(box.width() - box.height()) <= 2 and box.width() >= 100

    qtbot.waitUntil(square_and_large, timeout=5000)
    (x0, x1), (y0, y1) = view.channel_view.plot.vb.viewRange()
    assert min((x1 - x0) / 28, (y1 - y0) / 28) < 1.1  # the 28x28 channel fills its square
    drawn = view.input_view.image_rect()
    assert abs(drawn.width() - drawn.height()) < 1 and drawn.width() >= 100
    side = max(min(pair.width() // 2, pair.height()), min(pair.width(), pair.height() // 2))
    assert view.channel_view.width() == view.input_stack.width() == side


def test_after_zeroing_the_caption_says_zero_and_the_colour_scale_is_the_one_before(qtbot, view):
    """The zeroed channel's caption said "max |v| 1" and the mosaic's scale dropped (±4.3 to ±2.8 on an MNIST
    digit), so before and after could not be compared: the run before zeroing sets the scale (a tick box)."""
    view.toggle_channel(3)
    view.toggle_channel(5, add=True)
    before_scale = float(view.mosaic.scales.max())
    run_and_wait(qtbot, view, view.ablate_selected)
    assert "conv1 channel 5: max |v| 0 (before zeroing " in view.channel_caption.text()
    assert not view.scale_check.isHidden() and view.scale_check.isChecked()
    assert float(view.mosaic.scales.max()) == before_scale
    assert view.map_view.colorbar.levels() == (-before_scale, before_scale)
    view.scale_check.setChecked(False)
    own = float(view.result.layer("conv1").output.abs().max())
    assert float(view.mosaic.scales.max()) == pytest.approx(own) and own != before_scale
    assert view.channel_caption.text().startswith("conv1 channel 5: max |v| 0; ")
    run_and_wait(qtbot, view, view.restore_button.click)
    assert view.scale_check.isHidden()


def test_the_scale_box_waits_for_a_zeroed_run_and_the_drawn_caption_is_one_line(qtbot, view):
    from PySide6.QtWidgets import QApplication
    from ui_fixtures import make_view

    _session, bare = make_view(qtbot)
    bare.show()
    assert bare.scale_check.isHidden()  # no model ran: nothing was zeroed, nothing to scale by
    view.resize(790, 680)  # the tab's size in the window at its default size
    QApplication.processEvents()
    caption = view.input_caption
    assert caption.text() == "drawn digit" and caption.isVisible()
    assert caption.heightForWidth(caption.width()) < 1.5 * caption.fontMetrics().lineSpacing()  # not wrapped
