"""A filter mosaic re-flowed to the view's shape (core, no Qt): bands of filter rows, tiles kept square."""

import numpy as np
import pytest
import torch

from inspector.core import render
from inspector.core.filter_layout import choose_grid, describe, fit_mosaic


@pytest.fixture
def conv2_weight():
    """The demo net's conv2 shape: 32 filters x 16 input channels of 3x3."""
    return torch.randn(32, 16, 3, 3, generator=torch.Generator().manual_seed(0))


def test_choose_grid_follows_the_views_shape():
    strip = dict(unit_h=3, unit_w=63, gaps=(1, 3), margin=1, column_major=True)  # a filter's 16 channels
    assert choose_grid(32, aspect=0.5, **strip) == (32, 1)  # a tall view: one band
    assert choose_grid(32, aspect=1.25, **strip) == (16, 2)  # the Weights tab: two bands of 16 filters
    assert choose_grid(32, aspect=4.0, **strip) == (11, 3)
    tiles = dict(unit_h=5, unit_w=5, gaps=(1, 1), margin=1)
    assert choose_grid(64, aspect=1.0, **tiles) == (8, 8)
    assert choose_grid(64, aspect=4.0, **tiles) == (4, 16)
    rows, cols = choose_grid(10, aspect=1.0, **tiles)
    assert rows * cols >= 10 and (rows - 1) * cols < 10  # no empty row


def test_fit_mosaic_sets_filter_rows_in_bands_and_maps_pixels_back(conv2_weight):
    grid = render.filter_grid(conv2_weight)
    assert (grid.rows, grid.cols) == (32, 16)  # the tall strip: 32 rows of 16 tiles
    fitted = fit_mosaic(grid, aspect=1.25)
    assert (fitted.rows, fitted.cols) == (16, 2)
    h, w = fitted.rgb.shape[:2]
    gh, gw = grid.image.shape[:2]
    assert 1.5 < w / h < 2.5 and gw / gh < 0.6  # wider than tall now, as the view is
    assert fitted.rgb.size <= grid.to_rgb().size * 1.2  # re-flowed, not scaled: tiles keep their pixels
    for f, c in ((0, 0), (20, 5), (31, 15)):
        y, x = fitted.display_pixel(*grid.tile_origin(f, c))
        pixel = grid.locate(*fitted.source_pixel(y + 2, x + 1))
        assert (pixel.filter, pixel.channel, pixel.y, pixel.x) == (f, c, 2, 1)
        gy, gx = grid.tile_origin(f, c)
        np.testing.assert_array_equal(
            fitted.rgb[y : y + 3, x : x + 3], grid.to_rgb()[gy : gy + 3, gx : gx + 3]
        )
    assert fitted.display_pixel(*grid.tile_origin(16, 0))[1] > w // 2  # filter 16 opens the second band
    assert fitted.source_pixel(0, 0) is None  # the margin
    assert describe(grid, fitted) == (
        "32 filters x 16 input channels in 2 bands of 16 filters, row = filter, column = input channel"
    )


def test_one_channel_grids_reflow_row_by_row(conv2_weight):
    grid = render.filter_grid(conv2_weight, channel=3)
    assert grid.layout == "filters"
    fitted = fit_mosaic(grid, aspect=4.0)
    assert (fitted.rows, fitted.cols) == (3, 11)
    y, x = fitted.display_pixel(*grid.tile_origin(*divmod(12, grid.cols)))
    assert grid.locate(*fitted.source_pixel(y, x)).filter == 12
    assert describe(grid, fitted) == "32 filters, 3x11 tiles"
