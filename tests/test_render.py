"""The numbers behind every picture: colormap centring, filter-grid layout and normalisation, reductions."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from inspector.core import render
from inspector.core.errors import InspectorError


def conv_weight(out=4, cin=3, k=3, seed=0) -> torch.Tensor:
    return torch.randn(out, cin, k, k, generator=torch.Generator().manual_seed(seed))


# -- colormap --------------------------------------------------------------------------------------------------
def test_zero_maps_to_the_neutral_middle_whatever_the_range():
    for vmax in (1e-6, 1.0, 1e6):
        rgb = render.diverging_rgb(np.array([-vmax, 0.0, vmax]), vmax)
        assert tuple(rgb[1]) == render.NEUTRAL_RGB
        assert tuple(rgb[0]) == tuple(render.DIVERGING_LUT[0])
        assert tuple(rgb[2]) == tuple(render.DIVERGING_LUT[-1])
    assert tuple(render.DIVERGING_LUT[render.LUT_SIZE // 2]) == render.NEUTRAL_RGB


def test_negative_is_blue_positive_is_red_and_colour_darkens_away_from_zero():
    values = np.linspace(-1, 1, 41)
    rgb = render.diverging_rgb(values, 1.0).astype(int)
    neg, pos = rgb[:20], rgb[21:]
    assert (neg[:, 2] > neg[:, 0]).all() and (pos[:, 0] > pos[:, 2]).all()
    lightness = rgb.sum(axis=1)
    assert lightness.argmax() == 20  # the middle (0) is the lightest colour
    assert (np.diff(lightness[:21]) > 0).all() and (np.diff(lightness[20:]) < 0).all()


def test_clipping_nan_and_zero_range():
    rgb = render.diverging_rgb(np.array([5.0, -5.0, np.inf, np.nan]), 1.0)
    assert tuple(rgb[0]) == tuple(render.DIVERGING_LUT[-1]) == tuple(rgb[2])
    assert tuple(rgb[1]) == tuple(render.DIVERGING_LUT[0])
    assert tuple(rgb[3]) == render.NAN_RGB
    assert (render.diverging_rgb(np.zeros((2, 2)), 0.0) == render.NEUTRAL_RGB).all()


# -- filter grids ----------------------------------------------------------------------------------------------
def tile(grid: render.FilterGrid, r: int, c: int) -> np.ndarray:
    y, x = grid.tile_origin(r, c)
    return grid.image[y : y + grid.tile_h, x : x + grid.tile_w]


def test_resnet_conv1_shape_gives_an_8x8_rgb_composite():
    w = conv_weight(64, 3, 7)
    grid = render.filter_grid(w)
    assert (grid.rows, grid.cols, grid.tile_h, grid.tile_w, grid.padding) == (8, 8, 7, 7, 1)
    assert grid.composite and grid.layout == "filters" and grid.filters_shown == 64
    assert grid.image.shape == (8 * 8 + 1, 8 * 8 + 1, 3)
    # tile 11 is filter 11, channels as RGB, scaled by the filter's max |w|
    expected = (w[11] / w[11].abs().max()).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(tile(grid, 1, 3), expected, rtol=1e-6)
    assert np.isnan(grid.image[0]).all() and np.isnan(grid.image[:, 8]).all()  # padding rows/columns


def test_readable_scale_upscales_tiles_with_nearest_neighbour():
    w = conv_weight(64, 3, 7)
    grid = render.filter_grid(w, min_tile_px=48, max_side=4096)
    assert grid.scale == 7 and grid.tile_h == 49 and grid.padding == 4
    assert grid.image.shape[:2] == (8 * (49 + 4) + 4,) * 2
    block = tile(grid, 0, 0)[:7, :7]  # weight (0, :, 0, 0) drawn as a 7x7 block
    assert np.ptp(block.reshape(-1, 3), axis=0).max() == 0
    small = render.filter_grid(w)
    np.testing.assert_array_equal(tile(grid, 2, 5)[::7, ::7], tile(small, 2, 5))


def test_max_side_shrinks_tiles_before_anything_else():
    grid = render.filter_grid(conv_weight(64, 3, 7), min_tile_px=48, max_side=300)
    assert max(grid.image.shape[:2]) <= 300 and grid.filters_shown == 64 and grid.scale < 7


def test_per_filter_normalisation_reaches_one_in_every_filter():
    w = conv_weight(6, 2, 3) * torch.tensor([1, 10, 100, 0.1, 1, 1.0]).reshape(6, 1, 1, 1)
    grid = render.filter_grid(w, normalize="filter", channel=None)
    assert grid.layout == "filters x channels"
    for f in range(6):
        row = np.concatenate([tile(grid, f, c).ravel() for c in range(2)])
        assert np.abs(row).max() == pytest.approx(1.0)
    np.testing.assert_allclose(grid.scales, w.abs().amax(dim=(1, 2, 3)).numpy())


def test_global_normalisation_keeps_ratios_between_filters():
    w = conv_weight(4, 1, 3)
    w[2] *= 50
    grid = render.filter_grid(w, normalize="global")
    vmax = float(w.abs().max())
    assert grid.value_range == pytest.approx((-vmax, vmax))
    np.testing.assert_allclose(tile(grid, 0, 0), w[0, 0].numpy() / vmax, rtol=1e-6)
    assert np.abs(tile(grid, 1, 0)).max() == pytest.approx(1.0)  # filter 2: the largest
    assert np.abs(tile(grid, 0, 1)).max() < 0.2


def test_zero_weights_are_neutral_and_padding_is_background():
    w = torch.zeros(4, 1, 3, 3)
    w[1, 0, 1, 1] = -2.0
    grid = render.filter_grid(w)
    rgb = grid.to_rgb()
    mask = grid.padding_mask()
    assert (rgb[mask] == render.BACKGROUND_RGB).all()
    y, x = grid.tile_origin(0, 0)
    assert (rgb[y : y + 3, x : x + 3] == render.NEUTRAL_RGB).all()  # an all-zero filter
    y, x = grid.tile_origin(0, 1)
    assert tuple(rgb[y + 1, x + 1]) == tuple(render.DIVERGING_LUT[0])  # -max -> the blue end
    assert mask.sum() == rgb.shape[0] * rgb.shape[1] - 4 * 9


def test_channel_choice_and_composite_rules():
    w = conv_weight(5, 4, 3)
    one = render.filter_grid(w, channel=2)
    assert one.layout == "filters" and (one.rows, one.cols) == (2, 3) and one.channel == 2
    np.testing.assert_allclose(tile(one, 1, 1), w[4, 2].numpy() / w[4].abs().max().item(), rtol=1e-6)
    assert tile(one, 1, 2).size and np.isnan(tile(one, 1, 2)).all()  # the 6th place of 5 filters is empty
    with pytest.raises(
        InspectorError, match=r"^the weight has 4 input channels \(0-3\) and an RGB composite needs 3;"
    ):
        render.filter_grid(w, composite=True)
    with pytest.raises(
        InspectorError, match=r"^conv.weight has 4 input channels \(0-3\), not 7; pick a channel from 0"
    ):
        render.filter_grid(w, channel=7, name="conv.weight")
    three = conv_weight(5, 3, 3)
    assert not render.filter_grid(three, composite=False).composite
    assert render.filter_grid(three, channel=1).channel == 1


def test_depthwise_and_pointwise_convs():
    depthwise = render.filter_grid(conv_weight(6, 1, 3))
    assert depthwise.layout == "filters" and depthwise.channel == 0
    w = torch.randn(4, 8, 1, 1)
    pointwise = render.filter_grid(w, normalize="global")
    assert pointwise.padding == 0 and pointwise.image.shape == (4, 8)  # the [out, in] matrix itself
    np.testing.assert_allclose(pointwise.image, w[:, :, 0, 0].numpy() / w.abs().max().item(), rtol=1e-6)


def test_locate_names_every_tile_pixel_and_none_on_padding():
    w = conv_weight(3, 2, 3)
    grid = render.filter_grid(w, min_tile_px=6)
    mask = grid.padding_mask()
    for row in range(grid.image.shape[0]):
        for col in range(grid.image.shape[1]):
            pixel = grid.locate(row, col)
            assert (pixel is None) == bool(mask[row, col])
            if pixel is not None:
                assert pixel.values == (pytest.approx(float(w[pixel.index])),)
                assert pixel.index == (pixel.filter, pixel.channel, pixel.y, pixel.x)
    assert grid.locate(-1, 3) is None and grid.locate(10_000, 3) is None


def test_composite_locate_reports_three_values():
    w = conv_weight(4, 3, 3)
    grid = render.filter_grid(w)
    y, x = grid.tile_origin(1, 0)
    pixel = grid.locate(y + 2, x + 1)
    assert (pixel.filter, pixel.channel, pixel.y, pixel.x) == (2, None, 2, 1)
    np.testing.assert_allclose(pixel.values, w[2, :, 2, 1].numpy())


def test_conv1d_and_conv3d_weights():
    grid1 = render.filter_grid(torch.randn(4, 2, 5))
    assert (grid1.tile_h, grid1.tile_w) == (1, 5)
    w3 = torch.randn(2, 2, 3, 4, 5)
    grid3 = render.filter_grid(w3)
    assert (grid3.tile_h, grid3.tile_w) == (4, 15) and "depth" in grid3.note
    y, x = grid3.tile_origin(1, 0)
    pixel = grid3.locate(y + 3, x + 12)  # depth slice 2, x 2
    assert pixel.index == (1, 0, 2, 3, 2) and pixel.values[0] == pytest.approx(float(w3[1, 0, 2, 3, 2]))


def test_too_many_pixels_shows_the_first_filters_with_a_note():
    grid = render.filter_grid(torch.randn(64, 64, 3, 3), max_pixels=20_000)
    assert grid.filters_shown < 64 and grid.image.size <= 20_000
    assert "showing filters 0-" in grid.note and "input channel" in grid.note


@pytest.mark.parametrize("shape", [(10,), (3, 4), (2, 3, 4, 5, 6, 7)])
def test_non_conv_tensors_are_refused_with_a_suggestion(shape):
    with pytest.raises(
        InspectorError, match=rf"^w is a {len(shape)}-D tensor \[.*not a conv weight.*; draw it as a"
    ):
        render.filter_grid(torch.zeros(shape), name="w")


def test_nan_weights_show_in_their_own_colour():
    w = conv_weight(2, 1, 3)
    w[0, 0, 0, 0] = math.nan
    grid = render.filter_grid(w)
    y, x = grid.tile_origin(0, 0)
    assert tuple(grid.to_rgb()[y, x]) == render.NAN_RGB
    assert math.isfinite(grid.scales[0])


# -- views by shape --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "kind"),
    [((), "scalar"), ((1,), "scalar"), ((0, 3), "empty"), ((64,), "bars"), ((10, 5), "heatmap"),
     ((1, 77, 768), "heatmap"), ((64, 3, 7, 7), "filters"), ((64, 1, 3, 3), "filters"),
     ((512, 256, 1, 1), "heatmap"), ((8, 3, 224, 224), "heatmap"), ((8, 4, 3, 3, 3), "filters"), ((4, 2, 5), "heatmap")],
)  # fmt: skip
def test_view_kind(shape, kind):
    assert render.view_kind(shape) == kind


@pytest.mark.parametrize(
    ("shape", "matrix"),
    [
        ((512, 256, 1, 1), (512, 256)),
        ((256, 128, 3), (256, 384)),
        ((12, 64, 100), (768, 100)),
        ((5,), (1, 5)),
    ],
)
def test_matrix_shape(shape, matrix):
    assert render.matrix_shape(shape) == matrix


# -- heatmaps, series ------------------------------------------------------------------------------------------
def test_small_matrix_is_drawn_exactly():
    m = torch.randn(10, 12)
    heat = render.heatmap_array(m, max_side=64)
    assert heat.method == "exact" and heat.factor == (1, 1)
    np.testing.assert_array_equal(heat.values, m.numpy())
    assert heat.vmax == pytest.approx(float(m.abs().max()))
    assert heat.locate(3, 4) == (slice(3, 4), slice(4, 5), pytest.approx(float(m[3, 4])))


def test_absmax_reduction_keeps_an_outlier_and_its_sign():
    m = torch.randn(100, 100) * 0.01
    m[55, 33] = -50.0
    heat = render.heatmap_array(m, max_side=10)
    assert heat.factor == (10, 10) and heat.values.shape == (10, 10) and heat.method == "absmax"
    assert heat.values[5, 3] == -50.0 and heat.vmax == 50.0
    assert heat.locate(5, 3)[:2] == (slice(50, 60), slice(30, 40))


def test_colour_scale_is_robust_to_one_outlier_which_still_shows_saturated():
    m = torch.linspace(-1, 1, 100 * 100).reshape(100, 100)
    m[7, 9] = -500.0
    heat = render.heatmap_array(m)
    assert heat.vmax == 500.0 and heat.clip == pytest.approx(1.0, abs=0.01)
    rgb = heat.to_rgb()
    assert tuple(rgb[7, 9]) == tuple(render.DIVERGING_LUT[0])
    assert tuple(rgb[99, 99]) == tuple(render.DIVERGING_LUT[-1])  # +1: the end colour, not washed out
    sparse = torch.zeros(50, 50)
    sparse[3, 3] = 2.0  # one changed weight in a difference: the scale falls back to max |v|
    assert render.heatmap_array(sparse).clip == 2.0


def test_mean_and_subsample_reductions_with_ragged_blocks():
    m = torch.arange(101 * 37, dtype=torch.float32).reshape(101, 37)
    mean = render.heatmap_array(m, max_side=10, reduce="mean")
    assert mean.factor == (11, 4) and mean.values.shape == (10, 10)
    assert mean.values[0, 0] == pytest.approx(float(m[:11, :4].mean()))
    assert mean.values[9, 9] == pytest.approx(float(m[99:, 36:].mean()))  # the ragged corner block
    sub = render.heatmap_array(m, max_side=10, reduce="subsample")
    np.testing.assert_array_equal(sub.values, m[::11, ::4].numpy())


def test_heatmap_is_the_same_when_read_in_small_chunks(monkeypatch):
    m = torch.randn(300, 70)
    whole = render.heatmap_array(m, max_side=32)
    monkeypatch.setattr(render.heatmaps, "CHUNK_ELEMENTS", 500)
    progress = []
    chunked = render.run_job(render.iter_heatmap(m, max_side=32), progress.append)
    np.testing.assert_array_equal(chunked.values, whole.values)
    assert len(progress) > 5


def test_series_bars_then_reduced_lines():
    small = render.series_1d(torch.arange(10.0))
    assert small.style == "bar" and small.factor == 1
    np.testing.assert_array_equal(small.y, np.arange(10.0))
    big = torch.zeros(100_000)
    big[70_001] = 3.0
    series = render.series_1d(big, max_points=1000)
    assert series.style == "line" and series.factor == 100 and len(series.y) == 1000
    assert series.y[700] == 3.0 and series.x[700] == 70_000


# -- histograms ------------------------------------------------------------------------------------------------
def test_histogram_counts_equal_numpy_and_skip_non_finite(monkeypatch):
    values = torch.randn(10_000, dtype=torch.float64)
    values[:7] = math.nan
    values[7:10] = math.inf
    monkeypatch.setattr(render.histograms, "CHUNK_ELEMENTS", 999)  # many chunks: counts must still be exact
    hist = render.histogram(values, bins=50)
    finite = values[torch.isfinite(values)].numpy()
    counts, edges = np.histogram(finite, bins=50)
    np.testing.assert_array_equal(hist.counts, counts)
    np.testing.assert_allclose(hist.edges, edges)
    assert (hist.nan, hist.inf, hist.total) == (7, 3, 9990)


def test_integer_histogram_has_a_bin_per_value_and_constants_work():
    hist = render.histogram(torch.tensor([0, 1, 1, 2, 5]))
    np.testing.assert_array_equal(hist.counts, [1, 2, 1, 0, 0, 1])
    np.testing.assert_array_equal(hist.edges, np.arange(-0.5, 6.0))
    const = render.histogram(torch.full((10,), 3.0), bins=4)
    assert const.total == 10 and const.edges[0] < 3.0 < const.edges[-1]
    assert render.histogram(torch.tensor([math.nan])).total == 0


def test_value_summary_gives_stats_and_a_histogram_over_their_range():
    t = torch.randn(1000)
    stats, hist = render.run_job(render.iter_value_summary(t, bins=20))
    assert stats.numel == 1000 and hist.total == 1000
    assert hist.edges[0] == pytest.approx(stats.min) and hist.edges[-1] == pytest.approx(stats.max)


def test_scalar_value_is_exact():
    assert render.scalar_value(torch.tensor(2**53 + 1)) == 2**53 + 1
    assert render.scalar_value(torch.tensor([0.5])) == 0.5


# -- files -----------------------------------------------------------------------------------------------------
def test_save_png_round_trip_and_clear_error(tmp_path):
    rgb = render.filter_grid(conv_weight(4, 3, 3)).to_rgb()
    path = tmp_path / "grid.png"
    render.save_png(rgb, path)
    with Image.open(path) as img:
        assert img.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(img), rgb)
    with pytest.raises(InspectorError, match="cannot write the PNG"):
        render.save_png(rgb, tmp_path / "missing" / "grid.png")


def test_upscale_makes_small_pictures_visible():
    big = render.upscale(np.zeros((10, 512, 3), np.uint8), min_side=256, max_side=4096)
    assert big.shape == (80, 4096, 3)
    assert render.upscale(np.zeros((300, 300, 3), np.uint8)).shape == (300, 300, 3)


@pytest.mark.parametrize(
    ("numel", "bins"), [(0, 8), (16, 8), (144, 11), (4608, 34), (100_352, 93), (10**8, 128)]
)
def test_histogram_bins_follow_rice_rule_within_bounds(numel, bins):
    assert render.bins_for(numel) == bins


def test_save_image_writes_the_format_of_the_suffix(tmp_path):
    rgb = render.filter_grid(conv_weight(4, 3, 3), min_tile_px=16).to_rgb()
    assert render.save_image(rgb, tmp_path / "a.jpeg") == "JPEG"
    assert (tmp_path / "a.jpeg").read_bytes()[:3] == b"\xff\xd8\xff"
    with Image.open(tmp_path / "a.jpeg") as img:  # quality 95, no chroma subsampling: close to the PNG
        assert np.abs(np.asarray(img).astype(int) - rgb).mean() < 3
    assert render.save_image(rgb, tmp_path / "a.png") == "PNG"
    with pytest.raises(InspectorError, match=r"a \.svg file; name the output"):
        render.save_image(rgb, tmp_path / "a.svg")
    assert not (tmp_path / "a.svg").exists()


# -- figures (title, colour bar) and 1-D plots -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("lo", "hi", "ticks"),
    [(-0.21, 0.18, [-0.3, -0.2, -0.1, 0.0, 0.1, 0.2]), (0.0, 4.0, [0, 1, 2, 3, 4]), (0.0, 1000.0, [0, 250, 500, 750, 1000]),
     (2.0, 2.0, [1.0, 1.5, 2.0, 2.5, 3.0])],
)  # fmt: skip
def test_nice_ticks_are_round_and_cover_the_range(lo, hi, ticks):
    np.testing.assert_allclose(render.nice_ticks(lo, hi), ticks, atol=1e-12)


def test_figure_keeps_the_picture_exact_and_adds_a_colour_bar_of_the_guis_map():
    picture = render.filter_grid(conv_weight(6, 2, 3), min_tile_px=16).to_rgb()
    fig = render.figure(picture, "m.pth · conv.weight [6, 2, 3, 3]", "a line", render.ColourScale(-2.0, 2.0))
    np.testing.assert_array_equal(fig.picture(), picture)
    y, x, h, w = fig.colour_bar_box
    inside = fig.rgb[y + 1 : y + h - 1, x + w // 2]
    np.testing.assert_array_equal(inside[0], render.DIVERGING_LUT[-1])  # +2 at the top: the red end
    np.testing.assert_array_equal(inside[-1], render.DIVERGING_LUT[0])  # -2 at the bottom: the blue end
    assert tuple(inside[(len(inside) - 1) // 2]) == render.NEUTRAL_RGB  # 0 exactly in the middle
    assert h % 2 == 1 and h >= 161
    labels = fig.rgb[y : y + h, x + w + 2 : x + w + 60]
    assert (labels.min(axis=-1) < 128).sum() > 50  # tick labels beside the bar
    no_bar = render.figure(picture, "t", "s", None)
    assert no_bar.colour_bar_box is None and no_bar.rgb.shape[1] < fig.rgb.shape[1]


def test_composite_figures_have_no_colour_bar_and_per_filter_scales_say_so():
    """Before: a grey bar from -1 to 1 beside an RGB picture, which no colour of it can be read on."""
    grid = render.filter_grid(conv_weight(4, 3, 3), min_tile_px=16)
    fig = render.grid_figure(grid, "conv1.weight", "m.pth")
    assert fig.colour_bar_box is None
    single = render.grid_figure(render.filter_grid(conv_weight(4, 3, 3), channel=0, min_tile_px=16), "c", "m")
    assert single.colour_bar_box is not None  # one channel keeps its diverging bar
    glob = render.filter_grid(conv_weight(4, 3, 3), "global", min_tile_px=16)
    assert render.grid_figure(glob, "conv1.weight", "m.pth").colour_bar_box is None
    assert "one scale for all filters, ±" in render.tensor_figures.grid_description(glob)
    text = render.tensor_figures.grid_description(grid)
    assert text.startswith("4 filters in 2x2 tiles · RGB = input channels 0, 1, 2")
    assert "each filter scaled to ±1 by its own max |w|" in text


def test_big_pictures_get_bigger_type():
    assert render.figures.type_scale(500, 300) == 1 and render.figures.type_scale(4096, 3000) == 3


def test_bars_grow_from_zero_in_index_order_and_lines_keep_an_outlier():
    rgb = render.series_picture(render.series_1d(torch.tensor([-1.0, 0.25, 1.0])))
    red = np.argwhere((rgb == render.DIVERGING_LUT[-1]).all(axis=-1))
    blue = np.argwhere((rgb == render.DIVERGING_LUT[0]).all(axis=-1))
    assert blue[:, 1].max() < red[:, 1].min()  # index 0 left of index 2
    assert red[:, 0].max() <= blue[:, 0].min()  # +1 above the zero line, -1 below it
    height = red[:, 0].max() - red[:, 0].min()
    assert height == pytest.approx(blue[:, 0].max() - blue[:, 0].min(), abs=2)  # |+1| == |-1|
    spike = torch.zeros(100_000)
    spike[25_000] = -3.0
    line = render.series_picture(render.series_1d(spike))
    blue_line = np.argwhere((line == render.plots.LINE_RGB).all(axis=-1))
    lowest = blue_line[blue_line[:, 0].argmax(), 1]
    assert (lowest - blue_line[:, 1].min()) / np.ptp(blue_line[:, 1]) == pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize(("length", "ticks"), [(3, [0, 1, 2]), (13, [0, 5, 10]), (64, [0, 20, 40, 60])])
def test_index_ticks_are_whole_elements(length, ticks):
    assert render.plots._index_ticks(render.series_1d(torch.zeros(length))) == ticks


def test_colour_bar_is_as_tall_as_the_picture_within_bounds():
    bar_height = render.figures.bar_height
    assert bar_height(56, 12, 1) == 161 and bar_height(400, 12, 1) == 401 and bar_height(3000, 12, 1) == 769
    assert bar_height(256, 36, 3) == 257  # a wide 256 px heatmap with large type: no bar twice its height
