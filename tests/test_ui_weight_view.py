"""WeightView: the picture for each shape, normalisation and channel switches, hover, stats, PNG export."""

import numpy as np
import pytest
import torch
from PIL import Image

from inspector.core import render
from inspector.core.analysis.stats import tensor_stats
from inspector.core.checkpoint.loader import load_checkpoint
from inspector.ui.weight_view import WeightView

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers")

TIMEOUT = 10_000


@pytest.fixture
def weights(tmp_path):
    g = torch.Generator().manual_seed(0)
    tensors = {
        "conv1.weight": torch.randn(16, 3, 5, 5, generator=g),
        "conv2.weight": torch.randn(8, 4, 3, 3, generator=g),
        "fc.weight": torch.randn(10, 20, generator=g),
        "fc.bias": torch.randn(10, generator=g),
        "steps": torch.tensor(12345),
    }
    torch.save(tensors, tmp_path / "w.pth")
    return load_checkpoint(tmp_path / "w.pth"), tensors


@pytest.fixture
def view(qtbot):
    widget = WeightView()
    widget.resize(800, 700)
    qtbot.addWidget(widget, before_close_func=lambda w: w.shutdown())
    return widget


def show(qtbot, view, ckpt, name, stats=True):
    with qtbot.waitSignal(view.view_shown, timeout=TIMEOUT) as shown:
        view.set_tensor(ckpt, ckpt.entry(name))
    if stats:
        qtbot.waitUntil(lambda: view.summary is not None, timeout=TIMEOUT)
    return shown.args[0]


def test_conv_weight_shows_its_filter_grid(qtbot, view, weights):
    ckpt, tensors = weights
    assert show(qtbot, view, ckpt, "conv1.weight") == "filters"
    grid = view.picture
    assert isinstance(grid, render.FilterGrid) and grid.composite and (grid.rows, grid.cols) == (4, 4)
    np.testing.assert_array_equal(view.image_item.image, grid.to_rgb())  # one ImageItem holds the mosaic
    assert view.pages.currentIndex() == 1
    assert [view.channel_combo.itemText(i) for i in range(view.channel_combo.count())] == [
        "RGB composite", "All channels", "Channel 0", "Channel 1", "Channel 2"]  # fmt: skip
    expected = render.filter_grid(tensors["conv1.weight"])
    np.testing.assert_array_equal(grid.image, expected.image)


def test_switching_normalisation_and_channel_rerenders(qtbot, view, weights):
    ckpt, tensors = weights
    show(qtbot, view, ckpt, "conv2.weight")
    assert view.picture.layout == "filters x channels" and view.picture.normalize == "filter"
    with qtbot.waitSignal(view.view_shown, timeout=TIMEOUT):
        view.set_normalization("global")
    grid = view.picture
    assert grid.normalize == "global"
    np.testing.assert_allclose(grid.scales, np.full(8, tensors["conv2.weight"].abs().max().item()))
    np.testing.assert_array_equal(view.image_item.image, view.fitted.rgb)  # re-flowed to the view's shape
    with qtbot.waitSignal(view.view_shown, timeout=TIMEOUT):
        view.set_channel(3)
    assert (
        view.picture.channel == 3 and view.picture.layout == "filters" and view.picture.normalize == "global"
    )
    assert view.colorbar.levels() == pytest.approx(view.picture.value_range)


def test_hover_names_filter_channel_and_value(qtbot, view, weights):
    ckpt, tensors = weights
    show(qtbot, view, ckpt, "conv2.weight", stats=False)
    grid = view.picture
    y, x = view.fitted.display_pixel(*grid.tile_origin(5, 2))  # filter 5, input channel 2, where it is drawn
    scene_pos = view.image_item.mapToScene(x + 1.5, y + 0.5)
    view.image_plot.scene().sigMouseMoved.emit(scene_pos)
    value = tensors["conv2.weight"][5, 2, 0, 1].item()
    assert view.hover_label.text() == f"filter 5, channel 2, y 0, x 1: w[5, 2, 0, 1] = {value:.6g}"
    assert view.hover_text(0, 0) == ""  # padding


def test_matrix_shows_a_heatmap_with_axes_and_vector_bars(qtbot, view, weights):
    ckpt, tensors = weights
    assert show(qtbot, view, ckpt, "fc.weight") == "heatmap"
    heat = view.picture
    np.testing.assert_array_equal(heat.values, tensors["fc.weight"].numpy())
    assert view.image_plot.getAxis("left").isVisible() and view.colorbar.isVisible()
    assert view.hover_text(2, 7) == f"row 2, col 7: {tensors['fc.weight'][2, 7].item():.6g}"
    assert not view.normalize_combo.isEnabled()
    assert show(qtbot, view, ckpt, "fc.bias") == "bars"
    assert view.pages.currentIndex() == 2 and view.picture.style == "bar"


def test_scalar_shows_its_exact_value(qtbot, view, weights):
    ckpt, _ = weights
    assert show(qtbot, view, ckpt, "steps", stats=False) == "scalar"
    assert "value: 12345" in view.message.text()
    assert not view.export_button.isEnabled()


def test_stats_and_histogram_are_exact(qtbot, view, weights):
    ckpt, tensors = weights
    show(qtbot, view, ckpt, "fc.weight")
    stats, hist = view.summary
    assert stats == tensor_stats(tensors["fc.weight"])
    assert hist.total == 200
    x, y = view.histogram_curve.getData()
    np.testing.assert_array_equal(y, hist.counts)
    assert "Min" in view.stats_label.text() and "NaN 0" in view.stats_label.text()


def test_export_png_writes_the_readable_grid(qtbot, view, weights, tmp_path):
    ckpt, tensors = weights
    show(qtbot, view, ckpt, "conv1.weight", stats=False)
    path = tmp_path / "grid.png"
    with qtbot.waitSignal(view.exported, timeout=TIMEOUT):
        view.export_png(str(path))
    readable = render.filter_grid(tensors["conv1.weight"], min_tile_px=render.READABLE_TILE_PX,
                                  max_side=render.PNG_MAX_SIDE)  # fmt: skip
    with Image.open(path) as img:
        np.testing.assert_array_equal(np.asarray(img), readable.to_rgb())
    show(qtbot, view, ckpt, "fc.bias", stats=False)
    view.export_png(str(tmp_path / "bars.png"))
    with Image.open(tmp_path / "bars.png") as img:
        assert img.size[0] > 100


def test_a_failing_read_shows_its_message(qtbot, view):
    from inspector.core.errors import InspectorError

    def broken():
        raise InspectorError("x.pth: tensor 'w' is truncated; re-download the file")

    with qtbot.waitSignal(view.failed, timeout=TIMEOUT) as failed:
        view.show_tensor("w", broken, (3, 3), "broken")
    assert failed.args == ["x.pth: tensor 'w' is truncated; re-download the file"]
    assert view.message.text() == failed.args[0]


def caption_breaks_inside(label, words: str) -> list[int]:
    """Label widths (200-900 px) at which word wrap would break ``label``'s text inside ``words``."""
    from PySide6.QtGui import QTextLayout, QTextOption

    text, bad = label.text(), []
    starts = [i for i in range(len(text)) if text.startswith(words, i)]
    for width in range(200, 900, 2):
        layout = QTextLayout(text, label.font())
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WordWrap)
        layout.setTextOption(option)
        layout.beginLayout()
        while (line := layout.createLine()).isValid():
            line.setLineWidth(width)
            end = line.textStart() + line.textLength()
            if any(s < end < s + len(words) for s in starts):
                bad.append(width)
        layout.endLayout()
    return bad


def test_a_many_channel_conv_fills_a_wide_view_in_bands_and_its_caption_keeps_w_whole(qtbot, view, tmp_path):
    """The demo's conv2 (32 filters x 16 channels) was a tall strip of tiny tiles in a wide view."""
    weight = torch.randn(32, 16, 3, 3, generator=torch.Generator().manual_seed(1))
    torch.save({"conv2.weight": weight}, tmp_path / "c.pth")
    ckpt = load_checkpoint(tmp_path / "c.pth")
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)
    show(qtbot, view, ckpt, "conv2.weight", stats=False)
    grid, fitted = view.picture, view.fitted
    assert (grid.rows, grid.cols) == (32, 16) and fitted.cols >= 2  # bands side by side
    h, w = view.image_item.image.shape[:2]
    assert w > h
    y, x = fitted.display_pixel(*grid.tile_origin(20, 5))
    assert view.hover_text(y, x + 2).startswith("filter 20, channel 5, y 0, x 2:")
    assert view.info.text().startswith(f"32 filters x 16 input channels in {fitted.cols} bands")
    assert "|w|" not in view.info.text()  # word joiners inside: no line break after the first bar
    assert "max |\u2060w\u2060|" in view.info.text()
    assert caption_breaks_inside(view.info, "|\u2060w\u2060|") == []
    view.resize(360, 900)  # a tall view: one band again, re-flowed on resize (no job runs)
    qtbot.waitUntil(lambda: view.fitted.cols == 1, timeout=TIMEOUT)
    assert view.image_item.image.shape[0] > view.image_item.image.shape[1]
